package testnet

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"allforone/node"
	"allforone/tasks"

	"github.com/ipfs/go-cid"
)

func whyCodes(n *node.Node) []string {
	var out []string
	for _, r := range n.Why().Reasons {
		out = append(out, r.Code)
	}
	return out
}

// Each preference takes effect on a live swarm: node 0 runs one task at a time (slots),
// node 1 allows less memory than the batch asks (it takes none of it, and says why), node 2
// starts paused by its schedule, takes no task, and computes once it resumes. Node 0 holds its
// ninth task until node 2 has computed one, so the batch cannot end before node 2 resumes
// however busy the machine is.
func TestPrefsTakeEffect(t *testing.T) {
	var ran0 atomic.Int32
	resumed := make(chan struct{})
	var resumedOnce sync.Once
	c := startCluster(t, ClusterConfig{N: 3,
		Configure: func(i int, cfg *node.Config) {
			switch i {
			case 0:
				cfg.Slots = 1
			case 1:
				cfg.MaxTaskMemoryMB = 4
			}
		},
		Options: func(i int) []node.Option {
			hooks := node.TestHooks{TaskDelay: 50 * time.Millisecond}
			switch i {
			case 0:
				hooks.TaskGate = func(ctx context.Context, task int) {
					if ran0.Add(1) > 8 {
						select {
						case <-resumed:
						case <-ctx.Done():
						}
					}
				}
			case 2:
				hooks.TaskGate = func(context.Context, int) { resumedOnce.Do(func() { close(resumed) }) }
			}
			return []node.Option{node.WithTestHooks(hooks)}
		}})
	ctx := deadline(t, 90*time.Second)
	if err := c.WaitAllKnown(ctx); err != nil {
		t.Fatal(err)
	}
	paused := c.Node(2)
	p := paused.Prefs()
	later := time.Now().Add(2 * time.Hour)
	p.Schedule = fmt.Sprintf("%s-%s", later.Format("15:04"), later.Add(time.Hour).Format("15:04"))
	if err := paused.SetPrefs(p); err != nil {
		t.Fatal(err)
	}
	req := echoBatch(40, 1, 1)
	req.MemoryPages = 8 * 16 // 8 MiB a task: more than node 1 allows
	res, err := c.Node(0).Submit(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := cid.Decode(res.BatchID)
	// Node 0 computes, never more than one task at a time; node 2 stays idle, paused.
	maxRunning := 0
	if err := WaitFor(ctx, "node 0 to finish 8 tasks", func() bool {
		maxRunning = max(maxRunning, len(c.Node(0).Activity().Running))
		return c.Node(0).Activity().Finished >= 8
	}); err != nil {
		t.Fatal(err)
	}
	if maxRunning > 1 {
		t.Errorf("node 0 with 1 slot ran %d tasks at once", maxRunning)
	}
	if got := paused.Activity().Finished; got != 0 {
		t.Errorf("paused node ran %d tasks", got)
	}
	if codes := whyCodes(paused); !slices.Contains(codes, "paused") {
		t.Errorf("paused node's why: %v", codes)
	}
	if codes := whyCodes(c.Node(1)); !slices.Contains(codes, "memory") {
		t.Errorf("node 1's why: %v, want memory", codes)
	}
	// Resume: node 2 takes tasks.
	p.Schedule = ""
	if err := paused.SetPrefs(p); err != nil {
		t.Fatal(err)
	}
	if err := WaitFor(ctx, "the resumed node to compute", func() bool { return paused.Activity().Finished > 0 }); err != nil {
		t.Fatal(err)
	}
	st := waitDone(ctx, t, c.Node(0), id)
	if st.State != tasks.BatchComplete {
		t.Fatalf("batch %+v", st)
	}
	if got := c.Node(1).Activity().Finished; got != 0 {
		t.Errorf("node 1 ran %d tasks that need more memory than it allows", got)
	}
	for _, ps := range st.Peers {
		if ps.PeerID == c.Node(1).ID().String() && ps.Done > 0 {
			t.Errorf("node 1 has a share: %+v", ps)
		}
	}
	t.Logf("shares: %+v; node 0 ran at most %d at once", st.Peers, maxRunning)
}

// Garbage collection drops a node's extra result copies only while K other live peers hold
// them: alone, the node keeps all of them.
func TestGCKeepsResultsShortOfK(t *testing.T) {
	c := startCluster(t, ClusterConfig{N: 4})
	ctx := deadline(t, 90*time.Second)
	if err := c.WaitAllKnown(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := c.Node(0).Submit(ctx, echoBatch(12, 1, 1))
	if err != nil {
		t.Fatal(err)
	}
	id, _ := cid.Decode(res.BatchID)
	waitDone(ctx, t, c.Node(0), id)
	if err := WaitFor(ctx, "a holder for every result", func() bool {
		for i := range 12 {
			if holders(c, id, i) < 1 {
				return false
			}
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	n := c.Node(3)
	if rep, err := n.FetchResults(ctx, id); err != nil || rep.Have != 12 {
		t.Fatalf("fetch: %+v, %v", rep, err)
	}
	p := n.Prefs()
	p.Retention = 0
	if err := n.SetPrefs(p); err != nil {
		t.Fatal(err)
	}
	// Alone, every copy is short of K live copies elsewhere: none goes.
	for i := range 3 {
		if err := c.Stop(i); err != nil {
			t.Fatal(err)
		}
	}
	if err := WaitFor(ctx, "node 3 alone", func() bool { return len(n.Peers()) == 0 }); err != nil {
		t.Fatal(err)
	}
	rep, err := n.CollectGarbage(ctx)
	if err != nil || rep.ResultsDropped != 0 || n.HeldResults(id) != 12 {
		t.Fatalf("alone: %+v, %v, holds %d", rep, err, n.HeldResults(id))
	}
	for i := range 3 {
		if err := c.Start(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.WaitAllKnown(ctx); err != nil {
		t.Fatal(err)
	}
	// The node's own periodic collection may drop the copies before the test's call does:
	// what counts is that they go. A collection walks the data dir and asks the holders, so
	// poll gently, not to starve the nodes on a busy machine.
	for n.HeldResults(id) == 12 {
		rep, err := n.CollectGarbage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rep.ResultsDropped > 0 {
			break
		}
		select {
		case <-ctx.Done():
			var held []string
			for i := range 4 {
				held = append(held, fmt.Sprintf("node %d %v", i, c.Node(i).HeldTasks(id)))
			}
			t.Fatalf("no extra copy dropped: last collection %+v; node 3 sees %d peers, %d in its routing table; holders: %s",
				rep, len(n.Peers()), n.RoutingTableSize(), strings.Join(held, ", "))
		case <-time.After(200 * time.Millisecond):
		}
	}
	for i := range 12 {
		if holders(c, id, i) < 1 {
			t.Fatalf("task %d has no holder after collection", i)
		}
	}
	t.Logf("node 3 dropped %d extra copies, keeps %d", 12-n.HeldResults(id), n.HeldResults(id))
}
