package tasks

import (
	"slices"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Merging other stewards' copies, result holders and departed workers.

// AddHolder records that p stores task i's accepted result.
func (b *BatchState) AddHolder(i int, p peer.ID) bool {
	if i < 0 || i >= len(b.tasks) {
		return false
	}
	t := &b.tasks[i]
	if slices.Contains(t.Holders, p) {
		return false
	}
	t.Holders = append(t.Holders, p)
	b.touch(i)
	return true
}

// Merge folds another steward's copy of task i into this one. Records must already be
// verified. It does not mark the task dirty: copies are not copied on.
//
// A decision in the copy (other.DecidedEpoch > 0: a fenced primary's, as decoded from the
// wire) wins over this task's when this task is open or was decided under a lower epoch:
// a primary decides only what every later primary learns before it decides (the stewards'
// majorities overlap), so the decision of the higher epoch is the one that can have been
// acknowledged. Otherwise the task is decided from the union of the records, untagged.
func (b *BatchState) Merge(i int, other TaskState) Change {
	if i < 0 || i >= len(b.tasks) {
		return Change{}
	}
	c := b.merge(i, other)
	if c.Added {
		b.changed(i)
	}
	return c
}

func (b *BatchState) merge(i int, other TaskState) Change {
	t := &b.tasks[i]
	changed := false
	adopted := other.DecidedEpoch > t.DecidedEpoch && other.status != TaskOpen &&
		(t.status != other.status || !t.accepted.Equals(other.accepted) || t.DecidedEpoch == 0)
	for _, r := range other.Results {
		if r.Task == i && r.Batch.Equals(b.ID) && t.resultBy(r.Executor) < 0 {
			t.Results = append(t.Results, r)
			changed = true
		}
	}
	for _, ol := range other.Leases {
		k := slices.IndexFunc(t.Leases, func(l Lease) bool { return l.GrantID == ol.GrantID })
		if k < 0 {
			t.Leases = append(t.Leases, ol)
			changed = true
			if !ol.Released {
				b.leased[i] = struct{}{}
			}
			continue
		}
		l := &t.Leases[k]
		if ol.Released && !l.Released {
			l.Released, l.Lost, changed = true, ol.Lost, true
		}
		if ol.Expires.After(l.Expires) {
			l.Expires, changed = ol.Expires, true
		}
	}
	// Holders hold the copy's decision: they count here only for the same one.
	otherHolders := other.Holders
	if other.DecidedEpoch > 0 && (other.status != t.status || !other.accepted.Equals(t.accepted)) {
		otherHolders = nil
	}
	for _, h := range otherHolders {
		if !slices.Contains(t.Holders, h) {
			t.Holders = append(t.Holders, h)
			changed = true
		}
	}
	for _, n := range other.Notes {
		changed = t.addNote(n) || changed // after the records, so a note finds its record
	}
	if other.Single && !t.Single {
		t.Single, changed = true, true
	}
	if other.Reverified && !t.Reverified {
		t.Reverified, changed = true, true
	}
	if adopted {
		return b.adopt(i, other)
	}
	if !changed {
		return Change{}
	}
	c := b.decide(i, 0)
	c.Added = true
	return c
}

// adopt takes other's decision for task i (Merge): its status, output and epoch, and its
// holders unless this task had accepted the same output.
func (b *BatchState) adopt(i int, other TaskState) Change {
	t := &b.tasks[i]
	before, was := t.status, t.accepted
	if before != TaskAccepted || !was.Equals(other.accepted) {
		t.Holders = slices.Clone(other.Holders) // holders of another output hold nothing of this one
	}
	b.setStatus(i, other.status, other.accepted)
	t.DecidedEpoch = other.DecidedEpoch
	b.release(i, func(*Lease) bool { return true }, false)
	return Change{Added: true, Accepted: t.status == TaskAccepted && (before != TaskAccepted || !was.Equals(t.accepted)),
		Failed: t.status == TaskFailed && before != TaskFailed}
}

// Decided returns task i's decision when it was made by a fenced primary: the output (or
// undefined when it failed) and the epoch.
func (t *TaskState) Decided() (out cid.Cid, epoch uint64, ok bool) {
	if t.DecidedEpoch == 0 || t.status == TaskOpen {
		return cid.Undef, 0, false
	}
	return t.accepted, t.DecidedEpoch, true
}

// TagDecisions stamps every decided task with epoch (a new primary, once it has merged
// its majority's copies, makes the decisions it found its own; its copies then commit
// them under its epoch, so they win over any older decision a stale steward may still
// hold). It returns the tasks stamped anew.
func (b *BatchState) TagDecisions(epoch uint64) []int {
	var out []int
	for i := range b.tasks {
		if b.TagDecision(i, epoch) {
			out = append(out, i)
		}
	}
	return out
}

// TagDecision stamps task i, when it is decided, with epoch if it carries a lower one. It
// reports whether it did.
func (b *BatchState) TagDecision(i int, epoch uint64) bool {
	t := &b.tasks[i]
	if t.status == TaskOpen || t.DecidedEpoch >= epoch {
		return false
	}
	t.DecidedEpoch = epoch
	b.touch(i)
	return true
}

// UnderReplicated returns the accepted tasks that need more copies to have k (NeedsCopies),
// with holder telling how each holder counts.
func (b *BatchState) UnderReplicated(k int, holder func(peer.ID) HolderState) []int {
	var out []int
	for i := range b.tasks {
		t := &b.tasks[i]
		if t.status != TaskAccepted {
			continue
		}
		live, away := 0, 0
		for _, h := range t.Holders {
			switch holder(h) {
			case HolderLive:
				live++
			case HolderAway:
				away++
			}
		}
		if NeedsCopies(k, live, away) {
			out = append(out, i)
		}
	}
	return out
}

// ReleaseGone releases the leases of workers for which live is false (a new primary does
// this for leases it learned from the other stewards) and returns how many.
func (b *BatchState) ReleaseGone(live func(peer.ID) bool) int {
	n := 0
	for i := range b.leased {
		n += b.release(i, func(l *Lease) bool { return !live(l.Worker) }, true)
	}
	return n
}

// HadLease reports whether worker was ever granted a lease on task i: a result from a
// peer that was never asked to run the task is not counted.
func (b *BatchState) HadLease(i int, worker peer.ID) bool {
	if i < 0 || i >= len(b.tasks) {
		return false
	}
	return slices.ContainsFunc(b.tasks[i].Leases, func(l Lease) bool { return l.Worker == worker })
}
