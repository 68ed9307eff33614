package node

import (
	"context"
	"testing"
	"time"
)

// A worker that restarted holds none of the leases its earlier run held; it says so in its
// next lease request (holding_set with an empty list), and the steward returns those leases
// to the pool at once instead of waiting for their expiry. Two nodes on loopback.
func TestLeasesOfARestartedWorkerReturnAtOnce(t *testing.T) {
	s, w := newTestNode(t), newTestNode(t)
	w.draining.Store(true) // the worker's own loop asks for nothing: the test asks by hand
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if _, err := w.Connect(ctx, s.IDInfo().Addrs[0]); err != nil {
		t.Fatal(err)
	}
	s.draining.Store(true) // nor does the steward's
	id := submitEcho(t, ctx, s, 4)
	var b *batch
	deadlineFor(t, ctx, "the worker to know the batch", func() bool { b = w.getBatch(id); return b != nil })
	var granted []uint32
	deadlineFor(t, ctx, "two leases", func() bool {
		_, g, err := w.requestLeases(ctx, b, 2)
		for _, l := range g.GetLeases() {
			granted = append(granted, l.GetTask())
		}
		return err == nil && len(granted) == 2
	})
	before, err := s.Status(ctx, id)
	if err != nil || before.Running != 2 {
		t.Fatalf("status before: %+v %v", before, err)
	}
	// Its "restarted" run holds nothing (b.holding is empty: the test never ran them).
	if _, _, err := w.requestLeases(ctx, b, 0); err != nil {
		t.Fatal(err)
	}
	after, err := s.Status(ctx, id)
	if err != nil || after.Running != 0 || after.Reassigned != before.Reassigned+2 {
		t.Fatalf("after the worker said it holds nothing: %+v %v (before %+v)", after, err, before)
	}
	// A lease the worker does hold stays.
	deadlineFor(t, ctx, "a lease", func() bool {
		_, g, err := w.requestLeases(ctx, b, 1)
		if err == nil && len(g.GetLeases()) == 1 {
			b.hold(int(g.GetLeases()[0].GetTask()))
			return true
		}
		return false
	})
	if _, _, err := w.requestLeases(ctx, b, 0); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Status(ctx, id); st.Running != 1 {
		t.Fatalf("a held lease was released: %+v", st)
	}
}
