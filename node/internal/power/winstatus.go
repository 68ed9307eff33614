package power

import "fmt"

// fromSystemPowerStatus interprets the ACLineStatus and BatteryFlag fields of Windows's
// SYSTEM_POWER_STATUS: AC line 0 is offline, 1 online, 255 unknown; battery flag 128 means
// no system battery.
func fromSystemPowerStatus(acLine, batteryFlag byte) (bool, error) {
	switch {
	case batteryFlag == 128:
		return false, nil
	case acLine == 0:
		return true, nil
	case acLine == 1:
		return false, nil
	}
	return false, fmt.Errorf("%w: Windows reports AC line status %d", ErrUnknown, acLine)
}
