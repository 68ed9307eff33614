package steward

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"allforone/tasks"

	"github.com/libp2p/go-libp2p/core/peer"
)

// A batch outlives its stewards leaving one after another: the primary crashes, the next
// steward takes over and moves the voting set to a live member, that one crashes too, and
// the last of the first three takes over with the members that joined the set. The world
// remembers departed members for ever, so without the changes (a set of the closest
// members known) the second crash would leave one voter of three and the batch would
// stop.
func TestTheVotingSetFollowsTheStewardsThatLeave(t *testing.T) {
	w := newWorld(t, "voters", fencedManifest("voters", 6), 6, 1, 0)
	w.fence, w.quiet = &Fence{Lease: 10 * time.Second}, true
	for _, x := range w.members[:3] {
		w.steward(x)
	}
	w.look()
	primary := func() string {
		for _, x := range w.members {
			if n := w.nodes[x]; n != nil && n.core != nil && w.up[x] && n.core.Epoch() > 0 {
				return x
			}
		}
		return ""
	}
	// waitFor ticks every 2 s of world time until cond holds, for at most a minute.
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for range 30 {
			if cond() {
				return
			}
			w.now = w.now.Add(2 * time.Second)
			w.look()
			for _, x := range w.members {
				if n := w.nodes[x]; n != nil && n.core != nil && w.up[x] {
					w.step(x, Tick{})
				}
			}
			w.run()
		}
		t.Fatalf("%s: not within a minute of world time (primary %q)", what, primary())
	}
	names := func(ps []peer.ID) []string {
		var out []string
		for _, p := range ps {
			out = append(out, w.names[p])
		}
		slices.Sort(out)
		return out
	}
	settledOn := func(x string, want ...string) func() bool {
		return func() bool {
			n := w.nodes[x]
			v := n.core.Voters()
			return primary() == x && len(v.Next) == 0 && slices.Equal(names(v.Set), want)
		}
	}
	done := 0
	work := func() {
		t.Helper()
		w.ask("w1", func(id ReqID) Input { return LeaseRequest{Req: id, From: w.ids["w1"], Max: 1, BlobsHere: true} })
		w.run()
		for task := range w.granted["w1"] {
			w.complete("w1", task, fmt.Sprint("out-", task), w.keys["w1"])
			delete(w.granted["w1"], task)
			done++
		}
		w.run()
	}
	waitFor("s1 primary", func() bool { return primary() == "s1" })
	work()

	w.up["s1"] = false
	w.look()
	waitFor("s2 primary, with s4 voting in s1's place", settledOn("s2", "s2", "s3", "s4"))
	work()

	w.up["s2"] = false
	w.look()
	waitFor("s3 primary, with s4 and s5 voting", settledOn("s3", "s3", "s4", "s5"))
	for range 10 {
		work()
	}
	st := w.nodes["s3"].core.State()
	if !st.Done() {
		t.Fatalf("the batch is not done on s3 after %d results", done)
	}
	for i := range st.NumTasks() {
		out, ok := st.Task(i).Accepted()
		if !ok || w.outs[out.KeyString()] != fmt.Sprint("out-", i) {
			t.Fatalf("task %d: accepted %v %q", i, ok, w.outs[out.KeyString()])
		}
	}
	if len(w.twice) > 0 {
		t.Fatal(w.twice)
	}
}

// fencedManifest is a batch of n tasks with R=1 (the first result decides) and K=3.
func fencedManifest(name string, n int) *tasks.Manifest {
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return &tasks.Manifest{Version: tasks.ManifestVersion, Swarm: name, Name: name,
		Module:     tasks.BlobRef{CID: tasks.ContentID([]byte("module")), Size: 6},
		Inputs:     []tasks.Input{tasks.RangeInput(tasks.Range{Start: 0, End: int64(n)})},
		Limits:     tasks.Limits{MemoryPages: 16, Timeout: 5 * time.Second, MaxOutputBytes: 1 << 10},
		Redundancy: 1, Replication: 3, MaxReplicas: 3, CreatedAt: created, Deadline: created.Add(24 * time.Hour)}
}
