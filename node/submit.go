package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"allforone/node/internal/store"
	"allforone/node/internal/submit"
	"allforone/protocol"
	"allforone/protocol/pb"
	"allforone/tasks"
	"allforone/tasks/steward"
)

// Submit checks the whole batch, then stores the module and inputs, signs the manifest,
// hands the batch to its stewards (which fetch the blobs before they answer, so this node
// may leave right after) and announces it to the swarm. A refused submission stores
// nothing; blobs it names that were uploaded for it are collected after Config.BlobGrace.
func (n *Node) Submit(ctx context.Context, req SubmitRequest) (SubmitResult, error) {
	d, err := submit.Build(req, n.cfg.Swarm, time.Now(), func(c cid.Cid) (uint64, error) {
		size, err := n.blobs.Size(ctx, c)
		return uint64(size), err
	})
	if err != nil {
		return SubmitResult{}, err
	}
	m := d.M
	if err := m.Sign(n.sk); err != nil {
		return SubmitResult{}, err
	}
	raw, err := m.Marshal()
	if err != nil {
		return SubmitResult{}, fmt.Errorf("%w: %v", submit.ErrBad, err)
	}
	// What every peer will check, checked before anything is stored.
	if _, _, err := tasks.ParseManifest(raw, n.cfg.Swarm); err != nil {
		return SubmitResult{}, fmt.Errorf("%w: %v", submit.ErrBad, err)
	}
	for _, p := range d.Pending {
		if _, err := n.blobs.Put(ctx, p.Data); err != nil {
			return SubmitResult{}, err
		}
	}
	b, _, err := n.addBatch(ctx, raw)
	if err != nil {
		return SubmitResult{}, fmt.Errorf("%w: %v", submit.ErrBad, err)
	}
	if err := n.saveNames(ctx, b.id, d.Names); err != nil {
		return SubmitResult{}, err
	}
	// The datastore writes without syncing; a submitter killed (kill -9, a crash) right
	// after submitting would come back without its own batch. One sync per submission
	// makes the manifest, names and blobs survive that.
	if err := n.durable.Sync(ctx, true); err != nil { // node/internal/durable: a recorded sync point
		return SubmitResult{}, err
	}
	n.provide(m.Module.CID)
	stewards := n.stewardsOf(b)
	if err := n.handToStewards(ctx, b, stewards); err != nil {
		return SubmitResult{}, err
	}
	if err := n.announce(ctx, raw); err != nil {
		n.logs.batches.Warn("announce batch", "batch", b.id.String(), "err", err)
	}
	res := SubmitResult{BatchID: b.id.String(), Tasks: m.NumTasks(), Waiting: n.submitWaiting(m)}
	for _, s := range stewards {
		res.Stewards = append(res.Stewards, s.String())
	}
	n.logs.batches.Info("batch submitted", "batch", b.id.String(), "tasks", m.NumTasks(), "stewards", len(stewards))
	return res, nil
}

// adoptTimeout bounds handing a batch to a steward, which fetches its module and inputs.
const adoptTimeout = 5 * time.Minute

// handToStewards sends the batch to each steward and waits until at least one (or this
// node) holds it; a steward that cannot be reached now gets a state copy later.
func (n *Node) handToStewards(ctx context.Context, b *batch, stewards []peer.ID) error {
	var wg sync.WaitGroup
	errs := make([]error, len(stewards))
	for i, s := range stewards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if s == n.id {
				_, errs[i] = n.becomeSteward(ctx, b)
				return
			}
			ctx, cancel := context.WithTimeout(ctx, adoptTimeout) // the steward fetches the blobs first
			defer cancel()
			errs[i] = n.stewardClient.Adopt(ctx, s, b.id, b.raw)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err == nil {
			return nil
		}
	}
	return fmt.Errorf("no steward took the batch: %w", errors.Join(errs...))
}

// adopt takes a batch handed over by its submitter (or a worker): fetch its blobs, then
// keep its state.
func (n *Node) adopt(ctx context.Context, from peer.ID, raw []byte) error {
	b, _, err := n.addBatch(ctx, raw)
	if err != nil {
		return protocol.Errorf(pb.ErrorCode_BAD_REQUEST, "%v", err)
	}
	if from != b.m.Submitter {
		// A worker hands over a batch this steward missed: take it, and fetch the
		// blobs in the background (leases wait for them), so a batch whose blobs
		// nobody has costs the worker nothing.
		n.fetchInBackground(b, from)
		if _, err := n.becomeSteward(ctx, b); err != nil {
			return protocol.Errorf(pb.ErrorCode_INTERNAL, "%v", err)
		}
		return nil
	}
	if err := n.fetchBatchBlobs(ctx, b, from); err != nil {
		return protocol.Errorf(pb.ErrorCode_UNAVAILABLE, "%v", err)
	}
	if _, err := n.becomeSteward(ctx, b); err != nil {
		return protocol.Errorf(pb.ErrorCode_INTERNAL, "%v", err)
	}
	return nil
}

