package worker

import "time"

// Long polling, the steward's side: a lease request that would get nothing waits at the
// steward for up to its wait (LeaseRequest's wait, at most MaxWait) instead of the worker
// asking again every 250 ms. The steward's driver tries the parked requests again when
// work may have opened (a lease expired or came back, a worker left, a task reopened: in
// practice, each tick that finds open tasks: Take, Repark), and answers those whose wait
// ended with nothing (Expire). At most Max
// requests wait at one steward: beyond that a request is answered at once, so a home
// machine never holds more streams open than it can.

// Long-poll bounds.
const (
	// MaxWait is the longest a steward holds a lease request (under a stream's idle
	// timeout).
	MaxWait = 20 * time.Second
	// MaxParked is how many lease requests one batch's steward holds at once.
	MaxParked = 64
)

// LongPoll holds parked requests of type T, oldest first.
type LongPoll[T any] struct {
	// Max bounds the parked requests (0: MaxParked).
	Max int
	q   []parked[T]
}

type parked[T any] struct {
	req   T
	since time.Time
	until time.Time
}

// Park holds req until now+wait (wait capped at MaxWait); false when it may not wait
// (no wait asked, or too many wait already): answer it now.
func (l *LongPoll[T]) Park(req T, now time.Time, wait time.Duration) bool {
	limit := l.Max
	if limit <= 0 {
		limit = MaxParked
	}
	if wait <= 0 || len(l.q) >= limit {
		return false
	}
	l.q = append(l.q, parked[T]{req: req, since: now, until: now.Add(min(wait, MaxWait))})
	return true
}

// Len is how many requests wait.
func (l *LongPoll[T]) Len() int { return len(l.q) }

// Take removes and returns every parked request with when it was parked, oldest first, to
// try again; those that get nothing again are parked again with what is left of their
// wait (Repark).
func (l *LongPoll[T]) Take() []Parked[T] {
	out := make([]Parked[T], len(l.q))
	for i, p := range l.q {
		out[i] = Parked[T]{Req: p.req, Since: p.since, Until: p.until}
	}
	l.q = l.q[:0]
	return out
}

// Expire removes and returns the requests whose wait has ended at now, oldest first:
// answer them with nothing. The others keep waiting.
func (l *LongPoll[T]) Expire(now time.Time) []Parked[T] {
	var out []Parked[T]
	keep := l.q[:0]
	for _, p := range l.q {
		if now.Before(p.until) {
			keep = append(keep, p)
		} else {
			out = append(out, Parked[T]{Req: p.req, Since: p.since, Until: p.until})
		}
	}
	clear(l.q[len(keep):])
	l.q = keep
	return out
}

// Parked is a request taken from a LongPoll.
type Parked[T any] struct {
	Req          T
	Since, Until time.Time
}

// Repark puts a request taken with Take back, keeping its place in time; false when its
// wait has ended at now (answer it with nothing).
func (l *LongPoll[T]) Repark(p Parked[T], now time.Time) bool {
	if !now.Before(p.Until) {
		return false
	}
	l.q = append(l.q, parked[T]{req: p.Req, since: p.Since, until: p.Until})
	return true
}
