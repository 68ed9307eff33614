package node

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"allforone/protocol"
	"allforone/protocol/pb"
	"allforone/tasks/steward"
	"allforone/tasks/wasmtest"
)

// newFencedNode starts a test node whose stewards use primary leases.
func newFencedNode(t *testing.T, opts ...Option) *Node {
	t.Helper()
	cfg := TestConfig(filepath.Join(t.TempDir(), "n"))
	cfg.PrimaryLeases = true
	return startTestNode(t, cfg, nil, opts...)
}

// primaryEpoch is the primary epoch node n holds for batch id now, 0 when it holds none.
func primaryEpoch(ctx context.Context, n *Node, id cid.Cid) (epoch uint64) {
	b := n.getBatch(id)
	if b == nil {
		return 0
	}
	if l := n.stewardOf(b); l != nil {
		l.inspect(ctx, func(s *steward.Steward) { epoch = s.Epoch() })
	}
	return epoch
}

// One fenced primary per batch, over real loopback sockets: a primary holds a lease its
// stewards voted for, with an epoch that no other node ever holds; when it crashes, another
// steward takes over with a higher epoch once the votes for the first ran out, and the
// batch finishes with nothing lost.
func TestOneFencedPrimaryPerBatch(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	nodes := make([]*Node, 4)
	for i := range nodes {
		nodes[i] = newFencedNode(t)
		for _, o := range nodes[:i] {
			connectNodes(t, nodes[i], o)
		}
	}
	const tasks = 30
	id := submitTasks(t, ctx, nodes[0], "spin", wasmtest.Spin(50_000_000), tasks, 3)

	// Every node's epoch, sampled until the end: each epoch has one holder.
	var mu sync.Mutex
	holders := map[uint64]peer.ID{}
	var twice []string
	alive := func() []*Node {
		mu.Lock()
		defer mu.Unlock()
		var out []*Node
		for _, n := range nodes {
			if n != nil {
				out = append(out, n)
			}
		}
		return out
	}
	record := func(n *Node, e uint64) {
		mu.Lock()
		defer mu.Unlock()
		if h, ok := holders[e]; ok && h != n.id {
			twice = append(twice, h.String()+" and "+n.id.String())
		}
		holders[e] = n.id
	}
	sample := func() {
		for _, n := range alive() {
			if e := primaryEpoch(ctx, n, id); e > 0 {
				record(n, e)
			}
		}
	}
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
				sample()
			}
		}
	}()
	defer func() { close(stop); sampler.Wait() }()

	var first *Node
	var epoch uint64
	deadlineFor(t, ctx, "a node to hold the primary lease", func() bool {
		for _, n := range alive() {
			if e := primaryEpoch(ctx, n, id); e > 0 {
				first, epoch = n, e
				record(n, e)
				return true
			}
		}
		return false
	})
	// The primary crashes: it hands nothing over.
	mu.Lock()
	for i, n := range nodes {
		if n == first {
			nodes[i] = nil
		}
	}
	mu.Unlock()
	first.fail(errors.New("test: a crash"))
	first.Close()

	var second *Node
	deadlineFor(t, ctx, "another steward to take the primary lease with a higher epoch", func() bool {
		for _, n := range alive() {
			if e := primaryEpoch(ctx, n, id); e > epoch {
				second = n
				record(n, e)
				return true
			}
		}
		return false
	})
	deadlineFor(t, ctx, "the three survivors to hold every result", func() bool {
		for _, n := range alive() {
			if n.HeldResults(id) != tasks {
				return false
			}
		}
		return true
	})
	sample()
	mu.Lock()
	defer mu.Unlock()
	if len(twice) > 0 {
		t.Fatalf("an epoch had two holders: %v", twice)
	}
	if holders[epoch] != first.id || second == first {
		t.Fatalf("epoch %d's holder is %s, want the first primary %s", epoch, holders[epoch], first.id)
	}
	st, err := second.Status(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if st.Done != tasks || st.State != "complete" {
		t.Fatalf("the new primary's status: %s, %d of %d done; want complete", st.State, st.Done, tasks)
	}
}