// fetchInBackground fetches b's blobs unless a fetch already runs.
func (n *Node) fetchInBackground(b *batch, hints ...peer.ID) {
	b.mu.Lock()
	if b.fetching {
		b.mu.Unlock()
		return
	}
	b.fetching = true
	b.mu.Unlock()
	n.goLoop("fetch blobs", func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, adoptTimeout)
		defer cancel()
		if err := n.fetchBatchBlobs(ctx, b, hints...); err != nil {
			n.logs.batches.Debug("blobs of a batch not found", "batch", b.id.String(), "err", err)
		}
		b.mu.Lock()
		b.fetching = false
		b.mu.Unlock()
	})
}

// hasBatchBlobs reports whether the module and every blob input of b are stored here. Once
// they are, it says so without looking again, until garbage collection drops them.
func (n *Node) hasBatchBlobs(ctx context.Context, b *batch) bool {
	if b.blobsHere.Load() {
		return true
	}
	if ok, _ := n.blobs.Has(ctx, b.m.Module.CID); !ok {
		return false
	}
	for _, in := range b.m.Inputs {
		if in.Kind == tasks.InputBlob {
			if ok, _ := n.blobs.Has(ctx, in.Blob.CID); !ok {
				return false
			}
		}
	}
	b.blobsHere.Store(true)
	return true
}

// fetchBatchBlobs makes sure the module and every blob input of b are stored here. A blob
// already here is not read (the submitter, its own first steward, would otherwise load
// every blob it just stored).
func (n *Node) fetchBatchBlobs(ctx context.Context, b *batch, hints ...peer.ID) error {
	hints = append(hints, b.m.Submitter)
	ensure := func(ref tasks.BlobRef) error {
		if ok, _ := n.blobs.Has(ctx, ref.CID); ok {
			return nil
		}
		_, err := n.fetchBlob(ctx, ref.CID, ref.Size, hints...)
		return err
	}
	if err := ensure(b.m.Module); err != nil {
		return fmt.Errorf("module: %w", err)
	}
	n.provide(b.m.Module.CID)
	for _, in := range b.m.Inputs {
		if in.Kind != tasks.InputBlob {
			continue
		}
		if err := ensure(in.Blob); err != nil {
			return fmt.Errorf("input: %w", err)
		}
	}
	return nil
}

// announce publishes the manifest on the batch topic.
func (n *Node) announce(ctx context.Context, raw []byte) error {
	data, err := proto.Marshal(&pb.Announcement{Manifest: raw})
	if err != nil {
		return err
	}
	return n.topics[protocol.BatchTopic(n.cfg.Swarm)].Publish(ctx, data)
}

// batchIDOf parses a batch ID given by a user.
func batchIDOf(s string) (cid.Cid, error) {
	c, err := cid.Decode(s)
	if err != nil {
		return cid.Undef, fmt.Errorf("%q is not a batch ID (%v): use the ID that submit printed", s, err)
	}
	return c, nil
}

// saveNames remembers the submitter's output names, used to name output files.
func (n *Node) saveNames(ctx context.Context, id cid.Cid, names OutputNames) error {
	b, err := json.Marshal(names)
	if err != nil {
		return err
	}
	return n.ds.Put(ctx, store.NamesKey(id), b)
}

// OutputNames returns the names the submitter gave the batch's outputs, if this node
// submitted it (ok false otherwise: other nodes name outputs by task index). Names kept by
// an older version, a list with one name per task, read as a rule of one entry each.
func (n *Node) OutputNames(ctx context.Context, id cid.Cid) (OutputNames, bool) {
	raw, err := n.ds.Get(ctx, store.NamesKey(id))
	if err != nil {
		return OutputNames{}, false
	}
	var rule OutputNames
	if json.Unmarshal(raw, &rule) == nil {
		return rule, true
	}
	var list []string
	if json.Unmarshal(raw, &list) != nil {
		return OutputNames{}, false
	}
	rule.Inputs = make([]OutputName, len(list))
	for i, name := range list {
		rule.Inputs[i] = OutputName{Name: name, Tasks: 1}
	}
	return rule, true
}

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
	l, err := n.wake(ctx, b, "status")
	if err != nil {
		return errResp(protocol.Errorf(pb.ErrorCode_INTERNAL, "%v", err))
	}
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
	if n.stewardsOf(b)[0] == n.id {
		if l, _ := n.wake(ctx, b, "status"); l != nil { // an error: the other stewards', then
			return n.localStatus(ctx, l)
		}
	}
	_, st, err := n.stewardClient.Status(ctx, n.route(b))
	if err != nil {
		if l, _ := n.wake(ctx, b, "status"); l != nil {
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
		steward := n.stewardHere(b)
		out = append(out, BatchInfo{BatchID: b.id.String(), Name: b.m.Name, Tasks: b.m.NumTasks(),
			Submitter: b.m.Submitter.String(), Created: b.m.CreatedAt.UTC().Format(time.RFC3339),
			Steward: steward, Held: n.HeldResults(b.id)})
	}
	return out
}

var _ = tasks.BatchRunning
