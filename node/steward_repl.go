package node

import (
	"context"
	"sync"
	"time"

	"allforone/protocol"
	"allforone/protocol/pb"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Replication: the primary steward copies every changed task to the other stewards, and
// pushes accepted results to their holders. One loop per stewarded batch, woken by kicks
// (changes) and a ticker (lease expiry, retries, membership changes).

const (
	replicateEvery = time.Second
	// stewardSlack widens the steward set when checking who may copy state: two nodes'
	// views of the swarm may differ by a peer or two.
	stewardSlack = 2
	// maxTasksPerDelta splits a large state copy into several messages.
	maxTasksPerDelta = 4096
)

// startReplication starts b's replication loop once.
func (n *Node) startReplication(b *batch) {
	b.mu.Lock()
	if b.replicating {
		b.mu.Unlock()
		return
	}
	b.replicating = true
	b.mu.Unlock()
	n.goLoop("replicate "+b.id.String(), func(ctx context.Context) { n.replicateLoop(ctx, b) })
}

// kickBatch wakes b's replication loop.
func (n *Node) kickBatch(b *batch) {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

func (n *Node) replicateLoop(ctx context.Context, b *batch) {
	t := time.NewTicker(replicateEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			n.replicateOnce(context.Background(), b, false) // flush what is dirty
			return
		case <-b.kick:
			n.replicateOnce(ctx, b, false)
		case <-t.C:
			n.replicateOnce(ctx, b, true)
		}
	}
}

// replicateOnce persists and copies b's changed tasks, and stores accepted results. On a
// tick it also expires leases and checks that accepted results have K live holders.
func (n *Node) replicateOnce(ctx context.Context, b *batch, tick bool) {
	if tick {
		// Take the primary role when the swarm says so, even if no worker asks: a
		// finished batch still needs its results kept at K copies.
		n.actAsPrimary(ctx, b)
		b.mu.Lock()
		if b.st != nil && b.primary {
			b.st.Expire(time.Now())
			b.st.ReleaseGone(n.live)
			// Holders leave: keep K copies of every accepted result, counting a holder that
			// left less than RepairGrace ago while two copies are live (it comes back with
			// its data; copying at once under churn was a storm that starved the restarts).
			b.needStore = append(b.needStore, b.st.UnderReplicated(int(max(b.m.Replication, 1)), n.liveView().State)...)
		}
		b.mu.Unlock()
	}
	if n.copyState(ctx, b) {
		n.storeAccepted(ctx, b)
	}
}

// copyState persists b's changed tasks and, on the primary, copies them to the other
// stewards, waiting for their answers. It reports whether this node is b's primary.
func (n *Node) copyState(ctx context.Context, b *batch) bool {
	b.mu.Lock()
	st := b.st
	if st == nil {
		b.mu.Unlock()
		return false
	}
	dirty := st.TakeDirty()
	states := make([]*pb.TaskState, len(dirty))
	for k, i := range dirty {
		states[k] = st.TaskStateToPB(i)
	}
	primary := b.primary
	b.mu.Unlock()

	if len(states) > 0 {
		if err := n.saveTaskStates(ctx, b, states); err != nil {
			n.log.Error("persist steward state", "batch", b.id.String(), "err", err)
		}
	}
	if !primary {
		return false
	}
	var wg sync.WaitGroup
	for _, p := range n.stewardsOf(b)[1:] {
		b.mu.Lock()
		full := !b.sentTo[p]
		b.mu.Unlock()
		if !full && len(states) == 0 {
			continue
		}
		wg.Add(1)
		go func(p peer.ID, full bool) {
			defer wg.Done()
			n.sendDelta(ctx, b, p, full, states)
		}(p, full)
	}
	wg.Wait()
	return true
}

// sendDelta copies states to p; full sends the manifest and every task with state.
func (n *Node) sendDelta(ctx context.Context, b *batch, p peer.ID, full bool, states []*pb.TaskState) {
	var manifest []byte
	if full {
		manifest, states = b.raw, n.allTaskStates(b)
	}
	var err error
	for first := true; first || len(states) > 0; first = false {
		k := min(len(states), maxTasksPerDelta)
		d := &pb.StateDelta{Manifest: manifest, Tasks: states[:k]}
		states, manifest = states[k:], nil
		if err = n.signState(b.id, d); err != nil {
			break
		}
		var resp pb.StewardResponse
		err = n.request(ctx, p, protocol.StewardProtocol(n.cfg.Swarm), protocol.MaxStewardMessage,
			&pb.StewardRequest{BatchId: b.id.Bytes(), Body: &pb.StewardRequest_Delta{Delta: d}}, &resp)
		if err == nil {
			err = protocol.FromPB(resp.GetError())
		}
		if err != nil {
			break
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err != nil {
		n.log.Debug("state copy failed", "batch", b.id.String(), "to", shortID(p), "err", err)
		b.sentTo[p] = false // send everything next time
		return
	}
	b.sentTo[p] = true
}

// allTaskStates encodes every task that has any state.
func (n *Node) allTaskStates(b *batch) []*pb.TaskState {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []*pb.TaskState
	for i := range b.st.NumTasks() {
		t := b.st.Task(i)
		if len(t.Results) > 0 || len(t.Leases) > 0 || len(t.Holders) > 0 {
			out = append(out, b.st.TaskStateToPB(i))
		}
	}
	return out
}

// applyDelta merges another steward's copy.
func (n *Node) applyDelta(ctx context.Context, from peer.ID, id cid.Cid, d *pb.StateDelta) error {
	if err := verifyState(from, id, d); err != nil {
		return &protocol.WireError{Code: pb.ErrorCode_BAD_SIGNATURE, Message: err.Error()}
	}
	b := n.getBatch(id)
	if b == nil {
		if len(d.GetManifest()) == 0 {
			return protocol.Errorf(pb.ErrorCode_UNKNOWN_BATCH, "%s: send the manifest", id)
		}
		var err error
		if b, _, err = n.addBatch(ctx, d.GetManifest()); err != nil {
			return protocol.Errorf(pb.ErrorCode_BAD_REQUEST, "%v", err)
		}
		if !b.id.Equals(id) {
			return protocol.Errorf(pb.ErrorCode_BAD_REQUEST, "manifest is batch %s, not %s", b.id, id)
		}
	}
	// Only a steward copies state, and only to stewards: both must be among the batch's
	// closest peers (with some slack for differing views of the swarm).
	if v := n.liveView(); !v.NearSteward(id, n.stewardCount(b), from) || !v.NearSteward(id, n.stewardCount(b), n.id) {
		return &protocol.WireError{Code: pb.ErrorCode_NOT_STEWARD, Message: "state copies go between the batch's stewards", Hint: n.otherSteward(b)}
	}
	if _, err := n.becomeSteward(ctx, b); err != nil {
		return protocol.Errorf(pb.ErrorCode_INTERNAL, "%v", err)
	}
	return n.mergeStates(ctx, b, d.GetTasks())
}

// mergeStates verifies and merges task states into b's state and persists what changed.
func (n *Node) mergeStates(ctx context.Context, b *batch, states []*pb.TaskState) error {
	var changed []*pb.TaskState
	b.mu.Lock()
	for _, p := range states {
		i, t, err := b.st.TaskStateFromPB(p)
		if err != nil {
			b.mu.Unlock()
			return protocol.Errorf(pb.ErrorCode_BAD_REQUEST, "%v", err)
		}
		c := b.st.Merge(i, t)
		if c.Added {
			changed = append(changed, b.st.TaskStateToPB(i))
		}
		if c.Accepted && b.primary {
			b.needStore = append(b.needStore, i)
		}
	}
	b.mu.Unlock()
	if len(changed) > 0 {
		return n.saveTaskStates(ctx, b, changed)
	}
	return nil
}

// pullState merges the copies of the other stewards into b's state (a new primary does
// this before it hands out leases).
func (n *Node) pullState(ctx context.Context, b *batch, from []peer.ID) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, p := range from {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var resp pb.StewardResponse
			err := n.request(ctx, p, protocol.StewardProtocol(n.cfg.Swarm), protocol.MaxStewardMessage,
				&pb.StewardRequest{BatchId: b.id.Bytes(), Body: &pb.StewardRequest_Pull{Pull: &pb.StatePull{}}}, &resp)
			if err == nil {
				err = protocol.FromPB(resp.GetError())
			}
			if err != nil {
				n.log.Debug("pull state", "batch", b.id.String(), "from", shortID(p), "err", err)
				return
			}
			if err := verifyState(p, b.id, resp.GetSnapshot()); err != nil {
				n.log.Warn("state snapshot with a bad signature", "batch", b.id.String(), "from", shortID(p), "err", err)
				return
			}
			if err := n.mergeStates(ctx, b, resp.GetSnapshot().GetTasks()); err != nil {
				n.log.Warn("bad state from steward", "batch", b.id.String(), "from", shortID(p), "err", err)
			}
		}()
	}
	wg.Wait()
}

func (n *Node) snapshotResp(id cid.Cid) *pb.StewardResponse {
	b := n.getBatch(id)
	if b == nil {
		return errResp(protocol.Errorf(pb.ErrorCode_UNKNOWN_BATCH, "%s", id))
	}
	b.mu.Lock()
	has := b.st != nil
	b.mu.Unlock()
	if !has {
		return errResp(&protocol.WireError{Code: pb.ErrorCode_NOT_STEWARD, Message: "no state for " + id.String(), Hint: n.otherSteward(b)})
	}
	snap := &pb.StateSnapshot{Manifest: b.raw, Tasks: n.allTaskStates(b)}
	if err := n.signState(id, snap); err != nil {
		return errResp(protocol.Errorf(pb.ErrorCode_INTERNAL, "%v", err))
	}
	return &pb.StewardResponse{Body: &pb.StewardResponse_Snapshot{Snapshot: snap}}
}
