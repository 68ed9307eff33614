package operator

import (
	"testing"
	"time"
)

func TestCachedBattery(t *testing.T) {
	calls := 0
	now := time.Unix(0, 0)
	f := CachedBattery(func() (bool, error) { calls++; return true, nil }, 10*time.Second, func() time.Time { return now })
	f()
	f()
	now = now.Add(11 * time.Second)
	if on, _ := f(); !on || calls != 2 {
		t.Fatalf("calls %d, on %v", calls, on)
	}
}
