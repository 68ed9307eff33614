//go:build !linux && !darwin && !windows

package power

func onBattery() (bool, error) { return false, ErrUnknown }
