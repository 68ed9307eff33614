package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"allforone/node/internal/p2p"
	"allforone/protocol"
	"allforone/protocol/pb"
	"allforone/tasks"
	"allforone/tasks/steward"
)

// The steward side of the steward protocol. A request is checked and translated here into
// an input of the batch's steward core (tasks/steward), which decides (a lease is granted
// in steward.lease); its driver (steward_loop.go) answers.

const (
	maxLeasesPerGrant = protocol.MaxLeasesPerGrant
	maxListedBatches  = protocol.MaxListedBatches
	// maxLeasesPerWorker bounds the leases one worker holds in one batch.
	maxLeasesPerWorker = 32
)

// leaseDuration is how long a lease on a task of m holds: twice the task's time limit plus
// time to fetch the module and the input.
func leaseDuration(m *tasks.Manifest) time.Duration { return protocol.LeaseDuration(m.Limits.Timeout) }

func (n *Node) handleSteward(ctx context.Context, from peer.ID, req *pb.StewardRequest) *pb.StewardResponse {
	if !n.allow(from, p2p.LimitRequest) {
		return errResp(protocol.Errorf(pb.ErrorCode_RATE_LIMITED, "slow down"))
	}
	if l := req.GetList(); l != nil {
		return &pb.StewardResponse{Body: &pb.StewardResponse_Batches{Batches: n.runningManifests()}}
	}
	id, err := cid.Cast(req.GetBatchId())
	if err != nil {
		return errResp(protocol.Errorf(pb.ErrorCode_BAD_REQUEST, "batch ID: %v", err))
	}
	switch body := req.Body.(type) {
	case *pb.StewardRequest_Adopt:
		if !tasks.ContentID(body.Adopt.GetManifest()).Equals(id) {
			return errResp(protocol.Errorf(pb.ErrorCode_BAD_REQUEST, "the manifest is not batch %s", id))
		}
		return errResp(n.adopt(ctx, from, body.Adopt.GetManifest()))
	case *pb.StewardRequest_Delta:
		return errResp(n.applyDelta(ctx, from, id, body.Delta))
	case *pb.StewardRequest_Digest:
		return n.digestResp(ctx, from, id, body.Digest)
	case *pb.StewardRequest_Pull:
		return n.snapshotResp(ctx, id)
	case *pb.StewardRequest_Status:
		return n.statusResp(ctx, id)
	case *pb.StewardRequest_Vote:
		return n.voteResp(ctx, from, id, body.Vote) // steward_fence.go
	}
	b := n.getBatch(id)
	if b == nil {
		return errResp(protocol.Errorf(pb.ErrorCode_UNKNOWN_BATCH, "%s", id))
	}
	dormant := b.dormant.Load() // before the loop: wake stores the loop, then clears dormant
	l := n.stewardOf(b)
	if l == nil && dormant {
		if req.GetLease() != nil {
			return dormantLease() // dormant.go: finished, nothing to load
		}
		if l, err = n.wake(ctx, b, "request"); err != nil {
			return errResp(protocol.Errorf(pb.ErrorCode_INTERNAL, "%v", err))
		}
	}
	if l == nil {
		// Not a steward yet: take the role only if this node's view says it is primary.
		if p := n.stewardsOf(b)[0]; p != n.id {
			return errResp(&protocol.WireError{Code: pb.ErrorCode_NOT_STEWARD, Hint: p, Message: "ask " + p.String()})
		}
		if l, err = n.becomeSteward(ctx, b); err != nil {
			return errResp(protocol.Errorf(pb.ErrorCode_INTERNAL, "%v", err))
		}
	}
	switch body := req.Body.(type) {
	case *pb.StewardRequest_Lease:
		return n.lease(ctx, l, from, body.Lease)
	case *pb.StewardRequest_Renew:
		return errResp(stewardErr(l.call(ctx, func(now time.Time, r steward.ReqID) steward.Input {
			return steward.Renew{Req: r, From: from, Now: now, Tasks: toInts(body.Renew.GetTasks())}
		})))
	case *pb.StewardRequest_Return:
		return errResp(stewardErr(l.call(ctx, func(now time.Time, r steward.ReqID) steward.Input {
			return steward.Return{Req: r, From: from, Now: now, Tasks: toInts(body.Return.GetTasks())}
		})))
	case *pb.StewardRequest_Complete:
		return errResp(n.complete(ctx, l, from, body.Complete))
	}
	return errResp(protocol.Errorf(pb.ErrorCode_BAD_REQUEST, "unknown steward request"))
}

