package node

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"

	"allforone/node/internal/store"
	"allforone/protocol/pb"
	"allforone/tasks/steward"
	"allforone/tasks/wasmtest"
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

// TestFinishedBatchStewardReturnsWithItsState: a steward of a finished batch that restarts
// with its store gets a digest from the primary, not the whole state again; a steward
// asked about a digest it does not have, or about a batch it does not know, says so, and
// the primary then sends everything.
func TestFinishedBatchStewardReturnsWithItsState(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cfgs, nodes := startNodesWithConfigs(t, 3)
	connectNodes(t, nodes[1], nodes[0])
	connectNodes(t, nodes[2], nodes[0])
	connectNodes(t, nodes[2], nodes[1])
	id := submitTasks(t, ctx, nodes[0], "echo", wasmtest.Echo(), 12, 3)
	deadlineFor(t, ctx, "every node to hold the 12 results", func() bool {
		return nodes[0].HeldResults(id) == 12 && nodes[1].HeldResults(id) == 12 && nodes[2].HeldResults(id) == 12
	})
	primary := -1
	deadlineFor(t, ctx, "one node to act as the finished batch's primary", func() bool {
		for i, n := range nodes {
			if b := n.getBatch(id); b != nil && n.stewardDone(b) && n.stewardOf(b).primary.Load() {
				primary = i
				return true
			}
		}
		return false
	})
	p := nodes[primary]
	x := (primary + 1) % 3
	confirmed := func(q peer.ID) (ok bool) {
		p.stewardOf(p.getBatch(id)).inspect(ctx, func(s *steward.Steward) { ok = s.Confirmed(q) })
		return ok
	}
	sent := func(kind string) float64 {
		var m dto.Metric
		if err := p.metrics.StateCopies.WithLabelValues(kind).Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetCounter().GetValue()
	}
	xid := nodes[x].id
	deadlineFor(t, ctx, "the primary to know x's copy whole", func() bool { return confirmed(xid) })
	deadlineFor(t, ctx, "x to keep the digest of its finished state with it (dormant.go)", func() bool {
		raw, err := nodes[x].ds.Get(ctx, store.StewardMarker(id))
		return err == nil && validDigest(raw, nodes[x].getBatch(id))
	})

	full, digests := sent("full"), sent("digest")
	if err := nodes[x].Close(); err != nil {
		t.Fatal(err)
	}
	deadlineFor(t, ctx, "the primary to see x leave", func() bool { return !p.live(xid) && !confirmed(xid) })
	n, err := New(cfgs[x])
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	nodes[x] = n
	xb := n.getBatch(id)
	if n.stewardOf(xb) != nil || !n.stewardHere(xb) || !n.stewardDone(xb) {
		t.Fatalf("x restarted with its finished state loaded (%v) or not kept (%v): want it dormant", n.stewardOf(xb) != nil, n.stewardHere(xb))
	}
	wakes := func(reason string) float64 {
		var m dto.Metric
		if err := n.metrics.StewardWakes.WithLabelValues(reason).Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetCounter().GetValue()
	}
	connectNodes(t, n, p)
	deadlineFor(t, ctx, "the primary to know x's copy whole again", func() bool { return confirmed(xid) })
	if n.stewardOf(xb) != nil || wakes("digest") != 0 {
		t.Errorf("x loaded its state to answer a digest that matches the one on disk (%v wakes)", wakes("digest"))
	}
	lease := n.handleSteward(ctx, p.id, &pb.StewardRequest{BatchId: id.Bytes(), Body: &pb.StewardRequest_Lease{Lease: &pb.LeaseRequest{Max: 1}}})
	if g := lease.GetGrant(); g == nil || !g.GetDone() || len(g.GetLeases()) > 0 || n.stewardOf(xb) != nil {
		t.Errorf("a lease request to the dormant steward: %v (loaded: %v); want done, nothing loaded", lease, n.stewardOf(xb) != nil)
	}
	if got := sent("digest"); got <= digests {
		t.Errorf("the primary sent %v digests to the returning steward, want one", got-digests)
	}
	if got := sent("full"); got != full {
		t.Errorf("the primary sent %v full copies to a steward that returned with the state", got-full)
	}

	// Asked directly: the primary's own digest, one with a wrong hash for a task and one
	// lacking a task, and a node that does not know the batch.
	l := p.stewardOf(p.getBatch(id))
	var d steward.Digest
	l.inspect(ctx, func(s *steward.Steward) { d.Tasks, d.Hashes = s.State().TaskHashes() })
	if len(d.Tasks) != 12 {
		t.Fatalf("the primary's digest lists %d tasks, want 12", len(d.Tasks))
	}
	wrong := steward.Digest{Tasks: d.Tasks, Hashes: slices.Clone(d.Hashes)}
	wrong.Hashes[3]++
	short := steward.Digest{Tasks: d.Tasks[1:], Hashes: d.Hashes[1:]}
	var epoch uint64 // the primary's: a digest carries it, as every copy does
	l.inspect(ctx, func(s *steward.Steward) { epoch = s.Epoch() })
	ask := func(to peer.ID, d steward.Digest) steward.CopySent {
		return l.sendDigest(ctx, steward.Copy{To: to, Full: true, Digest: &d, Epoch: epoch}).(steward.CopySent)
	}
	if a := ask(xid, d); a.Err != nil || a.Differs || len(a.Want) != 0 || len(a.Theirs) != 0 {
		t.Errorf("the primary's own digest: %+v", a)
	}
	if a := ask(xid, wrong); a.Err != nil || !slices.Equal(a.Want, []int{d.Tasks[3]}) || len(a.Theirs) != 1 || a.Theirs[0].Task != d.Tasks[3] {
		t.Errorf("a wrong hash for task %d: want %v, theirs %d, err %v", d.Tasks[3], a.Want, len(a.Theirs), a.Err)
	}
	if n.stewardOf(xb) == nil || wakes("digest") != 1 {
		t.Errorf("a digest that differs: x's state loaded %v, %v wakes; want it loaded once", n.stewardOf(xb) != nil, wakes("digest"))
	}
	if a := ask(xid, short); a.Err != nil || len(a.Want) != 0 || len(a.Theirs) != 1 || a.Theirs[0].Task != d.Tasks[0] {
		t.Errorf("a digest without task %d: want %v, theirs %d, err %v", d.Tasks[0], a.Want, len(a.Theirs), a.Err)
	}
	stranger := newTestNode(t)
	connectNodes(t, stranger, p)
	if a := ask(stranger.id, d); a.Err != nil || !a.Differs {
		t.Errorf("a node that does not know the batch: %+v", a)
	}
}
