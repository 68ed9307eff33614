package node

import (
	"strings"
	"testing"
	"time"

	"allforone/node/internal/operator"
)

func TestPausesFromPrefs(t *testing.T) {
	cfg := TestConfig(t.TempDir())
	n := &Node{cfg: cfg}
	s := &n.op.prefs
	now := time.Date(2024, 6, 3, 12, 0, 0, 0, time.Local) // Monday noon
	cpu := &fakeCPU{others: 180}
	onBat := false
	s.now = func() time.Time { return now }
	s.cpu = operator.NewBusyDetector(cpu)
	s.battery = func() (bool, error) { return onBat, nil }
	if r := n.pauseReason(); r != "" {
		t.Fatalf("paused with default test prefs: %s", r)
	}
	p := n.Prefs()
	p.Schedule = "18:00-08:00"
	p.CPUBusyPercent = 50
	if err := n.SetPrefs(p); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		now = now.Add(time.Second)
		s.cpu.Sample(now, time.Minute)
	}
	onBat = true
	var prefs []string
	for _, ps := range n.pauses() {
		prefs = append(prefs, ps.Pref)
	}
	if len(prefs) != 3 || prefs[0] != "schedule" || prefs[1] != "cpu_busy_percent" || prefs[2] != "run_on_battery" {
		t.Fatalf("pauses %v, want schedule, cpu_busy_percent, run_on_battery", prefs)
	}
	p.Schedule, p.CPUBusyPercent, p.RunOnBattery = "", 0, true
	if err := n.SetPrefs(p); err != nil {
		t.Fatal(err)
	}
	if r := n.pauseReason(); r != "" {
		t.Fatalf("still paused: %s", r)
	}
	p.Schedule = "whenever"
	if err := n.SetPrefs(p); err == nil || n.Prefs().Schedule != "" {
		t.Fatalf("SetPrefs took a bad schedule: %v", err)
	}
}

func TestPrefsValidate(t *testing.T) {
	if p := DefaultPrefs(); p.Validate() != nil {
		t.Fatalf("DefaultPrefs: %v", p.Validate())
	}
	for name, mod := range map[string]func(p *Prefs){
		"disk_quota_mb":    func(p *Prefs) { p.DiskQuotaMB = -1 },
		"retention":        func(p *Prefs) { p.Retention = -1 },
		"gc_interval":      func(p *Prefs) { p.GCInterval = 0 },
		"cpu_busy_percent": func(p *Prefs) { p.CPUBusyPercent = 101 },
		"cpu_busy_window":  func(p *Prefs) { p.CPUBusyWindow = 0 },
		"schedule":         func(p *Prefs) { p.Schedule = "noon" },
	} {
		p := DefaultPrefs()
		mod(&p)
		if err := p.Validate(); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: validate() = %v", name, err)
		}
	}
}

func TestCachedBattery(t *testing.T) {
	calls := 0
	now := time.Unix(0, 0)
	f := operator.CachedBattery(func() (bool, error) { calls++; return true, nil }, 10*time.Second, func() time.Time { return now })
	f()
	f()
	now = now.Add(11 * time.Second)
	if on, _ := f(); !on || calls != 2 {
		t.Fatalf("calls %d, on %v", calls, on)
	}
}

// fakeCPU replays CPU counters: each read advances by 200 ticks (2 cores), others of them
// busy with other processes.
type fakeCPU struct {
	s      operator.CPUSample
	others uint64
}

func (f *fakeCPU) Read() (operator.CPUSample, error) {
	f.s.Total += 200
	f.s.Idle += 200 - f.others
	return f.s, nil
}
