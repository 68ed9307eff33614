package tasks

import (
	"bytes"
	"fmt"
	"time"

	"allforone/protocol"
	"allforone/protocol/pb"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// TaskStateToPB converts task i's state to its wire form.
func (b *BatchState) TaskStateToPB(i int) *pb.TaskState {
	t := &b.tasks[i]
	p := &pb.TaskState{Task: uint32(i), Single: t.Single, Reverified: t.Reverified}
	if out, epoch, ok := t.Decided(); ok {
		p.DecidedEpoch = epoch
		if out.Defined() {
			p.DecidedOutput = out.Bytes()
		}
	}
	for k := range t.Results {
		p.Results = append(p.Results, t.Results[k].ToPB())
	}
	for _, l := range t.Leases {
		p.Leases = append(p.Leases, &pb.LeaseState{
			Worker: []byte(l.Worker), GrantId: l.GrantID, ExpiresMs: l.Expires.UnixMilli(),
			Released: l.Released, Lost: l.Lost,
		})
	}
	for _, h := range t.Holders {
		p.Holders = append(p.Holders, []byte(h))
	}
	for _, n := range t.Notes {
		p.Notes = append(p.Notes, &pb.FailureNote{Executor: []byte(n.Executor), Detail: n.Detail, Stderr: []byte(n.Stderr)})
	}
	return p
}

// HasState reports whether task i has any result, lease or holder (a copy of the whole
// state lists those tasks).
func (b *BatchState) HasState(i int) bool {
	t := &b.tasks[i]
	return len(t.Results) > 0 || len(t.Leases) > 0 || len(t.Holders) > 0
}

// TaskHashes returns the tasks that have state, ascending, and each one's
// protocol.TaskHash; a hash is computed once per change of its task.
func (b *BatchState) TaskHashes() (tasks []int, hashes []uint64) {
	if b.hashes == nil {
		b.hashes, b.hashed = make([]uint64, len(b.tasks)), make([]bool, len(b.tasks))
	}
	for i := range b.tasks {
		if !b.HasState(i) {
			continue
		}
		if !b.hashed[i] {
			b.hashes[i], b.hashed[i] = protocol.TaskHash(b.ID, b.TaskStateToPB(i)), true
		}
		tasks, hashes = append(tasks, i), append(hashes, b.hashes[i])
	}
	return tasks, hashes
}

// knownRecord reports whether task i already holds exactly this record (same executor
// and signature), which was verified when it arrived.
func (b *BatchState) knownRecord(i int, r ResultRecord) bool {
	k := b.tasks[i].resultBy(r.Executor)
	return k >= 0 && bytes.Equal(b.tasks[i].Results[k].Signature, r.Signature) &&
		b.tasks[i].Results[k].Output.Equals(r.Output)
}

// TaskStateFromPB converts a wire task state and verifies every result record in it
// against its executor's key and against this batch.
func (b *BatchState) TaskStateFromPB(p *pb.TaskState) (int, TaskState, error) {
	return b.taskStateFromPB(p, true)
}

// TaskStateFromStore converts a task state that this node stored itself: its records were
// verified before they were stored, so their signatures are not checked again (a restart
// of a steward of large batches spent most of its time there). They must still belong to
// the task and the batch.
func (b *BatchState) TaskStateFromStore(p *pb.TaskState) (int, TaskState, error) {
	return b.taskStateFromPB(p, false)
}

func (b *BatchState) taskStateFromPB(p *pb.TaskState, verify bool) (int, TaskState, error) {
	var check func(*ResultRecord) error
	if verify {
		check = (*ResultRecord).Verify
		if b.Verify != nil {
			check = b.Verify
		}
		inner := check
		check = func(r *ResultRecord) error {
			if r.Task < len(b.tasks) && b.knownRecord(r.Task, *r) {
				return nil // a record already verified here need not be again
			}
			return inner(r)
		}
	}
	return DecodeTaskState(b.ID, len(b.tasks), p, check)
}

// DecodeTaskState converts a wire task state of batch id (of numTasks tasks) without a
// BatchState, so it can be done outside the goroutine that owns the state. Every result
// record must belong to the task and the batch; verify, when not nil, checks each one's
// signature (a node passes its VerifiedRecords.Verify).
func DecodeTaskState(id cid.Cid, numTasks int, p *pb.TaskState, verify func(*ResultRecord) error) (int, TaskState, error) {
	t := TaskState{Single: p.GetSingle(), Reverified: p.GetReverified()}
	i := int(p.GetTask())
	if i >= numTasks {
		return 0, t, fmt.Errorf("task state: task %d of a %d-task batch", i, numTasks)
	}
	for _, pr := range p.GetResults() {
		r, err := ResultFromPB(pr)
		if err != nil {
			return 0, t, err
		}
		if r.Task != i || !r.Batch.Equals(id) {
			return 0, t, fmt.Errorf("task state %d: record for task %d of batch %s", i, r.Task, r.Batch)
		}
		if verify != nil {
			if err := verify(&r); err != nil {
				return 0, t, err
			}
		}
		t.Results = append(t.Results, r)
	}
	for _, pl := range p.GetLeases() {
		w, err := peer.IDFromBytes(pl.GetWorker())
		if err != nil {
			return 0, t, fmt.Errorf("task state %d: lease worker: %w", i, err)
		}
		t.Leases = append(t.Leases, Lease{Worker: w, GrantID: pl.GetGrantId(),
			Expires: time.UnixMilli(pl.GetExpiresMs()), Released: pl.GetReleased(), Lost: pl.GetLost()})
	}
	for _, h := range p.GetHolders() {
		id, err := peer.IDFromBytes(h)
		if err != nil {
			return 0, t, fmt.Errorf("task state %d: holder: %w", i, err)
		}
		t.Holders = append(t.Holders, id)
	}
	for _, pn := range p.GetNotes() {
		n, err := NoteFromPB(pn)
		if err != nil {
			return 0, t, fmt.Errorf("task state %d: %w", i, err)
		}
		t.Notes = append(t.Notes, n) // Merge keeps only notes of failed records
	}
	if e := p.GetDecidedEpoch(); e > 0 {
		// A fenced primary's decision: accepted with its output, or failed without one.
		t.DecidedEpoch, t.status = e, TaskFailed
		if out := p.GetDecidedOutput(); len(out) > 0 {
			c, err := cid.Cast(out)
			if err != nil {
				return 0, t, fmt.Errorf("task state %d: decided output: %w", i, err)
			}
			t.status, t.accepted = TaskAccepted, c
		}
	}
	return i, t, nil
}

// NoteFromPB converts a wire failure note, cut to its bounds.
func NoteFromPB(p *pb.FailureNote) (FailureNote, error) {
	id, err := peer.IDFromBytes(p.GetExecutor())
	if err != nil {
		return FailureNote{}, fmt.Errorf("failure note: executor: %w", err)
	}
	return FailureNote{Executor: id, Detail: p.GetDetail(), Stderr: string(p.GetStderr())}.Bounded(), nil
}
