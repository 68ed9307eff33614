package testnet

import (
	"sync"
	"time"
)

// restartAllowance is how long a restarting node counts as up before its API answers. A
// daemon restarts in about a second on a quiet machine (data dir opened, host, DHT and API
// up); one that takes longer is down, however it got there.
const restartAllowance = 5 * time.Second

// health follows the nodes' restarts for the report.
type health struct {
	mu       sync.Mutex
	began    map[int]time.Time // restarts under way, by node
	took     []float64         // seconds, of the restarts that finished
	failed   int
	cpuStart map[int]time.Duration
}

func (h *health) restarting(i int, at time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.began == nil {
		h.began = map[int]time.Time{}
	}
	h.began[i] = at
}

func (h *health) restarted(i int, ok bool, took time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.began, i)
	if ok {
		h.took = append(h.took, took.Seconds())
	} else {
		h.failed++
	}
}

// fresh counts the restarts begun less than restartAllowance ago.
func (h *health) fresh(now time.Time) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, at := range h.began {
		if now.Sub(at) < restartAllowance {
			n++
		}
	}
	return n
}

// expectedUp is how many nodes should be up now: all but those the scenario killed and has
// not begun to restart, and those whose restart began within restartAllowance. The nodes up
// are counted against it, so a churn that keeps a fifth down by design reads 100% while
// every restart comes back in time.
func (r *runner) expectedUp() int {
	r.mu.Lock()
	held := 0
	for i := range r.killed {
		if !r.restarting[i] {
			held++
		}
	}
	r.mu.Unlock()
	return r.sc.Nodes - held - r.health.fresh(time.Now())
}

// noteCPU records the daemons' CPU time at the start of the work.
func (r *runner) noteCPU() {
	r.health.mu.Lock()
	defer r.health.mu.Unlock()
	r.health.cpuStart = map[int]time.Duration{}
	for i := range r.sc.Nodes {
		if d, ok := r.sw.cpu(i); ok {
			r.health.cpuStart[i] = d
		}
	}
}

// fillHealth puts nodes up, restarts and CPU into the report.
func (r *runner) fillHealth(wall time.Duration) {
	rep := r.rep
	rep.UpShareMin = 1
	for _, s := range r.samples {
		if s.Expected > 0 {
			rep.UpShareMin = min(rep.UpShareMin, float64(min(s.Live, s.Expected))/float64(s.Expected))
		}
	}
	r.health.mu.Lock()
	defer r.health.mu.Unlock()
	rep.RestartMedian, rep.RestartsFailed = median(r.health.took), r.health.failed
	for _, t := range r.health.took {
		rep.RestartMax = max(rep.RestartMax, t)
	}
	if r.health.cpuStart == nil || wall <= 0 {
		return
	}
	var sum time.Duration
	n := 0
	for i := range r.sc.Nodes {
		if d, ok := r.sw.cpu(i); ok {
			sum += d - r.health.cpuStart[i]
			n++
		}
	}
	if n > 0 {
		rep.CPUSecondsPerNode = sum.Seconds() / float64(n)
		rep.CPUPercentPerNode = 100 * rep.CPUSecondsPerNode / wall.Seconds()
	}
}
