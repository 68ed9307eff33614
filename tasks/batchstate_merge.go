package tasks

import (
	"slices"

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
func (b *BatchState) Merge(i int, other TaskState) Change {
	if i < 0 || i >= len(b.tasks) {
		return Change{}
	}
	t := &b.tasks[i]
	changed := false
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
	for _, h := range other.Holders {
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
	if !changed {
		return Change{}
	}
	c := b.decide(i)
	c.Added = true
	return c
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
