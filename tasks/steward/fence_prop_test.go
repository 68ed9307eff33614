package steward

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"allforone/tasks"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Random message orders, drops, partitions, restarts and clock steps never give two
// primaries one epoch, nor two different outputs for a task: not two decisions made under
// one epoch that differ, not two outputs stored, and once the swarm is whole again every
// steward holds the stored output. Workers lie at random (R=1: the first result decides),
// so a task decided on both sides of a partition would show.
func TestFencedPrimaryProperties(t *testing.T) {
	runs := 80
	if testing.Short() {
		runs = 20
	}
	if n, err := strconv.Atoi(os.Getenv("FENCE_RUNS")); err == nil {
		runs = n // a longer search: FENCE_RUNS=2000
	}
	for seed := range uint64(runs) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { fencedRun(t, seed) })
	}
	// Seeds that found bugs, run every time. 190: a takeover that pulled an uncommitted
	// decision of epoch 1 before a committed one of epoch 4 tagged the first with its own
	// epoch as it merged it, so it outranked the committed one and a second output was
	// stored. 2011: a takeover whose pulls found too few states (a change of the voting
	// set it learnt from a refusal needed stewards across a partition) pulled again at
	// once, in a loop that never ended. 105 (with a renewal as a change starts): a primary
	// that reached none of the other stewards took over without pulling, though it alone
	// was no majority, and decided a committed task again.
	for _, seed := range []uint64{105, 190, 2011} {
		if seed >= uint64(runs) {
			t.Run(fmt.Sprint(seed), func(t *testing.T) { fencedRun(t, seed) })
		}
	}
}

