package sim

import (
	"container/heap"
	"time"
)

// The event loop: a heap of events by virtual time, ties broken by the order they were
// scheduled in, so a run is the same for the same seed.

type event struct {
	at  time.Duration // virtual time since the start
	seq uint64
	fn  func()
}

type eventQueue []event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(event)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = event{}
	*q = old[:len(old)-1]
	return e
}

// after schedules fn d from now.
func (s *Sim) after(d time.Duration, fn func()) {
	s.seq++
	heap.Push(&s.q, event{at: s.now + max(d, 0), seq: s.seq, fn: fn})
	s.maxQueue = max(s.maxQueue, len(s.q))
}

// step runs the next event; false when there is none.
func (s *Sim) step() bool {
	if len(s.q) == 0 {
		return false
	}
	e := heap.Pop(&s.q).(event)
	s.now = e.at
	s.events++
	e.fn()
	return true
}

// wall is the virtual time as a time.Time, for the cores.
func (s *Sim) wall() time.Time { return s.t0.Add(s.now) }
