package testnet

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"allforone/node"
	"allforone/tasks"

	"github.com/ipfs/go-cid"
)

// lieAtRandom corrupts about half of the outputs, depending on the task.
func lieAtRandom(seed int) func(int, []byte) []byte {
	return func(task int, out []byte) []byte {
		if (task*7919+seed)%2 == 0 {
			return append([]byte(fmt.Sprintf("lie from %d ", seed)), out...) // liars do not collude
		}
		return out
	}
}

// turncoat is honest for its first n tasks, then lies every time.
func turncoat(n int64) func(int, []byte) []byte {
	var done atomic.Int64
	return func(task int, out []byte) []byte {
		if done.Add(1) > n {
			return append([]byte("turned "), out...)
		}
		return out
	}
}

// nodeByID finds the running node with a peer ID.
func nodeByID(c *Cluster, id string) *node.Node {
	for _, n := range c.Nodes() {
		if n.ID().String() == id {
			return n
		}
	}
	return nil
}

func TestLiarsAreOutvotedAndDistrusted(t *testing.T) {
	if testing.Short() {
		t.Skip("12 nodes")
	}
	liars := []int{3, 6, 9}
	c := startCluster(t, ClusterConfig{N: 12, Options: func(i int) []node.Option {
		hooks := node.TestHooks{TaskDelay: 2 * time.Millisecond}
		if slices.Contains(liars, i) {
			hooks.CorruptOutput = lieAtRandom(i)
		}
		return []node.Option{node.WithTestHooks(hooks)}
	}})
	ctx := deadline(t, 3*time.Minute)
	if err := c.WaitAllKnown(ctx); err != nil {
		t.Fatal(err)
	}
	// Plain R=3 (no adaptive replication): the quorum alone must keep every lie out.
	req := echoBatch(600, 3, 2)
	req.MaxReplicas = 7
	sub := c.Node(0)
	res, err := sub.Submit(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := cid.Decode(res.BatchID)
	st := waitDone(ctx, t, sub, id)
	t.Logf("executions %d for %d tasks, %d single, reassigned %d", st.Executions, st.Total, st.Single, st.Reassigned)
	if st.State != tasks.BatchComplete {
		t.Fatalf("status %+v", st)
	}
	checkOutputs(ctx, t, sub, id, 600)
	steward := nodeByID(c, st.Steward)
	if steward == nil {
		t.Fatal("the steward is gone")
	}
	distrusted := map[string]bool{}
	for _, r := range steward.TrustRecords() {
		if r.Distrusted() {
			distrusted[r.PeerID] = true
		}
	}
	for _, i := range liars {
		if id := c.Node(i).ID().String(); !distrusted[id] {
			t.Errorf("liar node %d (%s) is not distrusted by the steward", i, id)
		}
	}
	if len(distrusted) != len(liars) {
		t.Errorf("%d peers distrusted, want exactly the %d liars", len(distrusted), len(liars))
	}
	// The steward told each liar why it gets no more leases, and `why` says so there.
	for _, i := range liars {
		found := false
		for _, r := range c.Node(i).Why().Reasons {
			found = found || r.Code == "distrusted"
		}
		if !found {
			t.Errorf("liar node %d: why does not say it is distrusted: %+v", i, c.Node(i).Why())
		}
	}
	for _, i := range []int{1, 2, 4} {
		for _, r := range c.Node(i).Why().Reasons {
			if r.Code == "distrusted" {
				t.Errorf("honest node %d is told it is distrusted: %s", i, r.Reason)
			}
		}
	}
}

func TestSampledCheckCatchesATurncoat(t *testing.T) {
	if testing.Short() {
		t.Skip("6 nodes, 1000 tasks")
	}
	const turn = 2
	c := startCluster(t, ClusterConfig{N: 6, Options: func(i int) []node.Option {
		hooks := node.TestHooks{TaskDelay: 2 * time.Millisecond}
		if i == turn {
			hooks.CorruptOutput = turncoat(60)
		}
		return []node.Option{node.WithTestHooks(hooks)}
	}})
	ctx := deadline(t, 3*time.Minute)
	if err := c.WaitAllKnown(ctx); err != nil {
		t.Fatal(err)
	}
	req := echoBatch(1000, 2, 2)
	req.Adaptive, req.MaxReplicas = true, 6
	sub := c.Node(0)
	res, err := sub.Submit(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := cid.Decode(res.BatchID)
	st := waitDone(ctx, t, sub, id)
	t.Logf("executions %d for %d tasks, %d single", st.Executions, st.Total, st.Single)
	checkOutputs(ctx, t, sub, id, 1000)
	if st.Single == 0 {
		t.Error("no honest peer ever earned a single-replica task")
	}
	steward := nodeByID(c, st.Steward)
	for _, r := range steward.TrustRecords() {
		if r.PeerID == c.Node(turn).ID().String() && !r.Distrusted() {
			t.Errorf("the turncoat is still trusted: %+v", r)
		}
	}
}

// checkOutputs fetches every result and compares it with what echo outputs.
func checkOutputs(ctx context.Context, t *testing.T, n *node.Node, id cid.Cid, total int) {
	t.Helper()
	rep, err := n.FetchResults(ctx, id)
	if err != nil || len(rep.Missing) > 0 {
		t.Fatalf("fetch: %+v %v", rep, err)
	}
	for i := range total {
		got, err := n.ResultOutput(ctx, id, i)
		if err != nil || string(got) != fmt.Sprintf("task %d", i) {
			t.Fatalf("task %d: accepted %q (%v)", i, got, err)
		}
	}
}
