package node

import (
	"context"
	"fmt"
	"time"

	"allforone/protocol"
	"allforone/protocol/pb"
	"allforone/tasks"
	"allforone/tasks/steward"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// taskFailure converts a failed task's description from the steward state or the wire.
func taskFailure(task int, recordError, detail, stderr string, executions, agreeing int) TaskFailure {
	f := TaskFailure{Task: task, Kind: KindNoQuorum, Detail: detail, Stderr: stderr, Executions: executions, Agreeing: agreeing}
	if recordError != "" {
		kind, code, hasCode := tasks.ParseRecordError(recordError)
		f.Kind = kind
		if hasCode {
			f.ExitCode = &code
		}
	}
	return f
}

// statusResp answers a status request from this node's steward state of batch id.
func (n *Node) statusResp(ctx context.Context, id cid.Cid) *pb.StewardResponse {
	b := n.getBatch(id)
	if b == nil {
		return errResp(protocol.Errorf(pb.ErrorCode_UNKNOWN_BATCH, "%s", id))
	}
	l := n.stewardOf(b)
	if l == nil {
		return errResp(&protocol.WireError{Code: pb.ErrorCode_NOT_STEWARD, Hint: n.otherSteward(b)})
	}
	st, err := n.localStatus(ctx, l)
	if err != nil {
		return errResp(err)
	}
	return &pb.StewardResponse{Body: &pb.StewardResponse_Status{Status: statusToPB(st)}}
}

// localStatus summarises a batch from this node's steward state of it.
func (n *Node) localStatus(ctx context.Context, l *stewardLoop) (BatchStatus, error) {
	b := l.b
	r, err := l.call(ctx, func(now time.Time, req steward.ReqID) steward.Input { return steward.StatusQuery{Req: req, Now: now} })
	if err := stewardErr(r, err); err != nil {
		return BatchStatus{}, err
	}
	s := r.Status.Summary
	out := BatchStatus{
		BatchID: b.id.String(), Name: b.m.Name, State: s.State, Total: s.Total, Done: s.Done,
		Failed: s.Failed, Running: s.Running, Executions: s.Executions, Reassigned: s.Reassigned, Single: s.Single,
		MinReplicas: s.MinReplicas, Replication: int(b.m.Replication), Redundancy: int(b.m.Redundancy),
		FailedTasks: s.FailedTasks, Steward: n.id.String(), Peers: []PeerStatus{},
		FailuresOmitted: s.FailuresOmitted, Waiting: r.Status.Waiting,
	}
	for _, f := range s.Failures {
		out.Failures = append(out.Failures, taskFailure(f.Task, f.Error, f.Note.Detail, f.Note.Stderr, f.Executions, f.Agreeing))
	}
	for _, p := range s.Peers {
		out.Peers = append(out.Peers, PeerStatus{PeerID: p.Peer.String(), Done: p.Done, Running: p.Running, Wrong: p.Wrong})
	}
	return out, nil
}

// statusToPB is s on the wire.
func statusToPB(s BatchStatus) *pb.BatchStatus {
	p := &pb.BatchStatus{State: s.State, Total: uint32(s.Total), Done: uint32(s.Done), Failed: uint32(s.Failed),
		Running: uint32(s.Running), Executions: uint32(s.Executions), Reassigned: uint32(s.Reassigned), Single: uint32(s.Single),
		MinReplicas: uint32(s.MinReplicas)}
	for _, t := range s.FailedTasks {
		p.FailedTasks = append(p.FailedTasks, uint32(t))
	}
	p.FailuresOmitted = uint32(s.FailuresOmitted)
	for _, f := range s.Failures {
		e := f.Kind
		switch {
		case f.Kind == KindNoQuorum:
			e = ""
		case f.ExitCode != nil:
			e = fmt.Sprintf("%s:%d", f.Kind, *f.ExitCode)
		}
		p.Failures = append(p.Failures, &pb.TaskFailure{Task: uint32(f.Task), Error: e, Detail: f.Detail,
			Stderr: []byte(f.Stderr), Executions: uint32(f.Executions), Agreeing: uint32(f.Agreeing)})
	}
	for _, w := range s.Waiting {
		p.Waiting = append(p.Waiting, &pb.WaitReason{Code: w.Code, Reason: w.Reason, Fix: w.Fix})
	}
	if id, err := peer.Decode(s.Steward); err == nil {
		p.Steward = []byte(id)
	}
	for _, ps := range s.Peers {
		id, err := peer.Decode(ps.PeerID)
		if err != nil {
			continue
		}
		p.Peers = append(p.Peers, &pb.PeerShare{Peer: []byte(id), Done: uint32(ps.Done), Running: uint32(ps.Running), Wrong: uint32(ps.Wrong)})
	}
	return p
}

func statusFromPB(b *batch, p *pb.BatchStatus) BatchStatus {
	s := BatchStatus{BatchID: b.id.String(), Name: b.m.Name, State: p.GetState(), Total: int(p.GetTotal()),
		Done: int(p.GetDone()), Failed: int(p.GetFailed()), Running: int(p.GetRunning()),
		Executions: int(p.GetExecutions()), Reassigned: int(p.GetReassigned()), Single: int(p.GetSingle()), MinReplicas: int(p.GetMinReplicas()),
		Replication: int(b.m.Replication), Redundancy: int(b.m.Redundancy), FailedTasks: toInts(p.GetFailedTasks()),
		Peers: []PeerStatus{}, FailuresOmitted: int(p.GetFailuresOmitted())}
	for _, f := range p.GetFailures() {
		n := tasks.FailureNote{Detail: f.GetDetail(), Stderr: string(f.GetStderr())}.Bounded()
		s.Failures = append(s.Failures, taskFailure(int(f.GetTask()), f.GetError(), n.Detail, n.Stderr, int(f.GetExecutions()), int(f.GetAgreeing())))
	}
	for _, w := range p.GetWaiting() {
		s.Waiting = append(s.Waiting, WaitReason{Code: w.GetCode(), Reason: w.GetReason(), Fix: w.GetFix()})
	}
	if id, err := peer.IDFromBytes(p.GetSteward()); err == nil {
		s.Steward = id.String()
	}
	for _, ps := range p.GetPeers() {
		if id, err := peer.IDFromBytes(ps.GetPeer()); err == nil {
			s.Peers = append(s.Peers, PeerStatus{PeerID: id.String(), Done: int(ps.GetDone()), Running: int(ps.GetRunning()), Wrong: int(ps.GetWrong())})
		}
	}
	return s
}

// Status returns a batch's progress: from this node's state when it is the primary steward
// (or the only steward it can reach), else from the primary. On the submitter's node,
// failed tasks carry their output names. Refused is this node's own.
func (n *Node) Status(ctx context.Context, id cid.Cid) (BatchStatus, error) {
	st, err := n.status(ctx, id)
	if err == nil && len(st.Failures) > 0 {
		if names, ok := n.OutputNames(ctx, id); ok {
			name := names.Namer()
			for i := range st.Failures {
				st.Failures[i].Name = name(st.Failures[i].Task)
			}
		}
	}
	return st, err
}

func (n *Node) status(ctx context.Context, id cid.Cid) (BatchStatus, error) {
	b := n.getBatch(id)
	if b == nil {
		return BatchStatus{}, fmt.Errorf("%w: %s", ErrUnknownBatch, id)
	}
	st, err := n.stewardStatus(ctx, b, id)
	b.mu.Lock()
	st.Refused = b.refusedModule
	b.mu.Unlock()
	return st, err
}

// stewardStatus asks b's primary steward (or this node's own state, when it is the primary).
func (n *Node) stewardStatus(ctx context.Context, b *batch, id cid.Cid) (BatchStatus, error) {
	l := n.stewardOf(b)
	if n.stewardsOf(b)[0] == n.id && l != nil {
		return n.localStatus(ctx, l)
	}
	_, st, err := n.stewardClient.Status(ctx, n.route(b))
	if err != nil {
		if l != nil {
			return n.localStatus(ctx, l) // the best we know
		}
		return BatchStatus{}, fmt.Errorf("no steward of batch %s answers: %w", id, err)
	}
	return statusFromPB(b, st), nil
}

// Batches lists the batches this node knows.
func (n *Node) Batches() []BatchInfo {
	var out []BatchInfo
	for _, b := range n.listBatches() {
		steward := n.stewardOf(b) != nil
		out = append(out, BatchInfo{BatchID: b.id.String(), Name: b.m.Name, Tasks: b.m.NumTasks(),
			Submitter: b.m.Submitter.String(), Created: b.m.CreatedAt.UTC().Format(time.RFC3339),
			Steward: steward, Held: n.HeldResults(b.id)})
	}
	return out
}

var _ = tasks.BatchRunning
