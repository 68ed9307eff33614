package worker

import (
	"math/rand/v2"
	"time"
)

// Backoff is the wait before a worker looks for work again after finding none (or after
// its steward could not be reached): exponential from Base to Max, with "equal jitter"
// (half the wait fixed, half random), so thousands of idle workers that found nothing at
// the same moment do not come back at the same moment either.
type Backoff struct {
	Base, Max time.Duration
	n         int
}

// Default backoff bounds for a worker with nothing to do.
const (
	BackoffBase = time.Second
	BackoffMax  = 2 * time.Minute
)

// NewBackoff is a backoff from base to max.
func NewBackoff(base, max time.Duration) Backoff { return Backoff{Base: base, Max: max} }

// Next is the wait after one more failure in a row.
func (b *Backoff) Next(rng *rand.Rand) time.Duration {
	d := b.Base << min(b.n, 30)
	if d <= 0 || d > b.Max {
		d = b.Max
	}
	b.n++
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + time.Duration(rng.Int64N(int64(half)+1))
}

// Reset starts over: work was found.
func (b *Backoff) Reset() { b.n = 0 }

// Failures is how many failures in a row Next has counted.
func (b *Backoff) Failures() int { return b.n }
