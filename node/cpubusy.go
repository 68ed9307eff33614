package node

import (
	"errors"
	"sync"
	"time"
)

// The CPU-busy detector: it samples the machine's CPU counters and this process's own CPU
// time, and says whether other processes kept the CPU busier than a threshold over a
// window. The node's tasks run in its runner processes, whose CPU time counts as the node's
// own (procCPU.children), so they never count as "other".

// cpuSample is a reading of cumulative CPU time counters, all in the same unit: the whole
// machine's total and idle time (all cores) and the time this process used.
type cpuSample struct {
	total, idle, self uint64
}

// cpuSource reads the counters. procCPU reads /proc on Linux; tests use a fake.
type cpuSource interface {
	read() (cpuSample, error)
}

// errNoCPUStats means the platform gives no CPU counters: the node never pauses for CPU.
var errNoCPUStats = errors.New("cpu usage is not measured on this platform")

type timedSample struct {
	at time.Time
	s  cpuSample
}

// busyDetector keeps the samples of the last window. Its methods are safe for concurrent use.
type busyDetector struct {
	src cpuSource

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

func newBusyDetector(src cpuSource) *busyDetector { return &busyDetector{src: src} }

// sample reads the counters now and forgets samples older than keep.
func (d *busyDetector) sample(now time.Time, keep time.Duration) {
	s, err := d.src.read()
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

// othersPercent is the share of the machine's CPU that other processes used between the
// oldest sample within window and the newest, and whether the samples cover enough time.
func (d *busyDetector) othersPercent(now time.Time, window time.Duration) (float64, bool) {
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
	if last.at.Sub(first.at) < min(busySpan, window) || last.s.total <= first.s.total {
		return 0, false
	}
	total := float64(last.s.total - first.s.total)
	busy := total - float64(last.s.idle-first.s.idle)
	others := busy - float64(last.s.self-first.s.self)
	return max(0, min(100, 100*others/total)), true
}

// busy reports whether other processes used more than threshold percent of the CPU over
// the window, and how much they used.
func (d *busyDetector) busy(now time.Time, window time.Duration, threshold float64) (bool, float64) {
	others, ok := d.othersPercent(now, window)
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
