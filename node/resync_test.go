package node

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"allforone/tasks"
	"allforone/tasks/steward"
	"allforone/tasks/wasmtest"

	"github.com/ipfs/go-cid"
)

// acceptedHere counts the accepted tasks in n's steward state of batch id (-1 without one).
func acceptedHere(n *Node, id cid.Cid) int {
	b := n.getBatch(id)
	if b == nil {
		return -1
	}
	l := n.stewardOf(b)
	if l == nil {
		return -1
	}
	k := 0
	err := l.inspect(context.Background(), func(s *steward.Steward) {
		for i := range s.State().NumTasks() {
			if _, ok := s.State().Task(i).Accepted(); ok {
				k++
			}
		}
	})
	if err != nil {
		return -1
	}
	return k
}

// A steward and holder whose datastore is replaced by an empty one (repair --move-aside)
// gets back from its peer what it lost: the running batch, the steward state (accepted
// tasks) and the results it held. Two nodes on loopback, K = 2: each is steward and holder
// of everything.
func TestResetNodeGetsStateAndResultsBack(t *testing.T) {
	a := newTestNode(t)
	cfgB := TestConfig(filepath.Join(t.TempDir(), "b"))
	b := startTestNode(t, cfgB, nil)
	connectNodes(t, b, a)
	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancel()
	a.SetTaskDelay(100 * time.Millisecond)
	b.SetTaskDelay(100 * time.Millisecond)
	res, err := a.Submit(ctx, SubmitRequest{Name: "resync", Module: wasmtest.Echo(),
		Inputs:      []SubmitInput{{Range: &tasks.Range{Start: 0, End: 40, Prefix: []byte("t")}}},
		MemoryPages: 16, TimeoutMS: 60_000, MaxOutputBytes: 1 << 10, Redundancy: 1, Replication: 2})
	if err != nil {
		t.Fatal(err)
	}
	id := mustCID(t, res.BatchID)
	deadlineFor(t, ctx, "some accepted tasks", func() bool { return acceptedHere(a, id) >= 3 })
	a.draining.Store(true) // no new leases: the batch stays running with what it has
	b.draining.Store(true)
	var accepted int
	deadlineFor(t, ctx, "the running tasks to finish and both copies to agree", func() bool {
		accepted = acceptedHere(a, id)
		st, err := a.Status(ctx, id)
		return err == nil && st.Running == 0 && acceptedHere(b, id) == accepted &&
			a.HeldResults(id) == accepted && b.HeldResults(id) == accepted
	})
	if accepted == 40 {
		t.Fatal("every task finished: the test needs a running batch")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	backup, err := MoveDatastoreAside(cfgB.DataDir, time.Now())
	if err != nil {
		t.Fatal(err)
	}

	b2, err := New(cfgB)
	if err != nil {
		t.Fatal(err)
	}
	b2.draining.Store(true) // nor does the new run compute: what it has comes from a
	if err := b2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b2.Close() })
	if l := b2.DataLost(); l == nil || l.Reason != "reset" || l.Backup != backup || l.Before.Results != accepted {
		t.Fatalf("DataLost after the reset: %+v (want %d results before)", l, accepted)
	}
	connectNodes(t, b2, a)
	deadlineFor(t, ctx, "the steward state back", func() bool { return acceptedHere(b2, id) == accepted })
	deadlineFor(t, ctx, "the held results back", func() bool { return b2.HeldResults(id) == accepted })
	deadlineFor(t, ctx, "the resync to finish", func() bool { l := b2.DataLost(); return l != nil && l.Resynced })
}
