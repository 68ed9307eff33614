package node

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"allforone/node/internal/operator"
	"allforone/node/internal/sandbox"
)

// Pause is one preference that keeps the node from starting tasks now.
type Pause = operator.Pause

// prefsState is the node's live preferences and what they watch. The zero value is ready:
// the preferences come from the config on first use.
type prefsState struct {
	once     sync.Once
	mu       sync.RWMutex
	prefs    Prefs
	schedule operator.Schedule
	override func(*Prefs) // flags that win over the config file on reload

	cpu     *operator.BusyDetector
	battery func() (bool, error)
	now     func() time.Time
}

// WithPrefsOverride gives the preferences that command-line flags set, so that ReloadPrefs
// keeps them over what the config file says.
func WithPrefsOverride(f func(*Prefs)) Option { return func(n *Node) { n.op.prefs.override = f } }

func (n *Node) prefsInit() *prefsState {
	s := &n.op.prefs
	s.once.Do(func() {
		s.prefs = n.cfg.Prefs
		s.schedule, _ = operator.ParseSchedule(s.prefs.Schedule) // validated by Config.Validate
		if s.cpu == nil {
			s.cpu = operator.NewBusyDetector(operator.ProcCPU{Children: n.runnerCPU})
		}
		if s.now == nil {
			s.now = time.Now
		}
		if s.battery == nil {
			s.battery = operator.CachedBattery(operator.OnBattery, operator.BatteryTTL, s.now)
		}
	})
	return s
}

// Prefs returns the preferences in force.
func (n *Node) Prefs() Prefs {
	s := n.prefsInit()
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.prefs
}

// SetPrefs validates p and puts it in force at once. It does not write the config file.
func (n *Node) SetPrefs(p Prefs) error {
	if err := p.Validate(); err != nil {
		return err
	}
	sched, _ := operator.ParseSchedule(p.Schedule)
	s := n.prefsInit()
	s.mu.Lock()
	s.prefs, s.schedule = p, sched
	s.mu.Unlock()
	n.wakeWorker()
	n.op.pause.Wake()
	n.kickGC()
	return nil
}

// ReloadPrefs reads the preferences from config.json again (keeping those that flags set)
// and puts them in force. It returns them. Slots and max_task_memory_mb are not reloaded:
// they take effect when the daemon restarts.
func (n *Node) ReloadPrefs() (Prefs, error) {
	c, err := LoadConfig(n.cfg.DataDir)
	if err != nil {
		return Prefs{}, err
	}
	if f := n.prefsInit().override; f != nil {
		f(&c.Prefs)
	}
	if err := n.SetPrefs(c.Prefs); err != nil {
		return Prefs{}, fmt.Errorf("config.json: %w", err)
	}
	n.logs.operator.Info("preferences reloaded")
	return c.Prefs, nil
}

// pauses lists the preferences that keep the node from starting tasks now.
func (n *Node) pauses() []Pause {
	s := n.prefsInit()
	s.mu.RLock()
	p, sched := s.prefs, s.schedule
	s.mu.RUnlock()
	var out []Pause
	now := s.now()
	if !sched.Allows(now) {
		next := sched.Next(now)
		out = append(out, Pause{Pref: "schedule",
			Reason: fmt.Sprintf("outside the hours set in the schedule %q (next start %s)", p.Schedule, next.Format("Mon 15:04")),
			Fix:    "wait, or widen the hours: allforone config set schedule \"\" (any time)"})
	}
	if p.CPUBusyPercent > 0 {
		if busy, others := s.cpu.Busy(now, time.Duration(p.CPUBusyWindow), float64(p.CPUBusyPercent)); busy {
			out = append(out, Pause{Pref: "cpu_busy_percent",
				Reason: fmt.Sprintf("other programs use %.0f%% of the CPU, over the %d%% set", others, p.CPUBusyPercent),
				Fix:    "it resumes when they calm down; or allow more: allforone config set cpu_busy_percent 90 (0 never pauses)"})
		}
	}
	if !p.RunOnBattery {
		if on, err := s.battery(); err == nil && on {
			out = append(out, Pause{Pref: "run_on_battery", Reason: "the machine runs on battery",
				Fix: "plug it in, or: allforone config set run_on_battery true"})
		}
	}
	if used, over := n.overQuota(); over {
		out = append(out, Pause{Pref: "disk_quota_mb",
			Reason: fmt.Sprintf("blobs and results use %s, over the disk quota of %d MiB, and nothing more can be collected", formatMiB(used), p.DiskQuotaMB),
			Fix:    "raise it: allforone config set disk_quota_mb N; results this node keeps as one of K holders are never collected"})
	}
	return out
}

// pauseReason says why the node must not start new tasks now ("" when it may).
func (n *Node) pauseReason() string {
	ps := n.pauses()
	if len(ps) == 0 {
		return ""
	}
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.Reason)
	}
	return b.String()
}

// fitsMemory reports whether a task of m fits in the memory a task may use here.
func (n *Node) fitsMemory(memoryPages uint32) bool {
	return uint64(memoryPages)*65536 <= uint64(n.cfg.MaxTaskMemoryMB)<<20
}

func formatMiB(bytes int64) string {
	switch {
	case bytes >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(bytes)/(1<<30))
	case bytes >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(bytes)/(1<<20))
	default:
		return fmt.Sprintf("%.0f KiB", float64(bytes)/(1<<10))
	}
}

// operatorState is what the operator's features keep on a node: the live preferences
// (prefs.go), the activity record (operator.Record) and the garbage collector (gc.go). The
// zero value is ready.
type operatorState struct {
	prefs prefsState
	act   operator.Record
	gc    gcState
	pause sandbox.Pause // suspended tasks (node/internal/sandbox)

	finished sync.Map // batch ID -> finishedStatus, for the dashboard
}
