package operator

import (
	"slices"
	"sync"
	"time"
)

// The activity record: the tasks running here, the tasks finished per second over the last
// minutes, and the latest results. The dashboard and `allforone why` read it.

const (
	// throughputSpan is how far back the per-second counts go.
	throughputSpan = 15 * time.Minute
	// recentResults is how many finished tasks the record keeps.
	recentResults = 50
)

// RunningTask is a task running on this node now.
type RunningTask struct {
	BatchID string    `json:"batch_id"`
	Name    string    `json:"name"`
	Task    int       `json:"task"`
	Started time.Time `json:"started"`
}

// RecentResult is a task this node ran.
type RecentResult struct {
	BatchID    string    `json:"batch_id"`
	Name       string    `json:"name"`
	Task       int       `json:"task"`
	OK         bool      `json:"ok"`
	Error      string    `json:"error,omitempty"` // the record's failure kind: timeout, memory, trap, exit:N, ...
	Output     string    `json:"output,omitempty"`
	OutputSize uint64    `json:"output_size"`
	Seconds    float64   `json:"seconds"`
	Finished   time.Time `json:"finished"`
}

// ThroughputPoint counts the tasks this node finished in one bucket of time.
type ThroughputPoint struct {
	Start  time.Time `json:"start"`
	OK     int       `json:"ok"`
	Failed int       `json:"failed"`
}

// Activity is what the node is doing and has just done.
type Activity struct {
	Running    []RunningTask     `json:"running"`
	Slots      int               `json:"slots"`
	Recent     []RecentResult    `json:"recent"`
	Throughput []ThroughputPoint `json:"throughput"` // oldest first
	BucketSecs int               `json:"bucket_seconds"`
	Finished   int64             `json:"finished_total"` // since start
}

// Record is the activity record. The zero value is ready; its methods are safe for
// concurrent use.
type Record struct {
	mu       sync.Mutex
	running  map[runKey]RunningTask
	recent   []RecentResult    // newest last
	perSec   map[int64]*[2]int // unix second -> ok, failed
	finished int64
}

type runKey struct {
	batch string
	task  int
}

// Started records that task of batch (named name) started at now.
func (a *Record) Started(batch, name string, task int, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.running == nil {
		a.running = make(map[runKey]RunningTask)
	}
	a.running[runKey{batch, task}] = RunningTask{BatchID: batch, Name: name, Task: task, Started: now}
}

// Abandoned forgets a task that started but produced no result (the node is closing).
func (a *Record) Abandoned(batch string, task int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.running, runKey{batch, task})
}

// Running is how many tasks run now.
func (a *Record) Running() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.running)
}

// Finished records a task's result: it runs no more.
func (a *Record) Finished(r RecentResult) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.running, runKey{r.BatchID, r.Task})
	a.recent = append(a.recent, r)
	if len(a.recent) > recentResults {
		a.recent = slices.Delete(a.recent, 0, len(a.recent)-recentResults)
	}
	if a.perSec == nil {
		a.perSec = make(map[int64]*[2]int)
	}
	sec := r.Finished.Unix()
	c := a.perSec[sec]
	if c == nil {
		c = new([2]int)
		a.perSec[sec] = c
	}
	if r.OK {
		c[0]++
	} else {
		c[1]++
	}
	a.finished++
	cut := r.Finished.Add(-throughputSpan).Unix()
	for s := range a.perSec {
		if s < cut {
			delete(a.perSec, s)
		}
	}
}

// Snapshot returns the record at now, with throughput in buckets of bucket.
func (a *Record) Snapshot(now time.Time, span, bucket time.Duration) Activity {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := Activity{Running: []RunningTask{}, Recent: []RecentResult{}, BucketSecs: int(bucket / time.Second), Finished: a.finished}
	for _, r := range a.running {
		out.Running = append(out.Running, r)
	}
	slices.SortFunc(out.Running, func(x, y RunningTask) int { return x.Started.Compare(y.Started) })
	for i := len(a.recent) - 1; i >= 0; i-- {
		out.Recent = append(out.Recent, a.recent[i]) // newest first
	}
	bs := int64(bucket / time.Second)
	end := now.Unix() / bs * bs // start of the current bucket
	nb := int64(span / bucket)
	for i := nb - 1; i >= 0; i-- {
		start := end - i*bs
		p := ThroughputPoint{Start: time.Unix(start, 0).UTC()}
		for s := start; s < start+bs; s++ {
			if c := a.perSec[s]; c != nil {
				p.OK += c[0]
				p.Failed += c[1]
			}
		}
		out.Throughput = append(out.Throughput, p)
	}
	return out
}
