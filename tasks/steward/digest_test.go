package steward

import (
	"slices"
	"testing"
	"time"

	"allforone/tasks"
	"allforone/tasks/placement"

	"github.com/libp2p/go-libp2p/core/peer"
)

// TestDigestConvergesTwoStewards: a steward of a finished batch that returns to the set
// gets a digest instead of the whole state; it answers with the tasks it has another state
// of and its own states of them, and after the deltas that follow both stewards have the
// union: the same task hashes, so the next return costs a digest and nothing more.
func TestDigestConvergesTwoStewards(t *testing.T) {
	const n, members = 40, 6
	id, ids, pst := finishedState(t, n, members)
	_, _, sst := finishedState(t, n, members)
	now := pst.Manifest.CreatedAt
	view := func(self peer.ID, live []peer.ID) *placement.View {
		return placement.New(placement.Config{Self: self, At: now, Members: live, Connected: live, Swarm: live})
	}
	stewards := view(ids[0], ids).Stewards(id, 3)
	pid, sid := stewards[0], stewards[1]
	// Each learned a holder the other did not (a store while the other was away).
	pst.AddHolder(1, ids[5])
	sst.AddHolder(2, ids[0])
	sst.AddHolder(7, ids[5])
	p := New(Config{Self: pid, State: pst, View: view(pid, ids), LeaseDuration: time.Minute})
	s := New(Config{Self: sid, State: sst, View: view(sid, ids), LeaseDuration: time.Minute})
	p.Step(Tick{Now: now})
	rd := p.Ready()
	var d *Copy
	for k := range rd.Copies {
		if rd.Copies[k].To == sid {
			d = &rd.Copies[k]
		}
	}
	if d == nil || d.Digest == nil || len(d.Tasks) != 0 || len(d.Digest.Tasks) != n {
		t.Fatalf("the primary's first copy to a steward of the finished batch: %+v", d)
	}
	s.Step(DigestQuery{Req: 1, From: pid, Now: now, Digest: *d.Digest})
	reply := takeReply(ptr(s.Ready()), 1)
	if !slices.Equal(reply.Want, []int{1, 2, 7}) || !slices.Equal(pbTasks(reply.Differing), []int{1, 2, 7}) {
		t.Fatalf("the steward wants %v and sends %v; want [1 2 7] both", reply.Want, pbTasks(reply.Differing))
	}
	theirs := make([]TaskCopy, len(reply.Differing))
	for k, ts := range reply.Differing {
		i, st, err := tasks.DecodeTaskState(id, n, ts, nil)
		if err != nil {
			t.Fatal(err)
		}
		theirs[k] = TaskCopy{Task: i, State: st}
	}
	p.Step(CopySent{To: sid, Seq: d.Seq, Full: true, Want: reply.Want, Theirs: theirs})
	rd = p.Ready()
	var delta []int
	for _, c := range rd.Copies {
		if c.To == sid {
			if c.Full || c.Digest != nil {
				t.Fatalf("after the digest's answer the primary sends %+v, want a delta", c)
			}
			delta = pbTasks(c.Tasks)
			for _, ts := range c.Tasks {
				i, st, err := tasks.DecodeTaskState(id, n, ts, nil)
				if err != nil {
					t.Fatal(err)
				}
				sst.Merge(i, st)
			}
		}
	}
	if !slices.Equal(delta, []int{1, 2, 7}) {
		t.Fatalf("the delta after the digest holds %v, want [1 2 7]", delta)
	}
	if !p.Confirmed(sid) {
		t.Error("the primary does not count the steward's copy as whole")
	}
	pt, ph := pst.TaskHashes()
	st, sh := sst.TaskHashes()
	if !slices.Equal(pt, st) || !slices.Equal(ph, sh) {
		t.Error("after the exchange the two stewards' task hashes differ")
	}
}

func ptr[T any](v T) *T { return &v }
