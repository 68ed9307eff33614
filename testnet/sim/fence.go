package sim

import (
	"allforone/tasks/steward"
)

// Fenced primaries (Config.PrimaryLeases, protocol/README.md section 10.12): a steward's
// core is given a Fence, restored from the promise its node persisted for the batch, and
// its votes travel as messages of their own. A voter that keeps no state of the batch
// becomes one of its stewards first, as a node handed the manifest does. The epochs on
// copies, pulls and stores are carried in steward.go; holders here take every store (a
// real holder refuses one below an epoch it stored under).

// fenceFor is the Fence of n's steward of b, nil without primary leases.
func (s *Sim) fenceFor(n *node, b *batch) *steward.Fence {
	if !s.cfg.PrimaryLeases {
		return nil
	}
	return &steward.Fence{Promise: n.promises[b.idx], Voters: n.voters[b.idx]}
}

// carryVotes persists st's promise and voting set (before anything of its Ready goes out) and sends the
// votes it asks for.
func (s *Sim) carryVotes(st *stew, rd steward.Ready) {
	n, b := st.n, st.b
	if rd.Promise != nil {
		if n.promises == nil {
			n.promises = map[int32]steward.Promise{}
		}
		n.promises[b.idx] = *rd.Promise
	}
	if rd.Voters != nil {
		if n.voters == nil {
			n.voters = map[int32]steward.Voters{}
		}
		n.voters[b.idx] = *rd.Voters
	}
	for _, v := range rd.Votes {
		s.askSteward(kindVote, st, s.nodes[s.byID[v.To]], func(id steward.ReqID) steward.Input {
			return steward.VoteRequest{Req: id, From: n.id, Now: s.wall(), Epoch: v.Epoch, Duration: v.Duration, Stewards: v.Stewards, Voters: v.Voters}
		}, func(err error) {
			s.votes++
			if err == nil {
				s.votesGranted++
			}
			s.stepStew(st, steward.VoteAnswer{From: v.To, Round: v.Round, Err: err})
		})
	}
}
