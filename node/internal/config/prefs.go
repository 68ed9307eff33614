package config

import (
	"errors"
	"fmt"
	"time"

	"allforone/node/internal/operator"
)

// Prefs are the volunteer's preferences: how much of the machine the node may use and when,
// like BOINC's computing preferences. They live under "prefs" in config.json; the task
// slots ("slots") and the memory per task ("max_task_memory_mb") are top-level Config fields
// with the same standing. `allforone config set` edits them; the running daemon applies the
// fields of Prefs at once (ReloadPrefs), while slots and max_task_memory_mb take effect at
// the next start.
type Prefs struct {
	// DiskQuotaMB caps the disk space of blobs and results in the datastore, in MiB. Over
	// it the node collects finished batches at once (not waiting for Retention) and takes
	// no new tasks until it is under again. 0 means no quota. Default 10240 (10 GiB).
	DiskQuotaMB int `json:"disk_quota_mb"`
	// Retention is how long the data of a finished batch (module, inputs, outputs this node
	// ran, extra result copies) stays before garbage collection. Results that this node
	// keeps as one of their K holders are never collected. Default 72h.
	Retention Duration `json:"retention"`
	// GCInterval is how often the node measures its disk use and collects. Default 1m.
	GCInterval Duration `json:"gc_interval"`
	// CPUBusyPercent pauses new tasks while other processes use more than this share of
	// the machine's CPU (all cores together, averaged over CPUBusyWindow). 0 never pauses.
	// Default 50. Linux only for now (read from /proc); elsewhere it never pauses.
	CPUBusyPercent int `json:"cpu_busy_percent"`
	// CPUBusyWindow is the time over which other processes' CPU use is averaged. Default 30s.
	CPUBusyWindow Duration `json:"cpu_busy_window"`
	// RunOnBattery lets the node compute while the machine runs on battery. Default false:
	// a laptop on battery takes no new tasks.
	RunOnBattery bool `json:"run_on_battery"`
	// Schedule limits computing to some hours, in local time: comma-separated entries of
	// "[DAYS ]HH:MM-HH:MM", where DAYS is a day or a range of days (mon, sat-sun, mon-fri).
	// A range that ends before it starts runs past midnight: "18:00-08:00" is evenings and
	// nights. Empty means any time. Default empty.
	Schedule string `json:"schedule"`
	// MetricsPublic serves /metrics without the API token, for a Prometheus server that
	// scrapes the node. The API stays on loopback unless --api says otherwise. Default false.
	MetricsPublic bool `json:"metrics_public"`
}

// DefaultPrefs are the preferences of a new node.
func DefaultPrefs() Prefs {
	return Prefs{
		DiskQuotaMB:    10240,
		Retention:      Duration(72 * time.Hour),
		GCInterval:     Duration(time.Minute),
		CPUBusyPercent: 50,
		CPUBusyWindow:  Duration(30 * time.Second),
	}
}

// Validate checks the preferences and says what to fix.
func (p *Prefs) Validate() error {
	var errs []error
	if p.DiskQuotaMB < 0 {
		errs = append(errs, fmt.Errorf("disk_quota_mb %d: use 0 (no quota) or a size in MiB", p.DiskQuotaMB))
	}
	if p.Retention < 0 {
		errs = append(errs, fmt.Errorf("retention %s: use a duration like 72h, or 0 to collect finished batches at once", p.Retention))
	}
	if p.GCInterval < Duration(100*time.Millisecond) {
		errs = append(errs, fmt.Errorf("gc_interval %s: use at least 100ms, e.g. 1m", p.GCInterval))
	}
	if p.CPUBusyPercent < 0 || p.CPUBusyPercent > 100 {
		errs = append(errs, fmt.Errorf("cpu_busy_percent %d: use 0 (never pause) to 100", p.CPUBusyPercent))
	}
	if p.CPUBusyWindow < Duration(time.Second) {
		errs = append(errs, fmt.Errorf("cpu_busy_window %s: use at least 1s, e.g. 30s", p.CPUBusyWindow))
	}
	if _, err := operator.ParseSchedule(p.Schedule); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
