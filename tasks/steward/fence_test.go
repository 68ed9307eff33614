package steward

import (
	"errors"
	"slices"
	"testing"
	"time"

	"allforone/protocol"
	"allforone/protocol/pb"
	"allforone/tasks/placement"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// With a lookup, the stewards are the closest servers it found, not the closest peers this
// node is connected to, and a hint names the primary with the addresses it was found with.
// A lookup that found no server leaves the view's stewards in place.
func TestLookupDecidesTheStewardsAndHintsCarryAddresses(t *testing.T) {
	w := plainWorld(t)
	w.fence = &Fence{}
	s2, s1 := w.ids["s2"], w.ids["s1"]
	// s2's view is connected to nobody: without a lookup it would be the only steward.
	lone := placement.New(placement.Config{Self: s2, At: w.now, Members: []peer.ID{s2}})
	core := New(Config{Self: s2, State: w.nodes["s2"].core.State(), View: lone, LeaseDuration: w.leaseFor, Fence: &Fence{}})
	core.Step(Lookup{Result: placement.NewLookup(w.id, nil, w.now)})
	if got := core.stewards(); !slices.Equal(got, []peer.ID{s2}) {
		t.Fatalf("an empty lookup: stewards %v", got)
	}
	addr := ma.StringCast("/ip4/127.0.0.1/tcp/4001")
	var found []placement.PeerInfo
	for _, x := range w.members {
		info := placement.PeerInfo{ID: w.ids[x]}
		if x == "s1" {
			info.Addrs = []ma.Multiaddr{addr}
		}
		found = append(found, info)
	}
	core.Step(Lookup{Result: placement.NewLookup(w.id, found, w.now)})
	if got, want := core.votingSet(), []peer.ID{s1, s2, w.ids["s3"]}; !slices.Equal(got, want) {
		t.Fatalf("voting set %v, want %v", got, want)
	}
	core.Ready()
	// s1 is the closest reachable: s2 does not ask for the lease and sends workers to s1,
	// with s1's address.
	core.Step(LeaseRequest{Req: 7, From: w.ids["w1"], Now: w.now, Max: 1, BlobsHere: true})
	rd := core.Ready()
	var we *protocol.WireError
	if len(rd.Votes) != 0 || len(rd.Replies) != 1 || !errors.As(rd.Replies[0].Err, &we) || we.Code != pb.ErrorCode_NOT_STEWARD ||
		we.Hint != s1 || len(we.Addrs) != 1 || !we.Addrs[0].Equal(addr) {
		t.Fatalf("votes %v, replies %+v", rd.Votes, rd.Replies)
	}
	// s1 found unreachable: s2 is the first reachable steward and asks the others (s1
	// still counts in the voting set, so s2 needs s3's vote).
	core.Step(Lookup{Result: placement.NewLookup(w.id, found, w.now).Unreachable(s1, w.now)})
	core.Step(Tick{Now: w.now.Add(time.Second)})
	rd = core.Ready()
	if len(rd.Votes) != 1 || rd.Votes[0].To != w.ids["s3"] || rd.Votes[0].Epoch != 1 || rd.Promise == nil || rd.Promise.Holder != s2 {
		t.Fatalf("votes %+v, promise %+v", rd.Votes, rd.Promise)
	}
	// The vote names the whole voting set, the unreachable s1 too (the voter checks it).
	if want := []peer.ID{s1, s2, w.ids["s3"]}; !slices.Equal(rd.Votes[0].Stewards, want) || !slices.Equal(core.votingSet(), want) {
		t.Fatalf("the vote names stewards %v and the voting set is %v, want %v", rd.Votes[0].Stewards, core.votingSet(), want)
	}
	core.Step(VoteAnswer{From: w.ids["s3"], Round: rd.Votes[0].Round})
	if core.Epoch() != 1 || core.Ready().Pull == nil {
		t.Fatalf("epoch %d after a majority of votes", core.Epoch())
	}
}
