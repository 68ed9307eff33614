// Package power tells whether the machine runs on battery, so that a volunteer's node can
// pause then. It needs no cgo: Linux reads /sys/class/power_supply, macOS asks `pmset -g
// batt`, Windows calls GetSystemPowerStatus. Elsewhere the answer is ErrUnknown.
package power

import "errors"

// ErrUnknown means this machine cannot tell whether it runs on battery (an unsupported
// platform, or a power status the system itself does not know).
var ErrUnknown = errors.New("power source unknown")

// OnBattery reports whether the machine runs on battery power now: true on a laptop
// unplugged from the mains, or a machine drawing from its UPS. A machine without a battery
// is never on battery. On error the bool is false.
func OnBattery() (bool, error) { return onBattery() }
