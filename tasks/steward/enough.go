package steward

import (
	"allforone/tasks"

	"github.com/libp2p/go-libp2p/core/peer"
)

// enoughScan remembers a scan for results short of holders that found none: the state's
// change count and how each distinct holder counted then. While neither changed, no result
// is short, so a tick looks at the batch's few distinct holders instead of at every
// task's. (A finished batch's primary ticks for as long as the batch is kept: under churn
// these scans grew with every batch finished.)
type enoughScan struct {
	ok      bool
	gen     uint64
	holders []peer.ID
	states  []tasks.HolderState
}

// underReplicated returns the accepted tasks that need more copies (BatchState.
// UnderReplicated), scanning the tasks only when the state or a holder's standing changed
// since the last scan that found none.
func (s *Steward) underReplicated() []int {
	if e := &s.enough; e.ok && e.gen == s.st.Gen() && s.holdersAsBefore() {
		return nil
	}
	short := s.st.UnderReplicated(s.k, s.view.State)
	e := &s.enough
	e.ok, e.gen, e.holders, e.states = len(short) == 0, s.st.Gen(), e.holders[:0], e.states[:0]
	if e.ok {
		seen := make(map[peer.ID]bool)
		for i := range s.st.NumTasks() {
			for _, h := range s.st.Task(i).Holders {
				if !seen[h] {
					seen[h] = true
					e.holders = append(e.holders, h)
					e.states = append(e.states, s.view.State(h))
				}
			}
		}
	}
	return short
}

// holdersAsBefore reports whether every holder of the last quiet scan counts as it did.
func (s *Steward) holdersAsBefore() bool {
	for k, h := range s.enough.holders {
		if s.view.State(h) != s.enough.states[k] {
			return false
		}
	}
	return true
}
