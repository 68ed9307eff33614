package steward

import (
	"fmt"
	"log/slog"
	"slices"
	"time"

	"allforone/protocol"
	"allforone/protocol/pb"

	"github.com/libp2p/go-libp2p/core/peer"
)

// The primary role without primary leases (fence_role.go has it with them): who answers
// as primary, the redirect, taking the role over and giving it up.

// asPrimary reports whether this node may answer a request as primary now. Otherwise it
// answers NOT_STEWARD with the peer its view says is primary, or parks the request while
// the takeover's pulls are under way.
func (s *Steward) asPrimary(req ReqID, in Input) bool {
	if s.f != nil {
		s.campaign() // a request to the closest steward without a lease starts a vote
	}
	if !s.claim() {
		if s.f != nil && !s.primary && s.campaigning() {
			s.parked = append(s.parked, in) // answered once the vote is decided
			return false
		}
		s.reply(Reply{Req: req, Err: s.notSteward()})
		return false
	}
	if len(s.pulling) > 0 {
		s.parked = append(s.parked, in)
		return false
	}
	return true
}

func (s *Steward) notSteward() error {
	p := s.view.Primary(s.id, s.k)
	if s.f != nil {
		if f := s.f; f.promise.Holder != "" && f.promise.Holder != s.cfg.Self && s.now.Before(f.promiseUntil) && !s.view.Live(f.promise.Holder) && s.lookup == nil {
			// The primary this node voted for is gone from its view, and its lease may
			// still hold: nobody may decide until it runs out.
			return protocol.Errorf(pb.ErrorCode_UNAVAILABLE, "no primary to ask: %s holds the primary lease of epoch %d and is unreachable; a new primary is chosen once the lease runs out, within %v: retry then",
				f.promise.Holder, f.promise.Epoch, f.promiseUntil.Sub(s.now).Round(time.Millisecond))
		}
		p = s.primaryHint()
		if s.newcomer() && (p == s.cfg.Self || p != s.f.promise.Holder && p != s.f.hint) {
			// It knows of no primary: a hint would be a guess, and its fellow newcomers'
			// guesses would send the worker round in a circle.
			return protocol.Errorf(pb.ErrorCode_UNAVAILABLE, "no primary known: this steward joined batch %s after it began and has heard from none of its primaries yet; it waits for one up to %v more before it stands itself: retry later",
				s.id, s.f.since.Add(s.f.cfg.Newcomer).Sub(s.now).Round(time.Second))
		}
		if p == s.cfg.Self {
			return protocol.Errorf(pb.ErrorCode_UNAVAILABLE, "no primary now: this steward holds no primary lease and cannot get one: it reaches fewer than a majority (%d) of batch %s's stewards; retry later",
				s.quorum(), s.id)
		}
	}
	return &protocol.WireError{Code: pb.ErrorCode_NOT_STEWARD, Hint: p, Message: fmt.Sprintf("ask %s", p), Addrs: s.addrsOf(p)}
}

// claim takes the primary role when the view says so (pulling the other stewards' copies
// first) and gives it up when it says otherwise. It reports whether this node is primary.
func (s *Steward) claim() bool {
	stewards := s.stewards()
	others := slices.DeleteFunc(slices.Clone(stewards), func(p peer.ID) bool { return p == s.cfg.Self })
	if s.f != nil {
		stewards = s.liveSet()
		others = slices.DeleteFunc(slices.Clone(stewards), func(p peer.ID) bool { return p == s.cfg.Self })
		for p := range s.copies {
			if !slices.Contains(others, p) {
				delete(s.copies, p)
			}
		}
		s.others = others
		return s.claimFenced(stewards)
	}
	others = stewards[1:]
	for p := range s.copies {
		if !slices.Contains(others, p) {
			delete(s.copies, p) // out of the steward set: a full copy if it comes back
		}
	}
	s.others = slices.Clone(others)
	if stewards[0] != s.cfg.Self {
		s.demote(stewards[0])
		return false
	}
	if s.primary {
		return true
	}
	s.primary = true
	s.handBack = ""
	s.event(slog.LevelInfo, "primary steward")
	if s.st.Done() {
		// Every task's outcome is final here, and the others got them from the primary
		// that decided them (one behind pulls when it takes over): no pulls, no full
		// copies. Under churn the takeovers of finished batches were most of a daemon's
		// work, each moving four or five whole copies of the batch.
		s.takenOver()
		return true
	}
	s.resetCopies() // every other steward gets a full copy from the new primary
	if len(others) == 0 {
		s.takenOver()
		return true
	}
	s.pulling = make(map[peer.ID]bool, len(others))
	for _, p := range others {
		s.pulling[p] = true
	}
	s.rd.Pull = append(s.rd.Pull, others...)
	return true
}

// demote gives the primary role up to p: p gets this node's whole state (it may have
// granted leases the other side never heard of: a partition healed), and parked requests
// are sent to p.
func (s *Steward) demote(p peer.ID) {
	if s.primary {
		s.primary = false
		if !s.st.Done() { // a finished batch's outcomes reached the others already
			s.handBack, s.handBackTries = p, 0
		}
		s.event(slog.LevelInfo, "no longer primary steward", "primary", short(p))
	}
	if s.handBack != "" && s.handBack != p {
		s.handBack = "" // the role moved on again; the next primary pulls what it needs
	}
	s.pulling = nil
	s.releaseAll()
	for _, in := range s.parked {
		if req, ok := reqOf(in); ok {
			s.reply(Reply{Req: req, Err: s.notSteward()})
		}
	}
	s.parked = nil
}

func reqOf(in Input) (ReqID, bool) {
	switch in := in.(type) {
	case LeaseRequest:
		return in.Req, true
	case Renew:
		return in.Req, true
	case Return:
		return in.Req, true
	case Complete:
		return in.Req, true
	}
	return 0, false
}

// takenOver finishes a takeover once the other stewards' copies are merged: leases of
// workers that are gone return to the pool, and the parked requests are answered.
func (s *Steward) takenOver() {
	s.pulling = nil
	if gone := s.st.ReleaseGone(s.view.Live); gone > 0 {
		s.event(slog.LevelInfo, "leases of departed workers returned to the pool", "leases", gone)
	}
	parked := s.parked
	s.parked = nil
	for _, in := range parked {
		s.Step(in)
	}
}
