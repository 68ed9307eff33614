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

// TestFailureQuorumInvariants runs batches of tasks, some of which fail the same way on
// every honest machine, on honest workers and one liar that claims random failures and
// outputs, and checks: a task that honest executors complete is never failed; a task that
// fails honestly is never accepted when R >= 2, and is failed after at most
// FailureQuorum(R) + 1 executions (the liar's one among them), never the R+2 of max
// replicas when that is more.
func TestFailureQuorumInvariants(t *testing.T) {
	w, _ := testPeers(t, 8)
	liar := w[0]
	for seed := range 300 {
		rng := rand.New(rand.NewPCG(uint64(seed), 13))
		r := uint32(1 + rng.IntN(5))
		b := newState(t, 6, r, r+2)
		bad := func(i int) bool { return i%2 == 1 } // odd tasks exit 3 everywhere
		lies := []string{"exit:3", "exit:7", "trap", "memory", "timeout", "lie"}
		for step := 0; step < 400 && !b.Done(); step++ {
			wk := w[rng.IntN(len(w))]
			for _, g := range b.Grant(wk, 1, t0, time.Minute, nil) {
				switch {
				case wk == liar:
					if l := lies[rng.IntN(len(lies))]; l == "lie" {
						b.AddResult(rec(b, g.Task, wk, "lie"))
					} else {
						b.AddResult(failed(b, g.Task, wk, l))
					}
				case bad(g.Task):
					b.AddResult(failed(b, g.Task, wk, "exit:3"))
				default:
					b.AddResult(rec(b, g.Task, wk, fmt.Sprint("ok", g.Task)))
				}
			}
		}
		if !b.Done() {
			t.Fatalf("seed %d R=%d: not done after 400 steps", seed, r)
		}
		for i := range b.NumTasks() {
			task := b.Task(i)
			switch {
			case !bad(i) && task.Status() == TaskFailed:
				t.Fatalf("seed %d R=%d: task %d of honest outputs failed: %+v", seed, r, i, b.Failure(i))
			case bad(i) && task.Status() == TaskAccepted && r >= 2:
				t.Fatalf("seed %d R=%d: honestly failing task %d accepted", seed, r, i)
			case bad(i) && len(task.Results) > FailureQuorum(int(r))+1:
				t.Fatalf("seed %d R=%d: failing task %d ran %d times", seed, r, i, len(task.Results))
			}
		}
	}
}
