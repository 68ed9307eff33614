package tasks

import (
	"math/rand/v2"
	"slices"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// The steward's state machine. A BatchState holds what the stewards of one batch know:
// for every task its result records, its leases and the peers holding its accepted result.
// It is deterministic: time comes in as arguments, randomness from a seeded source, and it
// does no I/O. The node applies its decisions and copies changed tasks (TakeDirty) to the
// other stewards, which Merge them. Merging is a union, so copies may arrive twice, late or
// out of order, and two stewards that both granted leases during a partition converge.

// TaskStatus is where a task stands.
type TaskStatus uint8

// Task statuses.
const (
	TaskOpen     TaskStatus = iota // needs (more) executions
	TaskAccepted                   // a quorum agreed on an output
	TaskFailed                     // MaxReplicas executions without a quorum
)

func (s TaskStatus) String() string {
	return [...]string{"open", "accepted", "failed"}[s]
}

// Lease is a worker's claim on a task until Expires.
type Lease struct {
	Worker   peer.ID
	GrantID  uint64
	Expires  time.Time
	Released bool // no longer holds: completed, returned, expired, or its worker left
	Lost     bool // released without a result: the task went back to the pool
}

// active reports whether the lease still holds at now.
func (l *Lease) active(now time.Time) bool { return !l.Released && now.Before(l.Expires) }

// TaskState is one task's replicated state.
type TaskState struct {
	Results []ResultRecord // at most one per executor
	Leases  []Lease
	Holders []peer.ID // peers that acknowledged storing the accepted result
	// Notes say what happened in failed executions (at most one per executor with a
	// failed record): unsigned and informational, for the submitter.
	Notes []FailureNote
	// Single: adaptive replication gave the task to one trusted peer (R = min redundancy).
	Single bool
	// Reverified: the task is back at the full R (its trusted peer was caught lying, or
	// it went to a peer that is not trusted).
	Reverified bool
	// DecidedEpoch is the primary epoch under which the task was decided (BatchState.Epoch
	// then), 0 when it is open or was decided without one: from the union of merged
	// records, or by a steward without epochs. On Merge, the decision of the higher epoch
	// wins.
	DecidedEpoch uint64

	status   TaskStatus
	accepted cid.Cid
}

// Status is the task's outcome so far.
func (t *TaskState) Status() TaskStatus { return t.status }

// Accepted is the content ID of the accepted output, if any.
func (t *TaskState) Accepted() (cid.Cid, bool) { return t.accepted, t.status == TaskAccepted }

// resultBy returns the index of executor's record, or -1.
func (t *TaskState) resultBy(p peer.ID) int {
	return slices.IndexFunc(t.Results, func(r ResultRecord) bool { return r.Executor == p })
}

func (t *TaskState) activeLeases(now time.Time) int {
	n := 0
	for i := range t.Leases {
		if t.Leases[i].active(now) {
			n++
		}
	}
	return n
}

func (t *TaskState) hasActiveLease(p peer.ID, now time.Time) bool {
	for i := range t.Leases {
		if t.Leases[i].Worker == p && t.Leases[i].active(now) {
			return true
		}
	}
	return false
}

// Agreeing returns the successful records whose output is the accepted one.
func (t *TaskState) Agreeing() []ResultRecord {
	var out []ResultRecord
	if t.status != TaskAccepted {
		return nil
	}
	for _, r := range t.Results {
		if r.OK() && r.Output.Equals(t.accepted) {
			out = append(out, r)
		}
	}
	return out
}

// BatchState is the steward state of one batch.
type BatchState struct {
	ID       cid.Cid
	Manifest *Manifest

	tasks  []TaskState
	r, max int
	minR   int // R of a task sampled for a trusted peer; 0 without adaptive replication
	done   int // accepted
	failed int
	cursor int              // no task below it is open
	leased map[int]struct{} // tasks with leases not yet released
	dirty  map[int]struct{}
	rng    *rand.Rand
	gen    uint64   // counts changes (Gen)
	hashes []uint64 // TaskHash of each task, where hashed[i]
	hashed []bool   // hashes[i] is computed and task i did not change since

	// Verify checks a result record's signature when a task state arrives
	// (TaskStateFromPB). Nil: ResultRecord.Verify. A node shares one VerifiedRecords.Verify.
	Verify func(*ResultRecord) error

	// MaxPerWorker bounds the active leases one worker may hold in this batch (0: no
	// bound), so a peer that hoards leases and never answers cannot stall the batch.
	MaxPerWorker int

	// Epoch is the primary epoch this node decides under (the steward core sets it while
	// it holds the primary lease; 0 without epochs): a task that a result decides records
	// it as its DecidedEpoch.
	Epoch uint64
}

// NewBatchState is the empty state of a batch; rng makes grant IDs.
func NewBatchState(id cid.Cid, m *Manifest, rng *rand.Rand) *BatchState {
	minR := 0
	if m.AdaptiveReplication {
		minR = int(max(m.MinRedundancy, 1))
	}
	return &BatchState{
		ID:       id,
		Manifest: m,
		minR:     minR,
		tasks:    make([]TaskState, m.NumTasks()),
		r:        int(m.Redundancy),
		max:      int(max(m.MaxReplicas, m.Redundancy)),
		leased:   make(map[int]struct{}),
		dirty:    make(map[int]struct{}),
		rng:      rng,
	}
}

// NumTasks is the number of tasks.
func (b *BatchState) NumTasks() int { return len(b.tasks) }

// Task returns task i's state; callers must not modify it.
func (b *BatchState) Task(i int) *TaskState { return &b.tasks[i] }

// Done reports whether every task is accepted or failed.
func (b *BatchState) Done() bool { return b.done+b.failed == len(b.tasks) }

// Counts returns the numbers of accepted and failed tasks.
func (b *BatchState) Counts() (done, failed int) { return b.done, b.failed }

func (b *BatchState) touch(i int) { b.dirty[i] = struct{}{}; b.changed(i) }

// changed counts a change to task i.
func (b *BatchState) changed(i int) {
	b.gen++
	if b.hashed != nil {
		b.hashed[i] = false
	}
}

// Gen counts the changes to the state: two calls that return the same number saw the same
// state.
func (b *BatchState) Gen() uint64 { return b.gen }

// TakeDirty returns the tasks changed since the last call, in order, and forgets them.
func (b *BatchState) TakeDirty() []int {
	out := make([]int, 0, len(b.dirty))
	for i := range b.dirty {
		out = append(out, i)
	}
	clear(b.dirty)
	slices.Sort(out)
	return out
}

// effR is task i's redundancy: the manifest's R, or the minimum R while adaptive
// replication has it with a trusted peer.
func (b *BatchState) effR(t *TaskState) int {
	if t.Single && !t.Reverified && b.minR > 0 {
		return b.minR
	}
	return b.r
}

// needed is how many more leases task i may have now.
func (b *BatchState) needed(i int, now time.Time) int {
	t := &b.tasks[i]
	if t.status != TaskOpen {
		return 0
	}
	active := t.activeLeases(now)
	n := len(t.Results)
	r := b.effR(t)
	want := r - n // the first R executions run in parallel
	if n >= r {
		want = 1 // disagreement or failures: one more at a time
	}
	want = min(want, b.max-n) - active
	return max(want, 0)
}

// Trust tells a steward how far it trusts a worker: its count of consecutive results that
// agreed with the quorum (BOINC's CV), or 0. Nil trusts nobody.
type Trust func(peer.ID) int

// Adaptive replication, as BOINC's: a peer with at least TrustedAfter consecutive valid
// results may get a task alone, with probability 1 - 1/CV but never more than
// MaxSingleShare, so a sampled share of its tasks is always checked.
const (
	TrustedAfter   = 10
	MaxSingleShare = 0.95
	// NewWorkerLeases is how many leases a peer without a record may hold in a batch.
	NewWorkerLeases = 8
)

// Grant leases up to max open tasks to worker, lowest index first, never a task the worker
// already ran or holds a lease on (the R executions of a task go to distinct peers). With
// adaptive replication, trust decides whether a fresh task goes to a trusted worker alone.
func (b *BatchState) Grant(worker peer.ID, max int, now time.Time, d time.Duration, trust Trust) []LeaseGrant {
	var out []LeaseGrant
	cv := 0
	if trust != nil {
		cv = trust(worker)
	}
	if b.MaxPerWorker > 0 {
		held := 0
		for i := range b.leased {
			if b.tasks[i].hasActiveLease(worker, now) {
				held++
			}
		}
		// A peer with no record gets a few leases at a time; each valid result lets
		// it hold one more, up to the bound.
		limit := b.MaxPerWorker
		if trust != nil {
			limit = min(limit, NewWorkerLeases+cv)
		}
		max = min(max, limit-held)
	}
	if b.minR == 0 {
		cv = 0 // no adaptive replication in this batch
	}
	for i := b.cursor; i < len(b.tasks) && len(out) < max; i++ {
		t := &b.tasks[i]
		if t.status != TaskOpen {
			if i == b.cursor {
				b.cursor++
			}
			continue
		}
		if t.resultBy(worker) >= 0 || t.hasActiveLease(worker, now) {
			continue
		}
		fresh := len(t.Results) == 0 && len(t.Leases) == 0
		switch {
		case fresh && cv >= TrustedAfter && b.rng.Float64() < min(1-1/float64(cv), MaxSingleShare):
			t.Single = true // this worker alone; the sample of the rest stays replicated
			b.changed(i)
		case t.Single && !t.Reverified && cv < TrustedAfter:
			t.Reverified = true // a single task must not go to a peer that is not trusted
			b.changed(i)
		}
		if b.needed(i, now) == 0 {
			continue
		}
		l := Lease{Worker: worker, GrantID: b.rng.Uint64(), Expires: now.Add(d)}
		t.Leases = append(t.Leases, l)
		b.leased[i] = struct{}{}
		b.touch(i)
		out = append(out, LeaseGrant{Task: i, Lease: l})
	}
	return out
}

// LeaseGrant is one lease handed out by Grant.
type LeaseGrant struct {
	Task int
	Lease
}

// Renew extends worker's active leases on tasks until now+d; it returns how many it
// extended.
func (b *BatchState) Renew(worker peer.ID, tasks []int, now time.Time, d time.Duration) int {
	n := 0
	for _, i := range tasks {
		if i < 0 || i >= len(b.tasks) {
			continue
		}
		t := &b.tasks[i]
		for k := range t.Leases {
			if l := &t.Leases[k]; l.Worker == worker && l.active(now) {
				l.Expires = now.Add(d)
				b.touch(i)
				n++
			}
		}
	}
	return n
}

// Return releases worker's leases on tasks (it will not run them); it returns how many.
func (b *BatchState) Return(worker peer.ID, tasks []int) int {
	n := 0
	for _, i := range tasks {
		if i >= 0 && i < len(b.tasks) {
			n += b.release(i, func(l *Lease) bool { return l.Worker == worker }, true)
		}
	}
	return n
}

// ReleaseWorker releases every lease of worker at once (it disconnected) and returns the
// tasks that went back to the pool.
func (b *BatchState) ReleaseWorker(worker peer.ID) []int {
	var out []int
	for i := range b.leased {
		if b.release(i, func(l *Lease) bool { return l.Worker == worker }, true) > 0 {
			out = append(out, i)
		}
	}
	slices.Sort(out)
	return out
}

// ReleaseWorkerExcept releases worker's active leases on tasks not in holding (the worker
// says it holds only those: it restarted and lost the others) and returns the tasks that
// went back to the pool.
func (b *BatchState) ReleaseWorkerExcept(worker peer.ID, holding []int, now time.Time) []int {
	var out []int
	for i := range b.leased {
		if slices.Contains(holding, i) {
			continue
		}
		if b.release(i, func(l *Lease) bool { return l.Worker == worker && l.active(now) }, true) > 0 {
			out = append(out, i)
		}
	}
	slices.Sort(out)
	return out
}

// Expire releases leases past their expiry and returns how many.
func (b *BatchState) Expire(now time.Time) int {
	n := 0
	for i := range b.leased {
		n += b.release(i, func(l *Lease) bool { return !now.Before(l.Expires) }, true)
	}
	return n
}

// release marks the matching unreleased leases of task i released; lost says the task
// goes back to the pool without the holder's result.
func (b *BatchState) release(i int, match func(*Lease) bool, lost bool) int {
	t := &b.tasks[i]
	n, open := 0, 0
	for k := range t.Leases {
		l := &t.Leases[k]
		if l.Released {
			continue
		}
		if match(l) {
			l.Released, l.Lost = true, lost && b.tasks[i].status == TaskOpen
			n++
		} else {
			open++
		}
	}
	if n > 0 {
		b.touch(i)
	}
	if open == 0 {
		delete(b.leased, i)
	}
	return n
}

// Change says what AddResult or Merge did to a task.
type Change struct {
	Added    bool // the state changed
	Accepted bool // the task became accepted
	Failed   bool // the task became failed
	Reopened bool // an accepted task went back to open (reverified)
}

// AddResult records a (verified) result record. A second record from the same executor is
// ignored. The executor's lease is released.
func (b *BatchState) AddResult(rec ResultRecord) Change {
	i := rec.Task
	if i < 0 || i >= len(b.tasks) || !rec.Batch.Equals(b.ID) {
		return Change{}
	}
	t := &b.tasks[i]
	if t.resultBy(rec.Executor) >= 0 {
		return Change{}
	}
	t.Results = append(t.Results, rec)
	b.release(i, func(l *Lease) bool { return l.Worker == rec.Executor }, false)
	b.touch(i)
	return b.decide(i, b.Epoch)
}

// decide recomputes task i's status and the batch counters; a decision made now is tagged
// with epoch. Decisions are final, except that a task accepted on a single trusted peer's
// word reopens when it is reverified, and that Merge adopts a decision of a higher epoch.
func (b *BatchState) decide(i int, epoch uint64) Change {
	t := &b.tasks[i]
	before := t.status
	if before != TaskOpen && !(before == TaskAccepted && t.Single && t.Reverified) {
		return Change{Added: true}
	}
	status, accepted := Quorum(t.Results, b.effR(t), b.max)
	if status == before && accepted.Equals(t.accepted) {
		return Change{Added: true}
	}
	b.setStatus(i, status, accepted)
	t.DecidedEpoch = 0
	if status != TaskOpen {
		t.DecidedEpoch = epoch
	}
	if t.status != TaskOpen {
		// Nobody needs to run it any more.
		b.release(i, func(*Lease) bool { return true }, false)
	}
	return Change{Added: true, Accepted: t.status == TaskAccepted, Failed: t.status == TaskFailed, Reopened: before != TaskOpen && t.status == TaskOpen}
}

// setStatus sets task i's status and accepted output, keeping the batch counters.
func (b *BatchState) setStatus(i int, status TaskStatus, accepted cid.Cid) {
	t := &b.tasks[i]
	switch t.status {
	case TaskAccepted:
		b.done--
	case TaskFailed:
		b.failed--
	}
	t.status, t.accepted = status, accepted
	b.changed(i)
	switch t.status {
	case TaskAccepted:
		b.done++
	case TaskFailed:
		b.failed++
	case TaskOpen:
		b.cursor = min(b.cursor, i) // reopened
		t.Holders = nil             // they hold an output that is no longer accepted
	}
}

// Reverify puts every task that worker runs or ran alone under adaptive replication back
// at the full R (it was caught lying): tasks it alone vouched for reopen, and those it
// still holds a lease on will need the full quorum. It returns the reopened ones.
func (b *BatchState) Reverify(worker peer.ID) []int {
	var out []int
	for i := range b.tasks {
		t := &b.tasks[i]
		leased := slices.ContainsFunc(t.Leases, func(l Lease) bool { return l.Worker == worker })
		if !t.Single || t.Reverified || (t.resultBy(worker) < 0 && !leased) {
			continue
		}
		t.Reverified = true
		b.touch(i)
		if c := b.decide(i, b.Epoch); c.Reopened {
			out = append(out, i)
		}
	}
	return out
}
