package power

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// supply is one fake /sys/class/power_supply entry: attribute name -> content.
type supply map[string]string

func fakeSysfs(t *testing.T, supplies map[string]supply) string {
	t.Helper()
	dir := t.TempDir()
	for name, attrs := range supplies {
		if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		for attr, v := range attrs {
			if err := os.WriteFile(filepath.Join(dir, name, attr), []byte(v+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

func TestSysfs(t *testing.T) {
	mains := func(online string) supply { return supply{"type": "Mains", "online": online} }
	battery := func(status string) supply { return supply{"type": "Battery", "status": status, "capacity": "80"} }
	mouse := supply{"type": "Battery", "scope": "Device", "status": "Discharging"}
	cases := []struct {
		name     string
		supplies map[string]supply
		want     bool
	}{
		{"laptop on mains", map[string]supply{"AC": mains("1"), "BAT0": battery("Charging")}, false},
		{"laptop full on mains", map[string]supply{"ADP1": mains("1"), "BAT0": battery("Not charging")}, false},
		{"laptop unplugged", map[string]supply{"AC": mains("0"), "BAT0": battery("Discharging")}, true},
		{"two batteries, one discharging", map[string]supply{"AC": mains("0"), "BAT0": battery("Discharging"), "BAT1": battery("Unknown")}, true},
		{"battery without a mains entry", map[string]supply{"BAT0": battery("Discharging")}, true},
		{"weak USB-C charger", map[string]supply{"ucsi-source-psy-USBC000:001": {"type": "USB", "online": "1"}, "BAT0": battery("Discharging")}, false},
		{"desktop with a wireless mouse", map[string]supply{"hid-00:11:22:33:44:55-battery": mouse}, false},
		{"desktop", map[string]supply{}, false},
		{"entry without a type", map[string]supply{"odd": {"status": "Discharging"}}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := sysfsOnBattery(fakeSysfs(t, c.supplies))
			if err != nil || got != c.want {
				t.Fatalf("sysfsOnBattery = %v, %v; want %v", got, err, c.want)
			}
		})
	}
	t.Run("no power_supply class", func(t *testing.T) {
		got, err := sysfsOnBattery(filepath.Join(t.TempDir(), "missing"))
		if err != nil || got {
			t.Fatalf("sysfsOnBattery(missing dir) = %v, %v; want false, nil", got, err)
		}
	})
}

func TestPmset(t *testing.T) {
	for file, want := range map[string]bool{
		"pmset-laptop-ac.txt":           false,
		"pmset-laptop-not-charging.txt": false,
		"pmset-desktop.txt":             false,
		"pmset-laptop-battery.txt":      true,
		"pmset-ups.txt":                 true,
	} {
		b, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		got, err := parsePmset(string(b))
		if err != nil || got != want {
			t.Errorf("%s: parsePmset = %v, %v; want %v", file, got, err, want)
		}
	}
	for _, bad := range []string{"", "pmset: command not found", "Now drawing from 'Solar Power'\n", "Now drawing from 'AC"} {
		if _, err := parsePmset(bad); !errors.Is(err, ErrUnknown) {
			t.Errorf("parsePmset(%q) = %v, want ErrUnknown", bad, err)
		}
	}
}

func TestSystemPowerStatus(t *testing.T) {
	cases := []struct {
		ac, flag byte
		want     bool
		err      bool
	}{
		{1, 8, false, false},   // charging
		{0, 1, true, false},    // high, on battery
		{0, 128, false, false}, // no system battery
		{255, 128, false, false},
		{255, 1, false, true},
	}
	for _, c := range cases {
		got, err := fromSystemPowerStatus(c.ac, c.flag)
		if got != c.want || (err != nil) != c.err || (err != nil && !errors.Is(err, ErrUnknown)) {
			t.Errorf("fromSystemPowerStatus(%d, %d) = %v, %v; want %v, error %v", c.ac, c.flag, got, err, c.want, c.err)
		}
	}
}

// OnBattery answers on this machine: Linux always can (a machine without supplies is not on
// battery).
func TestOnBatteryHere(t *testing.T) {
	got, err := OnBattery()
	if runtime.GOOS == "linux" && err != nil {
		t.Fatalf("OnBattery on Linux: %v", err)
	}
	t.Logf("OnBattery() = %v, %v", got, err)
}