// lease asks the core for leases. An empty grant to a worker that asks again and again for
// nothing (one that ignores retry_after, or one hoarding leases it never runs) is what the
// lease limit counts; a fast honest worker gets leases every time it asks.
func (n *Node) lease(ctx context.Context, l *stewardLoop, from peer.ID, lr *pb.LeaseRequest) *pb.StewardResponse {
	blobs := lr.GetMax() > 0 && n.hasBatchBlobs(ctx, l.b)
	r, err := l.call(ctx, func(now time.Time, req steward.ReqID) steward.Input {
		return steward.LeaseRequest{Req: req, From: from, Now: now, Max: int(lr.GetMax()), HoldingSet: lr.GetHoldingSet(),
			Holding: toInts(lr.GetHolding()), MemoryMB: lr.GetMemoryMb(), BlobsHere: blobs}
	})
	if err := stewardErr(r, err); err != nil {
		return errResp(err)
	}
	g := r.Grant
	if r.Empty && !n.allow(from, p2p.LimitLease) {
		return errResp(protocol.Errorf(pb.ErrorCode_RATE_LIMITED, "slow down: wait retry_after_ms between empty lease requests"))
	}
	return &pb.StewardResponse{Body: &pb.StewardResponse_Grant{Grant: g}}
}

// complete checks finished tasks from a worker (the records are signed by it, of this
// batch, within its limits, their outputs match and are stored here) and hands them to the
// core, which answers once the accepted results are on their holders and the state is
// copied to the other stewards.
func (n *Node) complete(ctx context.Context, l *stewardLoop, from peer.ID, c *pb.Complete) error {
	b := l.b
	recs := c.GetRecords()
	if len(c.GetOutputs()) != len(recs) {
		return protocol.Errorf(pb.ErrorCode_BAD_REQUEST, "%d records but %d outputs", len(recs), len(c.GetOutputs()))
	}
	var checked []tasks.ResultRecord
	notes := make(map[int]tasks.FailureNote) // by task: what the worker says about its failures
	for i, p := range recs {
		r, err := tasks.ResultFromPB(p)
		if err != nil {
			return protocol.Errorf(pb.ErrorCode_BAD_REQUEST, "%v", err)
		}
		if r.Executor != from || !r.Batch.Equals(b.id) || r.Task >= b.m.NumTasks() {
			return protocol.Errorf(pb.ErrorCode_BAD_REQUEST, "record for task %d of %s by %s sent by %s", r.Task, r.Batch, r.Executor, from)
		}
		if r.OutputSize > b.m.Limits.MaxOutputBytes {
			return protocol.Errorf(pb.ErrorCode_TOO_LARGE, "output of task %d is %d bytes, over the batch's %d", r.Task, r.OutputSize, b.m.Limits.MaxOutputBytes)
		}
		if err := r.Verify(); err != nil {
			return protocol.Errorf(pb.ErrorCode_BAD_SIGNATURE, "%v", err)
		}
		if r.OK() {
			out := c.GetOutputs()[i]
			if !tasks.ContentID(out).Equals(r.Output) || uint64(len(out)) != r.OutputSize {
				return protocol.Errorf(pb.ErrorCode_BAD_REQUEST, "output of task %d does not match its record", r.Task)
			}
			if _, err := n.blobs.Put(ctx, out); err != nil {
				return protocol.Errorf(pb.ErrorCode_INTERNAL, "store output: %v", err)
			}
		}
		checked = append(checked, r)
		if i < len(c.GetNotes()) && !r.OK() {
			if note := c.GetNotes()[i]; note.GetDetail() != "" || len(note.GetStderr()) > 0 {
				notes[r.Task] = tasks.FailureNote{Executor: from, Detail: note.GetDetail(), Stderr: string(note.GetStderr())}
			}
		}
	}
	return stewardErr(l.call(ctx, func(now time.Time, req steward.ReqID) steward.Input {
		return steward.Complete{Req: req, From: from, Now: now, Records: checked, Notes: notes}
	}))
}