func fencedRun(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 16))
	m := fencedManifest("prop", 4)
	w := newWorld(t, fmt.Sprint("prop ", seed), m, 5, 3, 0)
	w.fence, w.quiet = &Fence{Lease: 10 * time.Second}, os.Getenv("FENCE_DEBUG") == ""
	defer func() {
		if t.Failed() && !w.quiet {
			_ = os.WriteFile("/tmp/h9/fence.log", []byte(w.out.String()), 0o644)
		}
	}()
	for _, x := range w.members[:3] {
		w.steward(x)
	}
	w.look()
	w.chaos = rand.New(rand.NewPCG(seed, 61))
	holders := map[uint64]string{}     // epoch -> the node that held it
	heldWhen := map[uint64]string{}    // epoch -> when it was first seen held
	decided := map[[2]uint64]cid.Cid{} // (task, epoch) -> output decided under it
	check := func(op string) {
		t.Helper()
		if !w.quiet {
			defer func() {
				if t.Failed() {
					t.Log("trace:\n" + w.out.String()) // FENCE_DEBUG=1: the whole story
				}
			}()
		}
		for _, x := range w.members {
			n := w.nodes[x]
			if n == nil || n.core == nil || !w.up[x] {
				continue
			}
			if e := n.core.Epoch(); e > 0 {
				if h, ok := holders[e]; ok && h != x {
					t.Fatalf("after %s: %s and %s both held the lease of epoch %d (%s held it after %s)", op, h, x, e, h, heldWhen[e])
				}
				if _, ok := holders[e]; !ok {
					heldWhen[e] = op
				}
				holders[e] = x
			}
			st := n.core.State()
			for i := range st.NumTasks() {
				if out, e, ok := st.Task(i).Decided(); ok {
					k := [2]uint64{uint64(i), e}
					if was, ok := decided[k]; ok && !was.Equals(out) {
						t.Fatalf("after %s: task %d decided %s and %s under epoch %d", op, i, w.outs[was.KeyString()], w.outs[out.KeyString()], e)
					}
					decided[k] = out
				}
			}
		}
		if len(w.twice) > 0 {
			t.Fatalf("after %s: %v", op, w.twice)
		}
	}
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	for step := range 200 {
		var op string
		switch r := rng.IntN(100); {
		case r < 25:
			wk := pick(w.workers)
			op = "lease " + wk
			w.ask(wk, func(id ReqID) Input {
				return LeaseRequest{Req: id, From: w.ids[wk], Max: 1 + rng.IntN(2), BlobsHere: true}
			})
		case r < 50:
			wk := pick(w.workers)
			var ts []int
			for task := range w.granted[wk] {
				ts = append(ts, task)
			}
			slices.Sort(ts)
			if len(ts) == 0 {
				continue
			}
			task := ts[rng.IntN(len(ts))]
			out := fmt.Sprintf("out-%d", rng.IntN(3)) // liars: outputs differ
			op = fmt.Sprintf("run %s task %d %s", wk, task, out)
			w.complete(wk, task, out, w.keys[wk])
		case r < 70:
			w.now = w.now.Add(time.Duration(500+rng.IntN(5500)) * time.Millisecond)
			op = "tick"
			w.look()
			for _, x := range w.members {
				if n := w.nodes[x]; n != nil && n.core != nil && w.up[x] {
					w.step(x, Tick{})
				}
			}
			w.run()
		case r < 78:
			op = "partition"
			clear(w.group)
			for _, x := range slices.Concat(w.members, w.workers) {
				w.group[x] = fmt.Sprint(rng.IntN(2))
			}
			w.look()
		case r < 86:
			op = "heal"
			clear(w.group)
			w.look()
		case r < 93:
			x := pick(w.members)
			op = "restart " + x
			if w.up[x] && w.nodes[x] != nil && w.nodes[x].core != nil && rng.IntN(2) == 0 {
				// A graceful stop: the hand-off, some ticks of time for it (not always
				// enough), the lease given up.
				ticks := rng.IntN(3)
				op = fmt.Sprintf("graceful stop %s after %d ticks", x, ticks)
				w.step(x, HandOff{Req: w.newReq(&request{worker: "operator"})})
				w.run()
				for range ticks {
					w.now = w.now.Add(time.Second)
					w.look()
					for _, y := range w.members {
						if n := w.nodes[y]; n != nil && n.core != nil && w.up[y] {
							w.step(y, Tick{})
						}
					}
					w.run()
				}
				w.step(x, Release{Req: w.newReq(&request{worker: "operator"}), Now: w.nowOf(x)})
				w.run()
			}
			w.up[x] = !w.up[x]
			if w.up[x] && w.nodes[x] != nil {
				w.nodes[x].core = nil
				w.steward(x)
			}
			w.look()
		default:
			x := pick(w.members)
			d := time.Duration(rng.IntN(9)-4) * time.Second
			op = fmt.Sprintf("clock %s %v", x, d)
			w.skew[x] += d
		}
		w.printf("--- %s", op) // with FENCE_DEBUG, the trace shows what each step was
		check(fmt.Sprintf("step %d (%s)", step, op))
	}
	// Whole again: every node up, no partition, no drops; time passes.
	w.chaos = nil
	clear(w.group)
	for _, x := range w.members {
		if !w.up[x] {
			w.up[x] = true
			if w.nodes[x] != nil {
				w.nodes[x].core = nil
				w.steward(x)
			}
		}
	}
	w.look()
	for range 12 {
		w.now = w.now.Add(3 * time.Second)
		w.look()
		for _, x := range w.members {
			if n := w.nodes[x]; n != nil && n.core != nil {
				w.step(x, Tick{})
			}
		}
		w.run()
		check("settling")
	}
	// The stewards are the voting set the primary holds at the end (a steward the set moved
	// away from gets no more copies: what it decided without a majority stays with it), or
	// the nodes near the batch when no node holds the lease.
	var set []peer.ID
	for _, x := range w.members {
		if n := w.nodes[x]; n != nil && n.core != nil && n.core.Epoch() > 0 {
			set = n.core.votingSet()
		}
	}
	for task, out := range w.stored {
		for _, x := range w.members {
			n := w.nodes[x]
			if n == nil || n.core == nil || !n.core.near(n.core.cfg.Self) || set != nil && !slices.Contains(set, w.ids[x]) {
				continue
			}
			if got, ok := n.core.State().Task(task).Accepted(); ok && !got.Equals(out) {
				t.Fatalf("settled: %s holds %s for task %d, stored as %s", x, w.outs[got.KeyString()], task, w.outs[out.KeyString()])
			}
		}
	}
}

// complete has worker wk report task's output, signed with sk, to the steward its view
// names.
func (w *world) complete(wk string, task int, out string, sk crypto.PrivKey) {
	r := tasks.ResultRecord{Batch: w.id, Task: task, Finished: w.now, Duration: time.Second,
		Output: tasks.ContentID([]byte(out)), OutputSize: uint64(len(out))}
	w.outs[r.Output.KeyString()] = out
	if err := r.Sign(sk); err != nil {
		w.t.Fatal(err)
	}
	w.ask(wk, func(id ReqID) Input {
		return Complete{Req: id, From: w.ids[wk], Records: []tasks.ResultRecord{r}}
	})
}
