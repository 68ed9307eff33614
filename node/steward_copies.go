package node

import (
	"context"
	"fmt"
	"time"

	"allforone/protocol"
	"allforone/protocol/pb"
	"allforone/tasks/steward"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

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
	if v := n.liveView(); !v.NearSteward(id, n.stewardCount(b), from) || !v.NearSteward(id, n.stewardCount(b), n.id) {
		return &protocol.WireError{Code: pb.ErrorCode_NOT_STEWARD, Message: "state copies go between the batch's stewards", Hint: n.otherSteward(b)}
	}
	states, err := n.decodeStates(b, d.GetTasks())
	if err != nil {
		return protocol.Errorf(pb.ErrorCode_BAD_REQUEST, "%v", err)
	}
	l, err := n.becomeSteward(ctx, b)
	if err != nil {
		return protocol.Errorf(pb.ErrorCode_INTERNAL, "%v", err)
	}
	return stewardErr(l.call(ctx, func(now time.Time, req steward.ReqID) steward.Input {
		return steward.StateCopy{Req: req, From: from, Now: now, Tasks: states}
	}))
}

// snapshotResp answers a pull with this node's whole state of batch id, signed.
func (n *Node) snapshotResp(ctx context.Context, id cid.Cid) *pb.StewardResponse {
	b := n.getBatch(id)
	if b == nil {
		return errResp(protocol.Errorf(pb.ErrorCode_UNKNOWN_BATCH, "%s", id))
	}
	l := n.stewardOf(b)
	if l == nil {
		return errResp(&protocol.WireError{Code: pb.ErrorCode_NOT_STEWARD, Message: "no state for " + id.String(), Hint: n.otherSteward(b)})
	}
	r, err := l.call(ctx, func(_ time.Time, req steward.ReqID) steward.Input { return steward.SnapshotQuery{Req: req} })
	if err := stewardErr(r, err); err != nil {
		return errResp(err)
	}
	snap := &pb.StateSnapshot{Manifest: b.raw, Tasks: r.Snapshot}
	if err := n.signState(id, snap); err != nil {
		return errResp(protocol.Errorf(pb.ErrorCode_INTERNAL, "%v", err))
	}
	return &pb.StewardResponse{Body: &pb.StewardResponse_Snapshot{Snapshot: snap}}
}

// pullFrom asks steward p for its whole state of b and returns it, verified.
func (n *Node) pullFrom(ctx context.Context, b *batch, p peer.ID) ([]steward.TaskCopy, error) {
	var resp pb.StewardResponse
	err := n.request(ctx, p, protocol.StewardProtocol(n.cfg.Swarm), protocol.MaxStewardMessage,
		&pb.StewardRequest{BatchId: b.id.Bytes(), Body: &pb.StewardRequest_Pull{Pull: &pb.StatePull{}}}, &resp)
	if err == nil {
		err = protocol.FromPB(resp.GetError())
	}
	if err != nil {
		return nil, err
	}
	if err := verifyState(p, b.id, resp.GetSnapshot()); err != nil {
		n.logs.steward.Warn("state snapshot with a bad signature", "batch", b.id.String(), "from", shortID(p), "err", err)
		return nil, err
	}
	states, err := n.decodeStates(b, resp.GetSnapshot().GetTasks())
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
