package steward

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"allforone/protocol"
	"allforone/protocol/pb"
	"allforone/tasks"
	"allforone/tasks/placement"

	"github.com/libp2p/go-libp2p/core/peer"
)

// A newcomer to a batch under way (no epoch heard of, no task state, the batch created more
// than Fence.Young before its first input) neither stands nor votes until Fence.Newcomer
// has passed, and tells a worker why; a steward that restarts with a promise on disk is no
// newcomer, and the stewards of a young batch stand at once.
func TestANewcomerWaitsToHearOfAPrimary(t *testing.T) {
	w := plainWorld(t)
	ids := []peer.ID{w.ids["s1"], w.ids["s2"], w.ids["s3"]}
	core := func(self peer.ID, f Fence) *Steward {
		st := tasks.NewBatchState(w.id, w.m, rand.New(rand.NewPCG(1, 2)))
		v := placement.New(placement.Config{Self: self, At: w.now, Members: ids, Connected: ids})
		return New(Config{Self: self, State: st, View: v, LeaseDuration: w.leaseFor, Fence: &f})
	}
	first := core(ids[0], Fence{}).liveSet()[0] // the closest: the one that would stand
	var voter peer.ID
	for _, p := range ids {
		if p != first {
			voter = p
			break
		}
	}
	old := w.m.CreatedAt.Add(time.Hour / 2) // long after the batch began

	c := core(first, Fence{})
	c.Step(Tick{Now: old})
	if rd := c.Ready(); len(rd.Votes) != 0 {
		t.Fatalf("a newcomer asked for votes: %+v", rd.Votes)
	}
	// A worker is told why it gets nothing, not sent to another steward on a guess (the
	// other newcomers would send it round in a circle); a lone newcomer too.
	var we *protocol.WireError
	st := tasks.NewBatchState(w.id, w.m, rand.New(rand.NewPCG(1, 2)))
	lone := New(Config{Self: first, State: st, LeaseDuration: w.leaseFor, Fence: &Fence{},
		View: placement.New(placement.Config{Self: first, At: old, Members: []peer.ID{first}})})
	for _, x := range []*Steward{c, lone} {
		x.Step(LeaseRequest{Req: 1, From: w.ids["w1"], Now: old, Max: 1, BlobsHere: true})
		if rd := x.Ready(); len(rd.Replies) != 1 || !errors.As(rd.Replies[0].Err, &we) || we.Code != pb.ErrorCode_UNAVAILABLE ||
			!strings.Contains(we.Message, "heard from none of its primaries") || len(rd.Votes) != 0 {
			t.Fatalf("a worker asking a newcomer: %+v, votes %+v", rd.Replies, rd.Votes)
		}
	}
	v := core(voter, Fence{})
	v.Step(VoteRequest{Req: 2, From: first, Now: old, Epoch: 1, Duration: DefaultPrimaryLease, Stewards: ids})
	if rd := v.Ready(); len(rd.Replies) != 1 || rd.Replies[0].Vote != nil || !errors.As(rd.Replies[0].Err, &we) || we.Code != pb.ErrorCode_UNAVAILABLE || rd.Promise != nil {
		t.Fatalf("a newcomer asked for its vote: %+v, promise %+v", rd.Replies, rd.Promise)
	}
	// The wait over, it stands.
	c.Step(Tick{Now: old.Add(DefaultNewcomer)})
	if rd := c.Ready(); len(rd.Votes) != 2 {
		t.Fatalf("after the newcomer's wait: %d votes asked, want 2", len(rd.Votes))
	}
	// A steward that restarts with its promise on disk knows the batch: it stands once
	// that promise has run out.
	r := core(first, Fence{Promise: Promise{Epoch: 4, Holder: voter}})
	r.Step(Tick{Now: old})
	r.Step(Tick{Now: old.Add(2 * DefaultPrimaryLease)})
	if rd := r.Ready(); len(rd.Votes) != 2 || rd.Votes[0].Epoch != 5 {
		t.Fatalf("a restarted steward: votes %+v, want 2 for epoch 5", rd.Votes)
	}
	// A young batch's stewards stand at once.
	y := core(first, Fence{})
	y.Step(Tick{Now: w.m.CreatedAt.Add(time.Second)})
	if rd := y.Ready(); len(rd.Votes) != 2 {
		t.Fatalf("a young batch's closest steward asked for %d votes, want 2", len(rd.Votes))
	}
}
