package runner

import (
	"testing"
	"time"
)

func TestNextPollBacksOffAndClosesInOnALimit(t *testing.T) {
	ms := time.Millisecond
	for _, c := range []struct {
		last, left, want time.Duration
	}{
		{5 * ms, time.Minute, 10 * ms},          // far from any limit: the gap doubles
		{80 * ms, time.Minute, 100 * ms},        // up to 20x the shortest
		{100 * ms, time.Minute, 100 * ms},       // and stays there
		{100 * ms, 60 * ms, 30 * ms},            // near a limit: half of what is left
		{100 * ms, 4 * ms, 5 * ms},              // never below the shortest
		{100 * ms, -time.Second, 5 * ms},        // past it (the check that follows stops it)
		{5 * ms, 0, 5 * ms},                     // at it
		{40 * ms, 500 * ms, 80 * ms},            // doubling below half of what is left
		{20 * ms, 30 * ms, 15 * ms},             // half of what is left below doubling
		{5 * ms, 12 * time.Millisecond, 6 * ms}, // a short limit from the start
	} {
		if got := nextPoll(c.last, c.left, 5*ms); got != c.want {
			t.Errorf("nextPoll(%v, %v) = %v, want %v", c.last, c.left, got, c.want)
		}
	}
}