// stewardErr is the error of a call to a steward loop: the loop's, or the core's answer.
func stewardErr(r steward.Reply, err error) error {
	switch {
	case errors.Is(err, errStewardStopped):
		return protocol.Errorf(pb.ErrorCode_UNAVAILABLE, "%v", err)
	case err != nil:
		return protocol.Errorf(pb.ErrorCode_INTERNAL, "%v", err)
	}
	return r.Err
}

// runningManifests lists the manifests of batches that may still need work.
func (n *Node) runningManifests() *pb.BatchList {
	out := &pb.BatchList{}
	now := time.Now()
	for _, b := range n.listBatches() {
		b.mu.Lock()
		done := b.workDone
		b.mu.Unlock()
		done = done || n.stewardDone(b)
		if !done && now.Before(b.m.Deadline) && len(out.Manifests) < maxListedBatches {
			out.Manifests = append(out.Manifests, b.raw)
		}
	}
	return out
}

func errResp(err error) *pb.StewardResponse {
	if err == nil {
		return ack()
	}
	return &pb.StewardResponse{Error: protocol.ToPB(err)}
}

func ack() *pb.StewardResponse {
	return &pb.StewardResponse{Body: &pb.StewardResponse_Ack{Ack: &pb.Ack{}}}
}

func toInts(u []uint32) []int {
	out := make([]int, len(u))
	for i, v := range u {
		out[i] = int(v)
	}
	return out
}

// otherSteward is the closest live steward of b other than this node, as a hint.
func (n *Node) otherSteward(b *batch) peer.ID {
	return n.liveView().OtherSteward(b.id, n.stewardCount(b))
}

// State copies between stewards: the primary copies every changed task to the other
// stewards (StateDelta), a new primary pulls their copies (StatePull -> StateSnapshot).
// Both are signed by their sender (signState, below).

// maxTasksPerDelta splits a large state copy into several messages.
const maxTasksPerDelta = protocol.MaxTasksPerDelta

// applyDelta merges another steward's copy. Only a steward copies state, and only to
// stewards: both must be among the batch's closest peers (with some slack for differing
// views of the swarm).
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
	if err := n.bothStewards(b, from); err != nil {
		return err
	}
	states, err := n.decodeStates(b, d.GetTasks())
	if err != nil {
		return protocol.Errorf(pb.ErrorCode_BAD_REQUEST, "%v", err)
	}
	voters, err := steward.VotersFromPB(d.GetVotingSet())
	if err != nil {
		return protocol.Errorf(pb.ErrorCode_BAD_REQUEST, "%v", err)
	}
	if _, err := n.wake(ctx, b, "copy"); err != nil {
		return protocol.Errorf(pb.ErrorCode_INTERNAL, "%v", err)
	}
	l, err := n.becomeSteward(ctx, b)
	if err != nil {
		return protocol.Errorf(pb.ErrorCode_INTERNAL, "%v", err)
	}
	return stewardErr(l.call(ctx, func(now time.Time, req steward.ReqID) steward.Input {
		return steward.StateCopy{Req: req, From: from, Now: now, Tasks: states, Epoch: d.GetEpoch(), Voters: voters}
	}))
}

// bothStewards checks that from and this node are both stewards of b in this node's view
// (the K + 2 closest live members): state copies and digests go only between stewards.
// Under primary leases the core checks instead (a copy from the primary this node voted
// for, at the epoch it voted for, whatever the view: the view of the peers this node is
// connected to says nothing in a swarm larger than them).
func (n *Node) bothStewards(b *batch, from peer.ID) error {
	if n.cfg.PrimaryLeases {
		return nil
	}
	if v := n.liveView(); !v.NearSteward(b.id, n.stewardCount(b), from) || !v.NearSteward(b.id, n.stewardCount(b), n.id) {
		return &protocol.WireError{Code: pb.ErrorCode_NOT_STEWARD, Message: "state copies go between the batch's stewards", Hint: n.otherSteward(b)}
	}
	return nil
}

