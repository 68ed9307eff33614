package node

import "errors"

// onBattery reports whether the machine runs on battery.
//
// TODO(power): call node/internal/power.OnBattery once that package lands (another
// engineer writes it). Until then the node cannot tell, and never pauses on battery.
func onBattery() (bool, error) { return false, errBatteryUnknown }

var errBatteryUnknown = errors.New("battery state is not known on this build")
