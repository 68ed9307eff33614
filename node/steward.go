package node

import (
	"context"
	"fmt"
	"time"

	"allforone/protocol"
	"allforone/protocol/pb"
	"allforone/tasks"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// The steward side of the steward protocol: leases, completions, state copies, status.

const (
	leaseRetryAfter   = 250 * time.Millisecond // what a steward with nothing to lease tells a worker
	maxLeasesPerGrant = 64
	maxListedBatches  = 64
)

// leaseDuration is how long a lease on a task of m holds: twice the task's time limit plus
// time to fetch the module and the input.
func leaseDuration(m *tasks.Manifest) time.Duration { return 2*m.Limits.Timeout + 10*time.Second }

func (n *Node) handleSteward(ctx context.Context, from peer.ID, req *pb.StewardRequest) *pb.StewardResponse {
	if !n.allow(from, limitRequest) {
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
		return n.snapshotResp(id)
	case *pb.StewardRequest_Status:
		return n.statusResp(id)
	}
	b := n.getBatch(id)
	if b == nil {
		return errResp(protocol.Errorf(pb.ErrorCode_UNKNOWN_BATCH, "%s", id))
	}
	st, err := n.actAsPrimary(ctx, b)
	if err != nil {
		return errResp(err)
	}
	now := time.Now()
	switch body := req.Body.(type) {
	case *pb.StewardRequest_Lease:
		b.mu.Lock()
		declined := b.noteAsker(from, body.Lease.GetMemoryMb(), now)
		done := st.Done() || now.After(b.m.Deadline)
		b.mu.Unlock()
		if declined {
			// It cannot run this batch and says so: no leases, and why the batch waits
			// if it does.
			return &pb.StewardResponse{Body: &pb.StewardResponse_Grant{Grant: &pb.LeaseGrant{
				Done: done, Waiting: waitingLine(n.waiting(b, now)), RetryAfterMs: uint32(declineInterval.Milliseconds())}}}
		}
		want := min(int(body.Lease.GetMax()), maxLeasesPerGrant)
		refused := n.refusal(from)
		if now.After(b.m.Deadline) || refused != "" {
			want = 0 // past its deadline the batch is abandoned; liars get nothing
		}
		if want > 0 && !n.hasBatchBlobs(ctx, b) {
			// Workers fetch blobs from their steward: first get them (or find that
			// nobody has them) without holding anyone up.
			// "Nothing yet, ask again soon", not an error: an error would make the
			// worker back off for long, and the blobs are usually here within moments.
			n.fetchInBackground(b, b.m.Submitter)
			return &pb.StewardResponse{Body: &pb.StewardResponse_Grant{Grant: &pb.LeaseGrant{RetryAfterMs: uint32(leaseRetryAfter.Milliseconds())}}}
		}
		b.mu.Lock()
		st.Expire(now)
		var back []int
		if body.Lease.GetHoldingSet() {
			back = st.ReleaseWorkerExcept(from, toInts(body.Lease.GetHolding()), now)
		}
		grants := st.Grant(from, want, now, leaseDuration(b.m), n.consecutive)
		done = st.Done() || now.After(b.m.Deadline)
		b.mu.Unlock()
		if len(back) > 0 {
			n.log.Info("leases returned to the pool: the worker restarted without them", "batch", b.id.String(), "worker", shortID(from), "tasks", len(back))
			n.kickBatch(b)
		}
		g := &pb.LeaseGrant{Done: done, Refused: refused}
		if !done {
			g.Waiting = waitingLine(n.waiting(b, now))
		}
		if refused != "" {
			n.blockLater(from, 200*time.Millisecond) // once this answer is on its way
		}
		for _, l := range grants {
			g.Leases = append(g.Leases, &pb.Lease{Task: uint32(l.Task), ExpiresMs: l.Expires.UnixMilli(), GrantId: l.GrantID})
		}
		if len(grants) > 0 {
			n.host.ConnManager().Protect(from, "lease")
			n.kickBatch(b)
		} else if !done {
			g.RetryAfterMs = uint32(leaseRetryAfter.Milliseconds())
			// Asking again and again for nothing (a worker that ignores retry_after,
			// or one hoarding leases it never runs) is what the lease limit counts; a
			// fast honest worker gets leases every time it asks.
			if !n.allow(from, limitLease) {
				return errResp(protocol.Errorf(pb.ErrorCode_RATE_LIMITED, "slow down: wait retry_after_ms between empty lease requests"))
			}
		}
		return &pb.StewardResponse{Body: &pb.StewardResponse_Grant{Grant: g}}
	case *pb.StewardRequest_Renew:
		b.mu.Lock()
		st.Renew(from, toInts(body.Renew.GetTasks()), now, leaseDuration(b.m))
		b.mu.Unlock()
		n.kickBatch(b)
		return ack()
	case *pb.StewardRequest_Return:
		b.mu.Lock()
		st.Return(from, toInts(body.Return.GetTasks()))
		b.mu.Unlock()
		n.kickBatch(b)
		return ack()
	case *pb.StewardRequest_Complete:
		return errResp(n.complete(ctx, from, b, st, body.Complete))
	}
	return errResp(protocol.Errorf(pb.ErrorCode_BAD_REQUEST, "unknown steward request"))
}

// actAsPrimary returns b's state if this node is the closest live steward of b, taking the
// role over (and merging the other stewards' copies) when it was not primary before.
// Otherwise it answers NOT_STEWARD with the peer it believes is primary.
func (n *Node) actAsPrimary(ctx context.Context, b *batch) (*tasks.BatchState, error) {
	stewards := n.stewardsOf(b)
	if stewards[0] != n.id {
		b.mu.Lock()
		b.primary = false
		b.mu.Unlock()
		return nil, &protocol.WireError{Code: pb.ErrorCode_NOT_STEWARD, Hint: stewards[0],
			Message: fmt.Sprintf("ask %s", stewards[0])}
	}
	st, err := n.becomeSteward(ctx, b)
	if err != nil {
		return nil, protocol.Errorf(pb.ErrorCode_INTERNAL, "%v", err)
	}
	b.mu.Lock()
	wasPrimary := b.primary
	b.primary = true
	if !wasPrimary {
		clear(b.sentTo) // every other steward gets a full copy from the new primary
	}
	b.mu.Unlock()
	if !wasPrimary {
		n.log.Info("primary steward", "batch", b.id.String())
		n.pullState(ctx, b, stewards[1:])
		b.mu.Lock()
		gone := st.ReleaseGone(n.live)
		b.mu.Unlock()
		if gone > 0 {
			n.log.Info("leases of departed workers returned to the pool", "batch", b.id.String(), "leases", gone)
			n.kickBatch(b)
		}
	}
	return st, nil
}

// complete checks and records finished tasks from a worker.
func (n *Node) complete(ctx context.Context, from peer.ID, b *batch, st *tasks.BatchState, c *pb.Complete) error {
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
	var decided []int
	b.mu.Lock()
	wasDone := st.Done()
	for _, r := range checked {
		if !st.HadLease(r.Task, from) {
			// Not asked to run it (or its lease was granted by a steward that died
			// before copying it): a vote nobody asked for does not count.
			n.log.Debug("result without a lease ignored", "batch", b.id.String(), "task", r.Task, "from", shortID(from))
			continue
		}
		c := st.AddResult(r)
		if note, ok := notes[r.Task]; ok {
			st.AddNote(r.Task, note)
		}
		if c.Accepted {
			b.needStore = append(b.needStore, r.Task)
			decided = append(decided, r.Task)
			n.metrics.accepted.Inc()
		}
		if c.Failed {
			f := st.Failure(r.Task)
			n.log.Warn("task failed", "batch", b.id.String(), "task", r.Task, "error", f.Error,
				"agreeing", f.Agreeing, "executions", f.Executions, "detail", f.Note.Detail)
		}
	}
	finished := !wasDone && st.Done()
	b.mu.Unlock()
	n.judgeTasks(ctx, b, decided)
	if finished {
		n.log.Info("batch finished", "batch", b.id.String())
	}
	// The worker forgets a result once we answer: first store accepted results on their
	// holders and copy the state to the other stewards, so that the work survives this
	// steward.
	n.storeAccepted(ctx, b)
	n.copyState(ctx, b)
	return nil
}

// runningManifests lists the manifests of batches that may still need work.
func (n *Node) runningManifests() *pb.BatchList {
	out := &pb.BatchList{}
	now := time.Now()
	for _, b := range n.listBatches() {
		b.mu.Lock()
		done := b.workDone || (b.st != nil && b.st.Done())
		b.mu.Unlock()
		if !done && now.Before(b.m.Deadline) && len(out.Manifests) < maxListedBatches {
			out.Manifests = append(out.Manifests, b.raw)
		}
	}
	return out
}

func (n *Node) statusResp(id cid.Cid) *pb.StewardResponse {
	b := n.getBatch(id)
	if b == nil {
		return errResp(protocol.Errorf(pb.ErrorCode_UNKNOWN_BATCH, "%s", id))
	}
	b.mu.Lock()
	st := b.st
	b.mu.Unlock()
	if st == nil {
		return errResp(&protocol.WireError{Code: pb.ErrorCode_NOT_STEWARD, Hint: n.otherSteward(b)})
	}
	return &pb.StewardResponse{Body: &pb.StewardResponse_Status{Status: n.localStatus(b).toPB()}}
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
