package tasks

import (
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Failure notes in the steward state: what executors say about their failed executions.

// AddNote records what the executor of a failed record of task i says about it (its
// detail and stderr tail). It keeps the first note per executor and only for an executor
// whose record is a failure; it reports whether it kept this one.
func (b *BatchState) AddNote(i int, n FailureNote) bool {
	if i < 0 || i >= len(b.tasks) {
		return false
	}
	t := &b.tasks[i]
	if !t.addNote(n) {
		return false
	}
	b.touch(i)
	return true
}

func (t *TaskState) addNote(n FailureNote) bool {
	k := t.resultBy(n.Executor)
	if k < 0 || t.Results[k].OK() || slices.ContainsFunc(t.Notes, func(o FailureNote) bool { return o.Executor == n.Executor }) {
		return false
	}
	t.Notes = append(t.Notes, n.Bounded())
	return true
}

// NoteBy returns the note of executor p on this task, if any.
func (t *TaskState) NoteBy(p peer.ID) (FailureNote, bool) {
	k := slices.IndexFunc(t.Notes, func(n FailureNote) bool { return n.Executor == p })
	if k < 0 {
		return FailureNote{}, false
	}
	return t.Notes[k], true
}