// digestResp answers how this node's state of batch id differs from the primary's
// digest, task by task (a steward of a finished batch that returns to the set then gets no
// full copy). A node that does not know the batch says so; the primary then sends the
// whole state.
func (n *Node) digestResp(ctx context.Context, from peer.ID, id cid.Cid, d *pb.StateDigest) *pb.StewardResponse {
	b := n.getBatch(id)
	if b == nil {
		return errResp(protocol.Errorf(pb.ErrorCode_UNKNOWN_BATCH, "%s: send the whole state", id))
	}
	if err := n.bothStewards(b, from); err != nil {
		return errResp(err)
	}
	if n.dormantDigestMatches(ctx, b, d) {
		return &pb.StewardResponse{Body: &pb.StewardResponse_Digest{Digest: &pb.DigestMatch{}}}
	}
	if _, err := n.wake(ctx, b, "digest"); err != nil {
		return errResp(protocol.Errorf(pb.ErrorCode_INTERNAL, "%v", err))
	}
	l, err := n.becomeSteward(ctx, b)
	if err != nil {
		return errResp(protocol.Errorf(pb.ErrorCode_INTERNAL, "%v", err))
	}
	r, err := l.call(ctx, func(now time.Time, req steward.ReqID) steward.Input {
		return steward.DigestQuery{Req: req, From: from, Now: now, Digest: steward.Digest{Tasks: toInts(d.GetTasks()), Hashes: d.GetHashes()}, Epoch: d.GetEpoch()}
	})
	if err := stewardErr(r, err); err != nil {
		return errResp(err)
	}
	m := &pb.DigestMatch{}
	for _, i := range r.Want {
		m.Want = append(m.Want, uint32(i))
	}
	if len(r.Differing) > 0 {
		m.Differing = &pb.StateSnapshot{Tasks: r.Differing}
		if err := n.signState(id, m.Differing); err != nil {
			return errResp(protocol.Errorf(pb.ErrorCode_INTERNAL, "%v", err))
		}
	}
	return &pb.StewardResponse{Body: &pb.StewardResponse_Digest{Digest: m}}
}

// sendDigest asks steward c.To how its state differs from c.Digest (steward.Copy) and
// returns what it wants and its own states of the tasks that differ, verified. An answer
// that it does not know the batch or the request (an older peer) reads as Differs: the
// whole state follows.
func (l *stewardLoop) sendDigest(ctx context.Context, c steward.Copy) steward.Input {
	n, b := l.n, l.b
	d := &pb.StateDigest{Epoch: c.Epoch, Hashes: c.Digest.Hashes}
	for _, i := range c.Digest.Tasks {
		d.Tasks = append(d.Tasks, uint32(i))
	}
	m, err := n.stewardClient.Digest(ctx, c.To, b.id, d)
	var we *protocol.WireError
	if errors.As(err, &we) && (we.Code == pb.ErrorCode_UNKNOWN_BATCH || we.Code == pb.ErrorCode_BAD_REQUEST) {
		return steward.CopySent{To: c.To, Seq: c.Seq, Full: c.Full, Differs: true}
	}
	ack := steward.CopySent{To: c.To, Seq: c.Seq, Full: c.Full, Err: err}
	if err != nil {
		return ack
	}
	ack.Want = toInts(m.GetWant())
	if m.GetDiffering() != nil {
		ack.Theirs, ack.Err = n.snapshotStates(b, c.To, m.GetDiffering())
	}
	return ack
}

// snapshotResp answers a pull with this node's whole state of batch id, signed.
func (n *Node) snapshotResp(ctx context.Context, id cid.Cid) *pb.StewardResponse {
	b := n.getBatch(id)
	if b == nil {
		return errResp(protocol.Errorf(pb.ErrorCode_UNKNOWN_BATCH, "%s", id))
	}
	l, err := n.wake(ctx, b, "pull")
	if err != nil {
		return errResp(protocol.Errorf(pb.ErrorCode_INTERNAL, "%v", err))
	}
	if l == nil {
		return errResp(&protocol.WireError{Code: pb.ErrorCode_NOT_STEWARD, Message: "no state for " + id.String(), Hint: n.otherSteward(b)})
	}
	r, err := l.call(ctx, func(_ time.Time, req steward.ReqID) steward.Input { return steward.SnapshotQuery{Req: req} })
	if err := stewardErr(r, err); err != nil {
		return errResp(err)
	}
	snap := &pb.StateSnapshot{Manifest: b.raw, Tasks: r.Snapshot, Epoch: r.Epoch, VotingSet: r.Voters.PB()}
	if err := n.signState(id, snap); err != nil {
		return errResp(protocol.Errorf(pb.ErrorCode_INTERNAL, "%v", err))
	}
	return &pb.StewardResponse{Body: &pb.StewardResponse_Snapshot{Snapshot: snap}}
}

