package testnet

import (
	"fmt"
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

// census counts, at one moment, the nodes that are up and the nodes that should be: all
// but those the scenario killed and has not begun to restart, and those whose restart began
// within restartAllowance. The nodes up are counted against it, so a churn that keeps a fifth
// down by design reads 100% while every restart comes back in time. late names the nodes
// that should be up and are not, for the report.
func (r *runner) census(now time.Time) (live, expected int, late []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.health.mu.Lock()
	defer r.health.mu.Unlock()
	for i := range r.sc.Nodes {
		restarting := r.restarting[i]
		switch {
		case r.killed[i] && !restarting:
			continue // held down
		case restarting && now.Sub(r.health.began[i]) < restartAllowance:
			continue // a restart still in its allowance
		}
		expected++
		switch {
		case restarting:
			late = append(late, fmt.Sprintf("node-%d restarting for %.1fs", i, now.Sub(r.health.began[i]).Seconds()))
		case !r.sw.running(i):
			late = append(late, fmt.Sprintf("node-%d exited", i))
		default:
			live++
		}
	}
	return live, expected, late
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
		if s.Expected == 0 {
			continue
		}
		if share := float64(min(s.Live, s.Expected)) / float64(s.Expected); share < rep.UpShareMin {
			rep.UpShareMin = share
			r.worstUp = s
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
