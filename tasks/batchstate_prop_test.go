package tasks

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// TestAdaptiveInvariants drives two stewards' states with random grants, results (some
// lies), reverifications and merges, and checks after every step that a task accepted at
// the full R has a quorum of distinct agreeing executors, and that counters match.
func TestAdaptiveInvariants(t *testing.T) {
	w, _ := testPeers(t, 5)
	for seed := range 200 {
		rng := rand.New(rand.NewPCG(uint64(seed), 9))
		cv := map[peer.ID]int{w[0]: 50, w[1]: 50, w[2]: 0, w[3]: 20, w[4]: 0}
		trust := func(p peer.ID) int { return cv[p] }
		a, b := adaptiveState(t, 8), adaptiveState(t, 8)
		states := []*BatchState{a, b}
		for step := range 300 {
			s := states[rng.IntN(2)]
			wk := w[rng.IntN(len(w))]
			switch rng.IntN(4) {
			case 0, 1:
				for _, g := range s.Grant(wk, 2, t0, time.Minute, trust) {
					out := fmt.Sprint("ok", g.Task)
					if wk == w[0] && rng.IntN(3) == 0 {
						out = "lie" // w[0] is trusted and lies sometimes
					}
					s.AddResult(rec(s, g.Task, wk, out))
				}
			case 2:
				s.Reverify(w[0])
			case 3:
				o := states[1-rng.IntN(2)]
				for i := range o.NumTasks() {
					s.Merge(i, *o.Task(i))
				}
			}
			for _, st := range states {
				decided := 0
				for i := range st.NumTasks() {
					task := st.Task(i)
					if task.Status() != TaskOpen {
						decided++
					}
					out, ok := task.Accepted()
					if !ok || (task.Single && !task.Reverified) {
						continue
					}
					votes := map[peer.ID]bool{}
					for _, r := range task.Results {
						if r.OK() && r.Output.Equals(out) {
							votes[r.Executor] = true
						}
					}
					if len(votes) < 2 {
						t.Fatalf("seed %d step %d: task %d accepted at full R with %d votes (single=%v rev=%v)",
							seed, step, i, len(votes), task.Single, task.Reverified)
					}
				}
				if d, f := st.Counts(); d+f != decided {
					t.Fatalf("seed %d step %d: counters %d+%d, %d decided", seed, step, d, f, decided)
				}
			}
		}
	}
}
