package testnet

import (
	"context"
	"fmt"
	"testing"
	"time"

	"allforone/node"
	"allforone/tasks"
	"allforone/tasks/wasmtest"

	"github.com/ipfs/go-cid"
)

// echoBatch is a batch of n tasks running the minimal echo module on range inputs.
func echoBatch(n int, r, k uint32) node.SubmitRequest {
	return node.SubmitRequest{
		Name:        "echo",
		Module:      wasmtest.Echo(),
		Inputs:      []node.SubmitInput{{Name: "t", Range: &tasks.Range{Start: 0, End: int64(n), Prefix: []byte("task ")}}},
		MemoryPages: 16, TimeoutMS: 10_000, MaxOutputBytes: 1 << 10,
		Redundancy: r, Replication: k,
	}
}

// waitDone polls n's view of the batch until it is complete or failed.
func waitDone(ctx context.Context, t testing.TB, n *node.Node, id cid.Cid) node.BatchStatus {
	t.Helper()
	var st node.BatchStatus
	err := WaitFor(ctx, "batch to finish", func() bool {
		s, err := n.Status(ctx, id)
		if err != nil {
			return false
		}
		st = s
		return s.State != tasks.BatchRunning
	})
	if err != nil {
		t.Fatalf("%v (last status %+v)", err, st)
	}
	return st
}

// holders counts the running nodes that hold task i's result.
func holders(c *Cluster, id cid.Cid, i int) int {
	n := 0
	for _, nd := range c.Nodes() {
		if nd.HoldsResult(id, i) {
			n++
		}
	}
	return n
}

func TestSwarmSmallBatch(t *testing.T) {
	c := startCluster(t, ClusterConfig{N: 4})
	ctx := deadline(t, 60*time.Second)
	if err := c.WaitAllKnown(ctx); err != nil {
		t.Fatal(err)
	}
	sub := c.Node(1)
	res, err := sub.Submit(ctx, echoBatch(20, 1, 3))
	if err != nil {
		t.Fatal(err)
	}
	id, _ := cid.Decode(res.BatchID)
	st := waitDone(ctx, t, sub, id)
	t.Logf("status: %+v", st)
	if st.State != tasks.BatchComplete || st.Done != 20 {
		t.Fatalf("status %+v", st)
	}
	if err := WaitFor(ctx, "K holders for every result", func() bool {
		for i := range 20 {
			if holders(c, id, i) < 3 {
				return false
			}
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	rep, err := sub.FetchResults(ctx, id)
	if err != nil || len(rep.Missing) > 0 {
		t.Fatalf("fetch: %+v %v", rep, err)
	}
	for i := range 20 {
		out, err := sub.ResultOutput(ctx, id, i)
		if err != nil || string(out) != fmt.Sprintf("task %d", i) {
			t.Fatalf("task %d output %q, %v", i, out, err)
		}
	}
}

func TestSwarmSurvivesKilledWorkerAndSteward(t *testing.T) {
	c := startCluster(t, ClusterConfig{N: 6, Configure: func(i int, cfg *node.Config) { cfg.Slots = 2 }})
	ctx := deadline(t, 120*time.Second)
	if err := c.WaitAllKnown(ctx); err != nil {
		t.Fatal(err)
	}
	sub := c.Node(0)
	req := echoBatch(300, 1, 3)
	res, err := sub.Submit(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := cid.Decode(res.BatchID)
	killed := map[int]bool{}
	index := func(peerID string) int {
		for i := range c.Size() {
			if n := c.Node(i); n != nil && n.ID().String() == peerID {
				return i
			}
		}
		return -1
	}
	// Kill a worker at 20% and the primary steward at 50%.
	for _, frac := range []float64{0.2, 0.5} {
		var st node.BatchStatus
		if err := WaitFor(ctx, fmt.Sprintf("%.0f%% done", 100*frac), func() bool {
			st, err = sub.Status(ctx, id)
			return err == nil && float64(st.Done) >= frac*float64(st.Total)
		}); err != nil {
			t.Fatal(err)
		}
		victim := index(st.Steward)
		if frac < 0.5 {
			for i := c.Size() - 1; i > 0; i-- {
				if i != victim && !killed[i] {
					victim = i
					break
				}
			}
		}
		if victim == index(sub.ID().String()) {
			// The submitter is the primary steward: it may leave too; ask another node.
			for i := 1; i < c.Size(); i++ {
				if !killed[i] && i != victim {
					sub = c.Node(i)
					break
				}
			}
		}
		killed[victim] = true
		t.Logf("stopping node %d at %.0f%% (steward %s)", victim, 100*frac, st.Steward)
		c.Stop(victim)
	}
	st := waitDone(ctx, t, sub, id)
	t.Logf("status: %+v", st)
	if st.State != tasks.BatchComplete || st.Done != 300 {
		t.Fatalf("batch did not complete: %+v", st)
	}
	if err := WaitFor(ctx, "K live holders for every result", func() bool {
		for i := range 300 {
			if holders(c, id, i) < 3 {
				return false
			}
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	// The steward's view agrees: every result has K live holders.
	if err := WaitFor(ctx, "the steward to count K live holders", func() bool {
		st, err := sub.Status(ctx, id)
		return err == nil && st.MinReplicas >= 3
	}); err != nil {
		t.Fatal(err)
	}
	// Nothing ran twice beyond what the stopped nodes held: with 2 slots each, at most
	// 2 leases per stopped node (plus the steward's own).
	if st.Executions > 300+2*len(killed) {
		t.Errorf("%d executions for 300 tasks after stopping %d nodes", st.Executions, len(killed))
	}
}

// waitStatus polls a daemon's API until the batch is no longer running.
func waitStatus(ctx context.Context, t testing.TB, c *node.Client, id string) node.BatchStatus {
	t.Helper()
	var st node.BatchStatus
	if err := WaitFor(ctx, "batch to finish", func() bool {
		s, err := c.Status(ctx, id)
		st = s
		return err == nil && s.State != tasks.BatchRunning
	}); err != nil {
		t.Fatalf("%v (last status %+v)", err, st)
	}
	return st
}
