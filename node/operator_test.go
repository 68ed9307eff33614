package node

import (
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
