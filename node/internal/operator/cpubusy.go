// Package operator holds the volunteer's rules for when the node computes, as values a
// node checks: the schedule of allowed hours (schedule.go), whether other processes keep
// the CPU busy (cpubusy*.go), whether the machine runs on battery (battery.go), and why
// the node is idle (why.go here: rules over a snapshot of the node, tested with tables).
package operator

import (
	"errors"
	"sync"
	"time"
)

// The CPU-busy detector: it samples the machine's CPU counters and this process's own CPU
// time, and says whether other processes kept the CPU busier than a threshold over a
// window. The node's tasks run in its runner processes, whose CPU time counts as the node's
// own (ProcCPU.Children), so they never count as "other".

// CPUSample is a reading of cumulative CPU time counters, all in the same unit: the whole
// machine's total and idle time (all cores) and the time this process used.
type CPUSample struct {
	Total, Idle, Self uint64
}

// CPUSource reads the counters. ProcCPU reads /proc on Linux; tests use a fake.
type CPUSource interface {
	Read() (CPUSample, error)
}

// ErrNoCPUStats means the platform gives no CPU counters: the node never pauses for CPU.
var ErrNoCPUStats = errors.New("cpu usage is not measured on this platform")

type timedSample struct {
	at time.Time
	s  CPUSample
}

// BusyDetector keeps the samples of the last window. Its methods are safe for concurrent use.
type BusyDetector struct {
	src CPUSource

	mu      sync.Mutex
	samples []timedSample
	paused  bool  // last answer, for hysteresis
	err     error // last read error
}

// busySpan is the least time the samples must cover before the detector says "busy".
const busySpan = 2 * time.Second

// hysteresis: once busy, the detector stays busy until others fall under this share of
// the threshold, so a load hovering at the threshold does not flap.
const busyResume = 0.8

func NewBusyDetector(src CPUSource) *BusyDetector { return &BusyDetector{src: src} }

// Sample reads the counters now and forgets samples older than keep.
func (d *BusyDetector) Sample(now time.Time, keep time.Duration) {
	s, err := d.src.Read()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.err = err
	if err != nil {
		return
	}
	d.samples = append(d.samples, timedSample{now, s})
	cut := 0
	for cut < len(d.samples)-1 && now.Sub(d.samples[cut].at) > keep {
		cut++
	}
	d.samples = append(d.samples[:0], d.samples[cut:]...)
}

// OthersPercent is the share of the machine's CPU that other processes used between the
// oldest sample within window and the newest, and whether the samples cover enough time.
func (d *BusyDetector) OthersPercent(now time.Time, window time.Duration) (float64, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.samples) < 2 {
		return 0, false
	}
	last := d.samples[len(d.samples)-1]
	first := last
	for _, s := range d.samples {
		if now.Sub(s.at) <= window {
			first = s
			break
		}
	}
	if last.at.Sub(first.at) < min(busySpan, window) || last.s.Total <= first.s.Total {
		return 0, false
	}
	total := float64(last.s.Total - first.s.Total)
	busy := total - float64(last.s.Idle-first.s.Idle)
	others := busy - float64(last.s.Self-first.s.Self)
	return max(0, min(100, 100*others/total)), true
}

// Busy reports whether other processes used more than threshold percent of the CPU over
// the window, and how much they used.
func (d *BusyDetector) Busy(now time.Time, window time.Duration, threshold float64) (bool, float64) {
	others, ok := d.OthersPercent(now, window)
	d.mu.Lock()
	defer d.mu.Unlock()
	if !ok {
		return false, 0
	}
	if d.paused {
		d.paused = others >= threshold*busyResume
	} else {
		d.paused = others > threshold
	}
	return d.paused, others
}
