package tasks

import (
	"testing"
)

// Under primary epochs a decision carries the epoch it was made in; on merge the decision
// of the higher epoch wins, even against the union of the records, and it survives the
// wire (a copy, or what a steward persisted).
func TestMergeTakesTheDecisionOfTheHigherEpoch(t *testing.T) {
	ps, keys := testPeers(t, 3)
	srec := func(b *BatchState, i, k int, out string) ResultRecord {
		r := rec(b, i, ps[k], out)
		r.OutputSize = uint64(len(out))
		if err := r.Sign(keys[k]); err != nil {
			t.Fatal(err)
		}
		return r
	}
	// A stale primary (epoch 1) accepted "x" from ps[0]; the primary of epoch 2 never saw
	// it and accepted "y" from ps[1] (R=1: one record decides).
	stale, fresh := newState(t, 2, 1, 3), newState(t, 2, 1, 3)
	stale.Epoch, fresh.Epoch = 1, 2
	if c := stale.AddResult(srec(stale, 0, 0, "x")); !c.Accepted {
		t.Fatal("x not accepted")
	}
	stale.AddHolder(0, ps[2])
	if c := fresh.AddResult(srec(fresh, 0, 1, "y")); !c.Accepted {
		t.Fatal("y not accepted")
	}
	if out, e, ok := fresh.Task(0).Decided(); !ok || e != 2 || !out.Equals(ContentID([]byte("y"))) {
		t.Fatalf("decided %v at %d (%v)", out, e, ok)
	}
	wire := func(from *BatchState, i int) TaskState {
		_, ts, err := from.TaskStateFromStore(from.TaskStateToPB(i))
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	// The fresh primary keeps its decision when the stale state arrives.
	fresh.Merge(0, wire(stale, 0))
	if out, e, _ := fresh.Task(0).Decided(); e != 2 || !out.Equals(ContentID([]byte("y"))) {
		t.Fatalf("the epoch-2 decision lost to epoch 1's: %v at %d", out, e)
	}
	// The stale one takes the epoch-2 decision, drops the holder of its own output, and
	// counts the task once.
	c := stale.Merge(0, wire(fresh, 0))
	out, e, _ := stale.Task(0).Decided()
	if !c.Accepted || e != 2 || !out.Equals(ContentID([]byte("y"))) || len(stale.Task(0).Holders) != 0 {
		t.Fatalf("stale after merge: %v at %d, holders %v, change %+v", out, e, stale.Task(0).Holders, c)
	}
	if done, _ := stale.Counts(); done != 1 {
		t.Fatalf("done %d", done)
	}
	// A steward without a decision adopts one from a copy, epoch and all; a restart from
	// what it persisted keeps it.
	if len(fresh.Task(0).Holders) != 0 {
		t.Fatalf("the holder of x counts for y: %v", fresh.Task(0).Holders)
	}
	fresh.AddHolder(0, ps[1])
	plain := newState(t, 2, 1, 3)
	plain.Merge(0, wire(fresh, 0))
	if h := plain.Task(0).Holders; len(h) != 1 || h[0] != ps[1] {
		t.Fatalf("adopted without its holders: %v", h)
	}
	restarted := newState(t, 2, 1, 3)
	restarted.Merge(0, wire(plain, 0))
	if out, e, ok := restarted.Task(0).Decided(); !ok || e != 2 || !out.Equals(ContentID([]byte("y"))) {
		t.Fatalf("restarted: %v at %d (%v)", out, e, ok)
	}
	// Without epochs the union decides, untagged; a new primary tags what it found.
	legacy := newState(t, 2, 1, 3)
	legacy.AddResult(srec(legacy, 1, 0, "z"))
	if _, _, ok := legacy.Task(1).Decided(); ok {
		t.Fatal("a decision without an epoch is not a fenced one")
	}
	if got := legacy.TagDecisions(5); len(got) != 1 || got[0] != 1 || legacy.Task(1).DecidedEpoch != 5 {
		t.Fatalf("tagged %v", got)
	}
}
