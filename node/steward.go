package node

import (
	"context"
	"errors"
	"time"

	"allforone/node/internal/p2p"
	"allforone/protocol"
	"allforone/protocol/pb"
	"allforone/tasks"
	"allforone/tasks/steward"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
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
	case *pb.StewardRequest_Pull:
		return n.snapshotResp(ctx, id)
	case *pb.StewardRequest_Status:
		return n.statusResp(ctx, id)
	}
	b := n.getBatch(id)
	if b == nil {
		return errResp(protocol.Errorf(pb.ErrorCode_UNKNOWN_BATCH, "%s", id))
	}
	l := n.stewardOf(b)
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
