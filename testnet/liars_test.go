package testnet

import (
	"context"
	"fmt"
	"slices"
	"sync"
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

// A peer that earns trust and then lies is caught by the replicated sample of its tasks, and
// its single-replica results are run again. The phases are held by gates, not by how fast the
// machines happen to be: (1) only the submitter and the turncoat compute, so every task runs on
// both and the turncoat earns the primary steward's trust (10 consecutive valid results);
// (2) the turncoat turns and computes alone until it has told `lies` lies, of which the steward
// samples some for a second replica (at most 95% go single, so all 300 escape the sample with
// probability 0.95^300, about 2e-7); (3) everyone computes, the sampled lies lose their quorum,
// the turncoat is distrusted and its single results are reopened.
func TestSampledCheckCatchesATurncoat(t *testing.T) {
	if testing.Short() {
		t.Skip("6 nodes, 1000 tasks")
	}
	const n, lies = 6, 300
	var (
		roles    = make(chan struct{}) // closed once the turncoat and the steward are chosen
		released = make(chan struct{}) // closed when phase 3 begins
		release  sync.Once
		turn     atomic.Int32 // the turncoat's index, chosen among the non-stewards
		steward  atomic.Pointer[node.Node]
		turned   atomic.Bool
		told     atomic.Int64
	)
	turn.Store(-1)
	open := func() { release.Do(func() { close(released) }) }
	t.Cleanup(open)
	wait := func(ctx context.Context, ch chan struct{}) {
		select {
		case <-ch:
		case <-ctx.Done():
		}
	}
	var c *Cluster
	c = startCluster(t, ClusterConfig{N: n, Options: func(i int) []node.Option {
		hooks := node.TestHooks{TaskDelay: 2 * time.Millisecond}
		hooks.TaskGate = func(ctx context.Context, task int) {
			wait(ctx, roles)
			switch {
			case int(turn.Load()) == i:
			case i == 0 && !turned.Load(): // the submitter computes with the turncoat in phase 1
			default:
				wait(ctx, released)
			}
		}
		hooks.CorruptOutput = func(task int, out []byte) []byte {
			if int(turn.Load()) != i {
				return out
			}
			if !turned.Load() && trustOf(steward.Load(), c.Node(i).ID().String()).Consecutive >= 10 {
				turned.Store(true)
			}
			if !turned.Load() {
				return out
			}
			if told.Add(1) >= lies {
				open()
			}
			return append([]byte("turned "), out...)
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
	st, err := sub.Status(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	steward.Store(nodeByID(c, st.Steward))
	for i := 1; i < n; i++ {
		if !slices.Contains(res.Stewards, c.Node(i).ID().String()) {
			turn.Store(int32(i))
			break
		}
	}
	close(roles)
	st = waitDone(ctx, t, sub, id)
	t.Logf("executions %d for %d tasks, %d single; the turncoat (node %d) told %d lies", st.Executions, st.Total, st.Single, turn.Load(), told.Load())
	if told.Load() < lies {
		t.Fatalf("the turncoat told %d lies, want %d: the phases did not run as planned", told.Load(), lies)
	}
	checkOutputs(ctx, t, sub, id, 1000)
	if st.Single == 0 {
		t.Error("no honest peer ever earned a single-replica task")
	}
	if r := trustOf(steward.Load(), c.Node(int(turn.Load())).ID().String()); !r.Distrusted() {
		t.Errorf("the turncoat is still trusted: %+v", r)
	}
}

// trustOf is the trust record that steward keeps of a peer (zero if none).
func trustOf(steward *node.Node, peerID string) node.TrustRecord {
	if steward == nil {
		return node.TrustRecord{}
	}
	for _, r := range steward.TrustRecords() {
		if r.PeerID == peerID {
			return r
		}
	}
	return node.TrustRecord{}
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
