package operator

import (
	"sync"
	"time"

	"allforone/node/internal/power"
)

// BatteryTTL is how long an answer about the power source is reused: asking may run a
// program (pmset on macOS), and the work loop asks often.
const BatteryTTL = 10 * time.Second

// CachedBattery wraps a power-source check so that it runs at most once per ttl.
func CachedBattery(check func() (bool, error), ttl time.Duration, now func() time.Time) func() (bool, error) {
	var mu sync.Mutex
	var at time.Time
	var on bool
	var err error
	return func() (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		if t := now(); at.IsZero() || t.Sub(at) >= ttl {
			on, err = check()
			at = t
		}
		return on, err
	}
}

// OnBattery reports whether the machine runs on battery (node/internal/power).
var OnBattery = power.OnBattery
