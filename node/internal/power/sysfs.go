package power

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// SysfsDir is where Linux lists the power supplies.
const SysfsDir = "/sys/class/power_supply"

// sysfsOnBattery reads the power supplies under dir (one folder per supply, each with a
// type file and, depending on the type, online, status and scope files). The machine is on
// battery when no external supply (Mains, USB, ...) is online and a system battery is
// discharging. Batteries of devices (a wireless mouse: scope "Device") do not count.
func sysfsOnBattery(dir string) (bool, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil // no power supply class: a server, VM or container, never on battery
	}
	if err != nil {
		return false, fmt.Errorf("list power supplies: %w", err)
	}
	externalOnline, discharging := false, false
	for _, e := range entries {
		supply := filepath.Join(dir, e.Name())
		typ := readAttr(supply, "type")
		if typ == "" || readAttr(supply, "scope") == "Device" {
			continue
		}
		if typ == "Battery" {
			if readAttr(supply, "status") == "Discharging" {
				discharging = true
			}
			continue
		}
		// Mains, USB, USB_C, USB_PD, Wireless, ...: an external source.
		if readAttr(supply, "online") == "1" {
			externalOnline = true
		}
	}
	return discharging && !externalOnline, nil
}

// readAttr reads one sysfs attribute, trimmed; "" when it is missing or unreadable.
func readAttr(supply, name string) string {
	b, err := os.ReadFile(filepath.Join(supply, name))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
