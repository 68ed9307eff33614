package power

func onBattery() (bool, error) { return sysfsOnBattery(SysfsDir) }
