package steward

import (
	"errors"
	"log/slog"
	"slices"
	"time"

	"allforone/protocol"
	"allforone/tasks/placement"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// The primary role under primary leases (fence.go): who acts as primary, the takeover, and
// where the steward set comes from.

// Lookup gives the core the result of an iterative DHT lookup of the batch ID
// (placement.Lookup): its stewards are then the K closest servers found, less those found
// unreachable since, instead of the closest of the peers this node is connected to.
type Lookup struct{ Result *placement.Lookup }

func (Lookup) input() {}

// stewards are the batch's stewards, closest first, never empty: from the lookup when
// there is one, else from the view.
func (s *Steward) stewards() []peer.ID {
	if s.lookup != nil {
		if ps := s.lookup.Closest(s.k, s.view.At()); len(ps) > 0 {
			return ps
		}
	}
	return s.view.Stewards(s.id, s.k)
}

// MinVoters is the fewest stewards that vote on a batch's primary, whatever its K: with
// two, a majority is both, and one steward that leaves stops the batch until it is back;
// with one, each side of a partition is a majority. A batch of K=1 or 2 keeps its state on
// this many stewards under primary leases.
const MinVoters = 3

// voters is how many stewards vote: K, at least MinVoters.
func (s *Steward) voters() int { return max(s.k, MinVoters) }

// votingSet are the batch's stewards under primary leases, closest first: the set a
// primary fixed (both sets of a change under way: fence_voters.go), else the voters()
// closest members this node knows (from the lookup when there is one), reachable or not.
// Votes and acknowledgements count only from them, and a strict majority is of them, so
// two candidates with the same set need overlapping majorities.
func (s *Steward) votingSet() []peer.ID {
	if s.vset != nil {
		return s.vset
	}
	if s.f != nil && s.f.voters.Fixed() {
		s.vset = s.fixedSet()
		return s.vset
	}
	s.vset = s.view.KnownClosest(s.id, s.voters())
	if s.lookup != nil {
		if ps := s.lookup.Set(s.voters()); len(ps) > 0 {
			s.vset = ps
		}
	}
	return s.vset
}

// reachable reports whether p may be asked now: live in the view (connected), or found by
// the lookup and not found unreachable since (it can be dialled). A steward that comes back
// after a partition is reachable again as soon as it is connected, without a new lookup.
func (s *Steward) reachable(p peer.ID) bool {
	return p == s.cfg.Self || s.view.Live(p) || s.lookup != nil && s.lookup.Reachable(p)
}

// liveSet is the voting set less the stewards that cannot be reached now: a new slice
// (DeleteFunc on the cached set itself would zero its tail, and votes would carry an
// empty steward).
func (s *Steward) liveSet() []peer.ID {
	return slices.DeleteFunc(slices.Clone(s.votingSet()), func(p peer.ID) bool { return !s.reachable(p) })
}

// addrsOf are p's addresses as the lookup found them (nil when unknown), for a hint.
func (s *Steward) addrsOf(p peer.ID) []ma.Multiaddr {
	if s.lookup == nil || p == "" {
		return nil
	}
	return s.lookup.Addrs(p)
}

// claimFenced is claim under primary leases: this node is primary while it holds the
// lease; taking the role, it pulls the other stewards' copies and merges a majority of
// them before it grants or decides anything; losing it, it answers what it held back
// with a redirect, since none of it is known to be safe.
func (s *Steward) claimFenced(stewards []peer.ID) bool {
	f := s.f
	if !s.holding() {
		s.lapsed()
		return false
	}
	if s.primary {
		// The set may have grown: a steward that joined gets a full copy (its copy state
		// is new) and is pulled once, so what it had converges here. Of a finished batch
		// it gets a digest instead, whose answer brings what differs (Copy.Digest).
		for _, p := range s.others {
			if s.copies[p] == nil && len(s.pulling) == 0 && f.settled && !s.st.Done() && !slices.Contains(s.rd.Pull, p) {
				s.rd.Pull = append(s.rd.Pull, p)
			}
		}
		return len(s.pulling) == 0
	}
	if s.now.Before(f.repullAt) {
		return false // the last pulls found too few states: again a little later
	}
	if len(s.others) == 0 && !s.majority(s.among(nil)) {
		// No other steward can be reached, and this one alone is no majority: taking over
		// without pulls would miss decisions a majority committed (property-test seed 105
		// decided a task a second time). It waits for a majority to be reachable.
		return false
	}
	s.primary = true
	s.st.Epoch = f.epoch
	s.resetCopies()
	s.event(slog.LevelInfo, "primary steward", "epoch", f.epoch)
	others := s.others
	f.pulledOK = nil
	if len(others) == 0 {
		s.takenOverFenced()
		return true
	}
	s.pulling = make(map[peer.ID]bool, len(others))
	for _, p := range others {
		s.pulling[p] = true
	}
	s.rd.Pull = append(s.rd.Pull, others...)
	return false
}

// lapsed ends the primary role of a lease that is no longer held.
func (s *Steward) lapsed() {
	if !s.primary {
		return
	}
	s.primary = false
	s.st.Epoch = 0
	s.event(slog.LevelInfo, "no longer primary steward: the primary lease lapsed", "epoch", s.f.epoch)
	s.pulling = nil
	s.dropAll()
	s.leave()
}

// repullEvery is how long a takeover whose pulls found too few states waits before it
// pulls again (at once, the answers of the same reachable stewards came back in a loop).
const repullEvery = time.Second

// pulledFenced counts a takeover's pull; the takeover completes once a majority's copies
// (this node's own included) are merged, and again pulls the missing ones at the next tick
// when all answered and too few had a state.
func (s *Steward) pulledFenced(in Pulled) {
	f := s.f
	if in.Epoch > 0 {
		s.see(in.Epoch, "", in.From, false)
	}
	if !s.pulling[in.From] {
		return
	}
	delete(s.pulling, in.From)
	if in.Err == nil || errors.Is(in.Err, protocol.ErrUnknownBatch) {
		f.pulledOK = append(f.pulledOK, in.From) // a steward that never heard of the batch has nothing to miss
	}
	if !s.primary || !s.holding() {
		return
	}
	if s.majority(s.among(f.pulledOK)) {
		s.takenOverFenced()
	} else if len(s.pulling) == 0 {
		s.pulling = nil
		s.primary = false // claim again after repullEvery: pull once more
		s.st.Epoch = 0
		f.repullAt = s.now.Add(repullEvery)
	}
}

// takenOverFenced finishes a takeover: the decisions found become this epoch's (its
// copies commit them), a barrier waits for a majority to acknowledge the full copies
// before anything is stored, and parked requests are answered.
func (s *Steward) takenOverFenced() {
	s.pulling = nil
	s.st.TagDecisions(s.f.epoch)
	s.f.settled = false
	s.barriers = append(s.barriers, &barrier{noReply: true, settle: true})
	s.restampVoters()
	s.takenOver()
}

// dropAll answers every held reply with a redirect: this node lost the lease, and what it
// decided was not acknowledged by a majority (the worker sends it to the new primary).
func (s *Steward) dropAll() {
	for _, b := range s.barriers {
		if !b.noReply {
			s.reply(Reply{Req: b.reply.Req, Err: s.notSteward()})
		}
	}
	s.barriers = nil
	for _, in := range s.parked {
		if req, ok := reqOf(in); ok {
			s.reply(Reply{Req: req, Err: s.notSteward()})
		}
	}
	s.parked = nil
	clear(s.needStore)
}

// primaryHint is who this node believes is primary: the holder it promised while the
// promise holds, or one a refusal named, else the closest steward.
func (s *Steward) primaryHint() peer.ID {
	if f := s.f; f != nil {
		if p := f.promise.Holder; p != "" && p != s.cfg.Self && s.now.Before(f.promiseUntil) {
			return p
		}
		if f.hint != "" && slices.Contains(s.votingSet(), f.hint) {
			return f.hint
		}
		for _, p := range s.liveSet() {
			if p != s.cfg.Self {
				return p
			}
		}
	}
	return s.view.Primary(s.id, s.k)
}

func asWire(err error, we **protocol.WireError) bool { return errors.As(err, we) }
