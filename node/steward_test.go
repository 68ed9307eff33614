package node

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"allforone/protocol/pb"
	"allforone/tasks/steward"
)

// fakeClock is a clock a test moves by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// The steward driver takes its time from the clock it is given: leases granted on the fake
// clock expire when that clock passes their end, though far less real time has passed. A
// lone node on loopback.
func TestStewardDriverRunsOnItsClock(t *testing.T) {
	clock := &fakeClock{now: time.Now()}
	cfg := TestConfig(filepath.Join(t.TempDir(), "n"))
	if _, err := InitWithSwarmKey(cfg, nil); err != nil {
		t.Fatal(err)
	}
	n, err := New(cfg, WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	n.draining.Store(true) // its worker asks for nothing: the test asks by hand
	if err := n.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	id := submitEcho(t, ctx, n, 3)
	b := n.getBatch(id)
	var granted int
	deadlineFor(t, ctx, "two leases", func() bool {
		_, g, err := n.requestLeases(ctx, b, 2)
		granted += len(g.GetLeases())
		return err == nil && granted == 2
	})
	st, err := n.Status(ctx, id)
	if err != nil || st.Running != 2 {
		t.Fatalf("status after the grants: %+v %v", st, err)
	}
	// Before the clock moves, no lease is lost.
	var view TestingTasks
	if l := n.stewardOf(b); l == nil {
		t.Fatal("no steward loop")
	} else if err := l.inspect(ctx, func(s *steward.Steward) { view = testingTasks(id, b, s.State(), nil) }); err != nil {
		t.Fatal(err)
	}
	if view.Tasks[0].Lost != 0 {
		t.Fatalf("a lease lost before its time: %+v", view.Tasks)
	}
	clock.Add(leaseDuration(b.m) + time.Second)
	deadlineFor(t, ctx, "the leases to expire on the fake clock", func() bool {
		st, err := n.Status(ctx, id)
		return err == nil && st.Running == 0 && st.Reassigned == 2
	})
}

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

// TestStoredSingleReadsTheFlagAlone: the single flag read from a stored result's bytes is
// what decoding the whole message says, and garbage reads as not single.
func TestStoredSingleReadsTheFlagAlone(t *testing.T) {
	rec := &pb.ResultRecord{Task: 3, Signature: []byte("sig")}
	for _, sr := range []*pb.StoredResult{
		{},
		{Task: 3, Output: []byte("output"), Records: []*pb.ResultRecord{rec}},
		{Task: 3, Output: make([]byte, 1<<20), Records: []*pb.ResultRecord{rec, rec}, Single: true, Steward: []byte("s"), StewardSignature: []byte("x")},
		{Single: true},
	} {
		raw, err := proto.Marshal(sr)
		if err != nil {
			t.Fatal(err)
		}
		if got := storedSingle(raw); got != sr.GetSingle() {
			t.Errorf("storedSingle of a result with single=%v says %v", sr.GetSingle(), got)
		}
	}
	// Field 4 twice: the last counts.
	if !storedSingle([]byte{0x20, 0x00, 0x20, 0x01}) || storedSingle([]byte{0x20, 0x01, 0x20, 0x00}) {
		t.Error("a repeated flag: the last one must count")
	}
	for _, garbage := range [][]byte{{0xff}, {0x22, 0x10, 0x01}, {0x20}} {
		if storedSingle(garbage) {
			t.Errorf("garbage % x reads as single", garbage)
		}
	}
}
