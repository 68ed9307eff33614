package testnet

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"allforone/node"
	"allforone/tasks"

	"github.com/ipfs/go-cid"
)

// localOutputs runs a batch's tasks with a local executor: the reference outputs.
func localOutputs(t *testing.T, req node.SubmitRequest) [][]byte {
	t.Helper()
	e, err := tasks.NewExecutor(tasks.ExecutorConfig{Slots: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	mod := tasks.ContentID(req.Module)
	var out [][]byte
	for _, in := range req.Inputs {
		for k := in.Range.Start; k < in.Range.End; k++ {
			input := append(append([]byte{}, in.Range.Prefix...), fmt.Sprint(k)...)
			res, err := e.Run(t.Context(), tasks.Job{ModuleID: mod, Module: req.Module, Input: input,
				Limits: tasks.Limits{MemoryPages: req.MemoryPages, Timeout: time.Duration(req.TimeoutMS) * time.Millisecond, MaxOutputBytes: req.MaxOutputBytes}})
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, res.Output)
		}
	}
	return out
}

func TestSwarmTenNodes500Tasks(t *testing.T) {
	if testing.Short() {
		t.Skip("10 nodes, 500 tasks")
	}
	c := startCluster(t, ClusterConfig{N: 10})
	ctx := deadline(t, 120*time.Second)
	if err := c.WaitAllKnown(ctx); err != nil {
		t.Fatal(err)
	}
	req := echoBatch(500, 1, 3)
	want := localOutputs(t, req)
	sub := c.Node(3)
	res, err := sub.Submit(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := cid.Decode(res.BatchID)
	st := waitDone(ctx, t, sub, id)
	if st.State != tasks.BatchComplete || st.Done != 500 {
		t.Fatalf("status %+v", st)
	}
	rep, err := sub.FetchResults(ctx, id)
	if err != nil || len(rep.Missing) > 0 {
		t.Fatalf("fetch: %+v, %v", rep, err)
	}
	for i := range 500 {
		got, err := sub.ResultOutput(ctx, id, i)
		if err != nil || !bytes.Equal(got, want[i]) {
			t.Fatalf("task %d: swarm output %q differs from the local run's %q (%v)", i, got, want[i], err)
		}
	}
	if err := WaitFor(ctx, "K live holders for every result", func() bool {
		for i := range 500 {
			if holders(c, id, i) < 3 {
				return false
			}
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
}

func TestSubmitterLeavesAndComesBack(t *testing.T) {
	c := startCluster(t, ClusterConfig{N: 5})
	ctx := deadline(t, 120*time.Second)
	if err := c.WaitAllKnown(ctx); err != nil {
		t.Fatal(err)
	}
	const subIdx = 4
	res, err := c.Node(subIdx).Submit(ctx, echoBatch(100, 2, 2))
	if err != nil {
		t.Fatal(err)
	}
	id, _ := cid.Decode(res.BatchID)
	// The submitter leaves right after the announcement.
	if err := c.Stop(subIdx); err != nil {
		t.Fatal(err)
	}
	st := waitDone(ctx, t, c.Node(0), id)
	if st.State != tasks.BatchComplete {
		t.Fatalf("batch without its submitter: %+v", st)
	}
	// It comes back and gets every result.
	if err := c.Start(ctx, subIdx); err != nil {
		t.Fatal(err)
	}
	sub := c.Node(subIdx)
	if err := WaitFor(ctx, "the submitter to rejoin", func() bool { return len(sub.Host().Network().Peers()) >= 3 }); err != nil {
		t.Fatal(err)
	}
	rep, err := sub.FetchResults(ctx, id)
	if err != nil || len(rep.Missing) > 0 {
		t.Fatalf("fetch after coming back: %+v, %v", rep, err)
	}
	for i := range 100 {
		got, err := sub.ResultOutput(ctx, id, i)
		if err != nil || string(got) != fmt.Sprintf("task %d", i) {
			t.Fatalf("task %d: %q, %v", i, got, err)
		}
	}
}

// A worker pulls leases only for its free slots, so a slow one does no more than its slots
// while the others share the rest. Gates, not delays, so the verdict does not depend on how
// busy the machine is: the others start once the slow worker holds a task in every slot, and
// the slow worker's tasks finish once the rest of the batch is done.
func TestSlowWorkerGetsSmallerShare(t *testing.T) {
	const slow, total = 2, 200
	var held atomic.Int32
	full, release := make(chan struct{}), make(chan struct{})
	var c *Cluster
	c = startCluster(t, ClusterConfig{N: 4, Options: func(i int) []node.Option {
		gate := func(ctx context.Context, task int) {
			select {
			case <-full:
			case <-ctx.Done():
			}
		}
		if i == slow {
			gate = func(ctx context.Context, task int) {
				if held.Add(1) == int32(c.Node(slow).Config().Slots) {
					close(full)
				}
				select {
				case <-release:
				case <-ctx.Done():
				}
			}
		}
		return []node.Option{node.WithTestHooks(node.TestHooks{TaskGate: gate})}
	}})
	ctx := deadline(t, 120*time.Second)
	slowID := c.Node(slow).ID().String()
	if err := c.WaitAllKnown(ctx); err != nil {
		t.Fatal(err)
	}
	sub := c.Node(0)
	res, err := sub.Submit(ctx, echoBatch(total, 1, 2))
	if err != nil {
		t.Fatal(err)
	}
	id, _ := cid.Decode(res.BatchID)
	if err := WaitFor(ctx, "the others to finish all but the slow worker's tasks", func() bool {
		st, err := sub.Status(ctx, id)
		return err == nil && st.Done+int(held.Load()) >= total
	}); err != nil {
		t.Fatal(err)
	}
	close(release)
	st := waitDone(ctx, t, sub, id)
	share := map[string]int{}
	for _, p := range st.Peers {
		share[p.PeerID] = p.Done
	}
	t.Logf("shares: %v (slow: %s)", share, slowID)
	if slots := c.Node(slow).Config().Slots; share[slowID] != slots {
		t.Errorf("the slow worker did %d tasks with %d slots: it took leases it had no slot for (shares %v)", share[slowID], slots, share)
	}
	if st.Done != total {
		t.Errorf("%d of %d tasks done", st.Done, total)
	}
}

func TestQuorumOutvotesALiar(t *testing.T) {
	const liar = 1
	c := startCluster(t, ClusterConfig{N: 5})
	ctx := deadline(t, 120*time.Second)
	c.Stop(liar)
	if err := c.StartWith(ctx, liar, node.WithTestHooks(node.TestHooks{
		CorruptOutput: func(task int, out []byte) []byte { return append([]byte("lie "), out...) },
	})); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitAllKnown(ctx); err != nil {
		t.Fatal(err)
	}
	sub := c.Node(0)
	res, err := sub.Submit(ctx, echoBatch(60, 3, 2))
	if err != nil {
		t.Fatal(err)
	}
	id, _ := cid.Decode(res.BatchID)
	st := waitDone(ctx, t, sub, id)
	if st.State != tasks.BatchComplete {
		t.Fatalf("status %+v", st)
	}
	rep, err := sub.FetchResults(ctx, id)
	if err != nil || len(rep.Missing) > 0 {
		t.Fatalf("fetch: %+v %v", rep, err)
	}
	for i := range 60 {
		got, _ := sub.ResultOutput(ctx, id, i)
		if string(got) != fmt.Sprintf("task %d", i) {
			t.Fatalf("task %d: accepted %q", i, got)
		}
	}
	liarID := c.Node(liar).ID().String()
	for _, p := range st.Peers {
		if p.PeerID == liarID && (p.Wrong == 0 || p.Done > 0) {
			t.Errorf("the liar's share: %+v", p)
		}
	}
}
