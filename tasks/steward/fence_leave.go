package steward

import (
	"log/slog"
	"slices"
)

// A graceful stop under primary leases (protocol/README.md section 10.12). The primary
// that stops first moves the voting set off itself, by the same joint-consensus change
// that replaces a steward that left, and only then hands its state over (HandOff) and
// gives its lease up (Release). Without it, a primary that stopped soon after another
// steward of the set left took a majority of the set with it: the one steward left could
// not win a vote, and the batch waited until the departed were forgotten.
//
// The change needs a majority of the old set (this node and one other) and of the new one
// (two of the others): a copy carrying it is acknowledged by both before the hand-off's
// copies go out, and those carry the committed set, so the next candidate counts by it. A
// swarm with no other member to take this node's place, or a lease lost on the way, ends
// the wait: the hand-off goes on as before.

// leave moves a leaving primary's hand-off on: it waits for a change of the voting set
// under way, starts the one that takes this node out, and once the set no longer holds it
// (or cannot be moved) hands the state over; the HandOff's answer waits for that.
func (s *Steward) leave() {
	f := s.f
	if f == nil || !f.leaveWait {
		return
	}
	if !s.primary || !s.holding() {
		f.leaveWait = false
		s.reply(Reply{Req: f.leaveReq}) // nothing of this node's is needed now
		return
	}
	if len(s.pulling) > 0 || !f.settled {
		return // the takeover first
	}
	if len(f.voters.Next) == 0 && slices.Contains(s.votingSet(), s.cfg.Self) {
		s.reconfigure()
	}
	if len(f.voters.Next) > 0 {
		return // the change commits first (committedVoters calls again)
	}
	f.leaveWait = false
	if slices.Contains(s.votingSet(), s.cfg.Self) {
		s.event(slog.LevelInfo, "leaving in the voting set: no other member can take this steward's place")
	}
	s.handOff(f.leaveReq)
}

// handOff gives every other steward a full, current copy and stores what is pending; req
// is answered once that is done.
func (s *Steward) handOff(req ReqID) {
	s.resetCopies()
	for i := range s.retry {
		s.needStore[i] = struct{}{}
	}
	clear(s.retry)
	s.hold(Reply{Req: req}, sortedKeys(s.needStore))
}
