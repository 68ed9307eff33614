package testnet

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"allforone/node"
	"allforone/tasks"

	"github.com/ipfs/go-cid"
)

// waitReason polls n's status of batch id until its steward gives a reason with code and
// returns the status.
func waitReason(ctx context.Context, t *testing.T, n *node.Node, id cid.Cid, code string) node.BatchStatus {
	t.Helper()
	var st node.BatchStatus
	if err := WaitFor(ctx, "the steward to say the batch waits ("+code+")", func() bool {
		s, err := n.Status(ctx, id)
		st = s
		return err == nil && len(s.Waiting) > 0 && s.Waiting[0].Code == code
	}); err != nil {
		t.Fatalf("%v (last status %+v)", err, st)
	}
	return st
}

// A batch whose R needs more peers than the swarm has waits, and says so, while peers are
// still joining; when the fifth peer joins it completes. R=8 needs 5 agreeing peers.
func TestTooFewPeersForRWaitsAndSaysWhy(t *testing.T) {
	c := startCluster(t, ClusterConfig{N: 5})
	ctx := deadline(t, 120*time.Second)
	if err := c.WaitAllKnown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(4); err != nil {
		t.Fatal(err)
	}
	sub := c.Node(0)
	if err := WaitFor(ctx, "node 0 to see the stopped node gone", func() bool { return len(sub.Peers()) == 3 }); err != nil {
		t.Fatal(err)
	}
	res, err := sub.Submit(ctx, echoBatch(4, 8, 1))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Waiting) != 1 || res.Waiting[0].Code != "replicas" || !strings.Contains(res.Waiting[0].Reason, "4 peers can run it") {
		t.Errorf("submit result says %+v, want that 4 peers cannot run R=8", res.Waiting)
	}
	id, _ := cid.Decode(res.BatchID)
	st := waitReason(ctx, t, sub, id, "replicas")
	w := st.Waiting[0]
	for _, s := range []string{"4 peers can run it", "R=8 needs 5 distinct peers"} {
		if !strings.Contains(w.Reason, s) {
			t.Errorf("reason %q does not say %q", w.Reason, s)
		}
	}
	if !strings.Contains(w.Fix, "lower --replicas to 4 or less, or add peers") {
		t.Errorf("fix %q", w.Fix)
	}
	if st.State != tasks.BatchRunning || st.Failed != 0 {
		t.Errorf("the waiting batch is %s with %d failed", st.State, st.Failed)
	}
	// Its workers' why says it too, once their lease requests come back empty.
	if err := WaitFor(ctx, "a worker's why to say the batch waits", func() bool {
		return slices.Contains(whyCodes(c.Node(1)), "waiting")
	}); err != nil {
		t.Fatalf("%v: %+v", err, c.Node(1).Why())
	}
	// A fifth peer joins: the reason goes, the batch completes.
	if err := c.Start(ctx, 4); err != nil {
		t.Fatal(err)
	}
	st = waitDone(ctx, t, sub, id)
	if st.State != tasks.BatchComplete || len(st.Waiting) != 0 {
		t.Fatalf("after the fifth peer joined: %+v", st)
	}
}

// A batch whose tasks ask more memory than any peer allows waits, and its steward, told by
// each worker that it declines the batch, says so with the numbers; nobody runs a task.
func TestMemoryAboveEveryCapWaitsAndSaysWhy(t *testing.T) {
	c := startCluster(t, ClusterConfig{N: 3, Configure: func(_ int, cfg *node.Config) { cfg.MaxTaskMemoryMB = 4 }})
	ctx := deadline(t, 90*time.Second)
	if err := c.WaitAllKnown(ctx); err != nil {
		t.Fatal(err)
	}
	req := echoBatch(3, 1, 1)
	req.MemoryPages = 8 * 16 // 8 MiB a task; every peer allows 4
	res, err := c.Node(0).Submit(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := cid.Decode(res.BatchID)
	st := waitReason(ctx, t, c.Node(0), id, "memory")
	w := st.Waiting[0]
	for _, s := range []string{"no peer can run it", "3 peers decline it", "a task asks 8 MiB", "the most they allow is 4 MiB"} {
		if !strings.Contains(w.Reason, s) {
			t.Errorf("reason %q does not say %q", w.Reason, s)
		}
	}
	if !strings.Contains(w.Fix, "lower --memory to 4") || !strings.Contains(w.Fix, "max_task_memory_mb 8") {
		t.Errorf("fix %q", w.Fix)
	}
	if st.Executions != 0 || st.State != tasks.BatchRunning {
		t.Errorf("status %+v: nobody should have run a task", st)
	}
	// Every node's status answer carries it (over the wire from the steward).
	for i := range 3 {
		s, err := c.Node(i).Status(ctx, id)
		if err != nil || len(s.Waiting) == 0 || s.Waiting[0].Code != "memory" {
			t.Errorf("node %d: status %+v, %v", i, s.Waiting, err)
		}
	}
}