// A peer that claims an epoch it does not hold is refused: a state copy under an epoch
// the steward never granted, a vote below the one it promised, and a vote for an epoch
// promised to another peer all get FENCED with the epoch it promised.
func TestFencedEpochsRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	a, b := newFencedNode(t), newFencedNode(t)
	connectNodes(t, a, b)
	id := submitTasks(t, ctx, a, "echo", wasmtest.Echo(), 4, 2)
	var primary, other *Node
	var epoch uint64
	deadlineFor(t, ctx, "a primary lease", func() bool {
		for _, n := range []*Node{a, b} {
			if e := primaryEpoch(ctx, n, id); e > 0 {
				primary, epoch = n, e
				return true
			}
		}
		return false
	})
	other = a
	if primary == a {
		other = b
	}
	liar := newFencedNode(t)
	connectNodes(t, liar, other)
	connectNodes(t, liar, primary)
	fenced := func(what string, err error, wantEpoch uint64) {
		t.Helper()
		var we *protocol.WireError
		if !errors.As(err, &we) || we.Code != pb.ErrorCode_FENCED && we.Code != pb.ErrorCode_NOT_STEWARD {
			t.Fatalf("%s: %v, want FENCED (or NOT_STEWARD)", what, err)
		}
		if we.Code == pb.ErrorCode_FENCED && we.Epoch < wantEpoch {
			t.Fatalf("%s: FENCED with epoch %d, want at least %d", what, we.Epoch, wantEpoch)
		}
	}
	// A vote for the primary's epoch, asked by another peer: one holder per epoch.
	_, err := liar.stewardClient.Vote(ctx, other.id, id, epoch, steward.DefaultPrimaryLease, nil, nil)
	fenced("a vote for an epoch granted to another", err, epoch)
	// A vote below it.
	_, err = primary.stewardClient.Vote(ctx, other.id, id, epoch-1, steward.DefaultPrimaryLease, nil, nil)
	if epoch > 1 {
		fenced("a stale vote", err, epoch)
	}
	// A state copy under an epoch the steward never granted.
	d := &pb.StateDelta{Epoch: epoch + 7}
	if err := liar.signState(id, d); err != nil {
		t.Fatal(err)
	}
	var resp pb.StewardResponse
	err = liar.request(ctx, other.id, protocol.StewardProtocol(liar.cfg.Swarm), protocol.MaxStewardMessage,
		&pb.StewardRequest{BatchId: id.Bytes(), Body: &pb.StewardRequest_Delta{Delta: d}}, &resp)
	if err == nil {
		err = protocol.FromPB(resp.GetError())
	}
	fenced("a copy under an epoch nobody was granted", err, epoch)
	if e := primaryEpoch(ctx, primary, id); e != epoch {
		t.Fatalf("the primary's epoch went from %d to %d", epoch, e)
	}
}

// A batch of K=2 under primary leases votes among three stewards (steward.MinVoters): when
// its primary crashes with tasks still open, the two others are a majority, and one of them
// takes over with a higher epoch and finishes the batch. With two voters the survivor
// alone is no majority and the batch would stop until the crashed node came back.
func TestFencedK2OutlivesItsPrimary(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	gate := make(chan struct{}) // no result is recorded before the crash
	hold := WithTestHooks(TestHooks{TaskGate: func(ctx context.Context, _ int) {
		select {
		case <-gate:
		case <-ctx.Done():
		}
	}})
	nodes := make([]*Node, 3)
	for i := range nodes {
		nodes[i] = newFencedNode(t, hold)
		for _, o := range nodes[:i] {
			connectNodes(t, nodes[i], o)
		}
	}
	const n = 40
	id := submitTasks(t, ctx, nodes[0], "echo", wasmtest.Echo(), n, 2)
	var first *Node
	var epoch uint64
	deadlineFor(t, ctx, "a node to hold the primary lease", func() bool {
		for _, x := range nodes {
			if e := primaryEpoch(ctx, x, id); e > 0 {
				first, epoch = x, e
				return true
			}
		}
		return false
	})
	first.fail(errors.New("test: a crash"))
	first.Close()
	close(gate)
	var rest []*Node
	for _, x := range nodes {
		if x != first {
			rest = append(rest, x)
		}
	}
	deadlineFor(t, ctx, "a survivor to take the primary lease with a higher epoch and finish the batch", func() bool {
		for _, x := range rest {
			if st, err := x.Status(ctx, id); err == nil && st.State == "complete" && st.Done == n && primaryEpoch(ctx, x, id) > epoch {
				return true
			}
		}
		return false
	})
}