// pullFrom asks steward p for its whole state of b and returns it, verified, with the
// primary epoch p promised and its voting set.
func (n *Node) pullFrom(ctx context.Context, b *batch, p peer.ID) steward.Pulled {
	var resp pb.StewardResponse
	err := n.request(ctx, p, protocol.StewardProtocol(n.cfg.Swarm), protocol.MaxStewardMessage,
		&pb.StewardRequest{BatchId: b.id.Bytes(), Body: &pb.StewardRequest_Pull{Pull: &pb.StatePull{}}}, &resp)
	if err == nil {
		err = protocol.FromPB(resp.GetError())
	}
	if err != nil {
		return steward.Pulled{From: p, Err: err}
	}
	snap := resp.GetSnapshot()
	ts, err := n.snapshotStates(b, p, snap)
	if err != nil {
		return steward.Pulled{From: p, Err: err}
	}
	voters, err := steward.VotersFromPB(snap.GetVotingSet())
	if err != nil {
		return steward.Pulled{From: p, Err: fmt.Errorf("state of %s from %s: %w", b.id, shortID(p), err)}
	}
	return steward.Pulled{From: p, Tasks: ts, Epoch: snap.GetEpoch(), Voters: voters}
}

// snapshotStates checks that snap is signed by steward p and decodes its task states of b,
// verifying their records.
func (n *Node) snapshotStates(b *batch, p peer.ID, snap *pb.StateSnapshot) ([]steward.TaskCopy, error) {
	if err := verifyState(p, b.id, snap); err != nil {
		n.logs.steward.Warn("state snapshot with a bad signature", "batch", b.id.String(), "from", shortID(p), "err", err)
		return nil, err
	}
	states, err := n.decodeStates(b, snap.GetTasks())
	if err != nil {
		n.logs.steward.Warn("bad state from steward", "batch", b.id.String(), "from", shortID(p), "err", err)
		return nil, fmt.Errorf("state of %s from %s: %w", b.id, shortID(p), err)
	}
	return states, nil
}

// pullInto merges the copies of the given stewards into b's state (a node that lost data
// resyncs so) and returns once they are merged.
func (n *Node) pullInto(ctx context.Context, l *stewardLoop, from []peer.ID) {
	l.post(l.pull(ctx, from)...)
	l.inspect(ctx, func(*steward.Steward) {}) // the merges are stepped before this runs
}

// Steward state copies are signed by the steward that sends them and checked against the
// sender's peer ID on receipt, like manifests and result records. What the signature
// covers is the protocol's (protocol.StateSignedBytes).

// signState signs a StateDelta or StateSnapshot of batch with this node's key.
func (n *Node) signState(batch cid.Cid, m protocol.StateCopy) error {
	b, err := protocol.StateSignedBytes(batch, m)
	if err != nil {
		return err
	}
	sig, err := n.sk.Sign(b)
	if err != nil {
		return err
	}
	return protocol.SetStateSignature(m, sig)
}

// verifyState checks a state message's signature against its sender.
func verifyState(from peer.ID, batch cid.Cid, m protocol.StateCopy) error {
	pk, err := from.ExtractPublicKey()
	if err != nil || pk.Type() != crypto.Ed25519 {
		return fmt.Errorf("state copy from %s: no Ed25519 key in the peer ID", shortID(from))
	}
	b, err := protocol.StateSignedBytes(batch, m)
	if err != nil {
		return err
	}
	if ok, err := pk.Verify(b, m.GetSignature()); err != nil || !ok {
		return fmt.Errorf("state copy from %s: the signature does not verify", shortID(from))
	}
	return nil
}
