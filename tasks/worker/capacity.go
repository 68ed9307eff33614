package worker

import "time"

// Asking for work by capacity, as BOINC's clients do: a worker keeps Buffer seconds of work
// per slot (running and queued), and asks for what is missing, in tasks of the estimated
// time. A fast machine (short tasks) asks for more tasks per request, a slow one for fewer;
// an idle worker with free slots always asks for at least one task per free slot.

// Capacity is what a worker can take.
type Capacity struct {
	// Slots is how many tasks run at once.
	Slots int
	// Buffer is how much work, in time, to keep per slot, queued tasks included. Keep it
	// well under the lease duration: a queued task's lease runs while it waits (Horizon).
	Buffer time.Duration
	// MaxPerRequest bounds the tasks of one request (the steward's grant bound).
	MaxPerRequest int
}

// DefaultBuffer is the work kept per slot when a node does not say otherwise: enough that
// a slot never waits for a round trip, little enough that a worker that leaves strands
// little.
const DefaultBuffer = 30 * time.Second

// Horizon bounds a buffer by a lease's duration: a queued task must start well before its
// lease ends, so at most a quarter of it is spent waiting.
func Horizon(buffer, lease time.Duration) time.Duration {
	return max(min(buffer, lease/4), 0)
}

// Want is how many tasks to ask for, with busy slots running and queued tasks waiting,
// each task estimated to take est.
func (c Capacity) Want(busy, queued int, est time.Duration) int {
	free := c.Slots - busy - queued
	if c.Slots <= 0 {
		return 0
	}
	est = max(est, time.Millisecond)
	have := time.Duration(busy+queued) * est
	missing := time.Duration(c.Slots)*c.Buffer - have
	n := int((missing + est - 1) / est)
	n = max(n, free, 0)
	if c.MaxPerRequest > 0 {
		n = min(n, c.MaxPerRequest)
	}
	return n
}

// Estimate is a running estimate of one batch's task time on this node: an exponentially
// weighted mean of the times observed, starting from a guess.
type Estimate struct {
	mean time.Duration
	n    int
}

// NewEstimate starts an estimate at guess (for a new batch, a fraction of its timeout).
func NewEstimate(guess time.Duration) Estimate { return Estimate{mean: max(guess, time.Millisecond)} }

// Observe counts one task's time: the first observation replaces the guess, later ones
// move the mean an eighth of the way (TCP's RTT estimator's weight).
func (e *Estimate) Observe(d time.Duration) {
	if e.n == 0 {
		e.mean = max(d, time.Millisecond)
	} else {
		e.mean += (d - e.mean) / 8
	}
	e.n++
}

// Task is the estimated time of one task.
func (e Estimate) Task() time.Duration { return max(e.mean, time.Millisecond) }

// Observed is how many task times the estimate has seen.
func (e Estimate) Observed() int { return e.n }
