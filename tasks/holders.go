package tasks

// HolderState is how a holder of a result counts when its copies are counted.
type HolderState int

// How a holder counts: gone (its copy is lost to the swarm), away (it left less than the
// repair grace ago and will likely come back with its data), or live.
const (
	HolderGone HolderState = iota
	HolderAway
	HolderLive
)

// MinLiveCopies is the fewest live copies of a result that may wait out a repair grace.
// The grace keeps a restarting holder's results from being copied elsewhere (a storm under
// churn), but a result must not sit on one live machine while others are merely expected
// back: below this, copies are made at once.
const MinLiveCopies = 2

// NeedsCopies reports whether a result with live and away holders needs more copies to have
// k. A holder away within the grace counts while at least min(k, MinLiveCopies) copies are
// live.
func NeedsCopies(k, live, away int) bool {
	switch {
	case live >= k:
		return false
	case live < min(k, MinLiveCopies):
		return true
	default:
		return live+away < k
	}
}
