package steward

import (
	"log/slog"
	"slices"
	"time"

	"allforone/protocol"
	"allforone/protocol/pb"

	"github.com/libp2p/go-libp2p/core/peer"
)

// The candidate's and the holder's side of primary leases (fence.go has the voter's):
// asking for votes, counting them, holding and renewing the lease, giving it up.

// campaign asks for the primary lease, or renews it: the closest live steward asks once
// no lease it promised another is left, with an epoch above every one it heard of; the
// holder asks again for its epoch when half its lease is gone.
func (s *Steward) campaign() {
	f := s.f
	if s.campaigning() || len(f.rounds) > 0 && s.now.Sub(f.asked) < f.cfg.Lease/4 {
		return // a round is under way
	}
	set := s.votingSet()
	stewards := s.liveSet()
	epoch := f.epoch
	switch {
	case s.holding():
		if f.bump {
			// The same holder asks for a higher epoch; it holds its own until that wins.
			f.bump = false
			epoch = max(f.seen, f.epoch, f.promise.Epoch) + 1
		} else if f.leaseUntil.Sub(s.now) > f.cfg.Lease/2 && !f.renewNow {
			return
		}
		f.renewNow = false
	case !slices.Contains(set, s.cfg.Self) || stewards[0] != s.cfg.Self && !s.standIn(stewards):
		return // the closest reachable steward asks
	case f.promise.Holder != s.cfg.Self && f.promise.Holder != "" && s.now.Before(f.promiseUntil):
		return // a lease this node granted may still be held
	case s.now.Before(f.quietUntil):
		return // another acts as primary
	case s.newcomer():
		return // it waits to hear from the batch's primary
	case s.awaiting():
		return // it waits for its lookup of the batch's stewards
	case !s.majority(s.among(stewards)):
		return // it cannot win: too few stewards are reachable (asking would only raise the epoch)
	default:
		// A new term: the lease lapsed (another may have held one since), so a primary of
		// the old one stops acting as primary and takes over again once this round wins,
		// even when that is in the same step (a clock that jumped past the lease).
		s.lapsed()
		epoch = max(f.seen, f.promise.Epoch) + 1
		f.epoch, f.leaseUntil, f.settled, f.pulledOK = epoch, time.Time{}, false, nil
	}
	f.asked = s.now
	s.promise(Promise{epoch, s.cfg.Self}, s.now.Add(f.cfg.Lease)) // its own vote
	id, r := s.askVotes(&round{epoch: epoch, sent: s.now, set: set, voters: f.voters}, stewards, f.cfg.Lease)
	s.won(r)
	if r.waiting == 0 {
		s.roundOver(id)
	}
}

// standIn reports whether a steward that is not the closest reachable one asks for the
// lease all the same: the i-th closest does once i leases passed with no sign of a primary
// (no vote it granted holds, nobody acted as primary). The closest may not know it is a
// steward (a change of the voting set it missed), or may not reach a majority that this
// one reaches; the next one's request carries the voting set to it.
func (s *Steward) standIn(stewards []peer.ID) bool {
	f := s.f
	rank := slices.Index(stewards, s.cfg.Self)
	last := f.since
	for _, t := range []time.Time{f.promiseUntil, f.quietUntil} {
		if t.After(last) {
			last = t
		}
	}
	return rank > 0 && !s.now.Before(last.Add(time.Duration(rank)*f.cfg.Lease))
}

// askVotes starts round r: a vote for r.epoch lasting d asked of each of to but this node.
func (s *Steward) askVotes(r *round, to []peer.ID, d time.Duration) (uint64, *round) {
	f := s.f
	f.nextRound++
	f.rounds[f.nextRound] = r
	for _, p := range to {
		if p != s.cfg.Self {
			r.waiting++
			s.rd.Votes = append(s.rd.Votes, VoteAsk{To: p, Round: f.nextRound, Epoch: r.epoch, Duration: d, Stewards: r.set, Voters: f.voters})
		}
	}
	return f.nextRound, r
}

// roundOver forgets a round whose answers are all in; requests that waited for a vote
// this node lost are sent elsewhere.
func (s *Steward) roundOver(id uint64) {
	delete(s.f.rounds, id)
	if !s.holding() && !s.campaigning() && len(s.parked) > 0 {
		parked := s.parked
		s.parked = nil
		for _, in := range parked {
			if req, ok := reqOf(in); ok {
				s.reply(Reply{Req: req, Err: s.notSteward()})
			}
		}
	}
}

// voteAnswer counts an answer; a strict majority (this node's own vote included) grants
// or renews the lease from when the round was sent, less the margin.
func (s *Steward) voteAnswer(in VoteAnswer) {
	f := s.f
	r := f.rounds[in.Round]
	if r == nil {
		return
	}
	r.waiting--
	var we *protocol.WireError
	switch {
	case in.Err == nil && slices.Contains(r.set, in.From):
		r.granted = append(r.granted, in.From)
		if pc := s.copies[in.From]; pc != nil && r.epoch == f.epoch {
			pc.paused = false // a copy it refused before its vote goes again now
		}
	case in.Err == nil:
	case asWire(in.Err, &we) && we.Code == pb.ErrorCode_FENCED:
		s.adoptWire(we)
		s.see(we.Epoch, we.Hint, in.From, false)
		if we.Hint != in.From {
			s.quiet(we.Hint) // a third peer holds the lease
		}
	default:
		s.event(slog.LevelDebug, "primary vote", "from", short(in.From), "err", in.Err)
	}
	s.won(r)
	if r.waiting <= 0 {
		s.roundOver(in.Round)
	}
}

func (s *Steward) won(r *round) {
	f := s.f
	if r.won || f.voters.newer(r.voters) || !s.majority(s.among(r.granted)) || r.epoch < f.epoch || f.promise != (Promise{r.epoch, s.cfg.Self}) {
		return
	}
	r.won = true
	if r.epoch > f.epoch {
		f.epoch = r.epoch // a higher epoch for the holder: its copies carry it from now on
		if s.primary {
			s.st.Epoch = r.epoch
		}
	}
	until := r.sent.Add(f.cfg.Lease - f.cfg.Margin)
	if !s.holding() {
		s.event(slog.LevelInfo, "primary lease granted", "epoch", r.epoch, "votes", len(r.granted)+1)
	}
	if until.After(f.leaseUntil) {
		f.leaseUntil = until
	}
}

// campaigning reports whether this node asked for the lease and the answers are not all
// in: requests wait for them rather than be sent elsewhere.
func (s *Steward) campaigning() bool {
	f := s.f
	if f.epoch == 0 || f.promise != (Promise{f.epoch, s.cfg.Self}) || s.now.Sub(f.asked) >= f.cfg.Lease/4 {
		return false
	}
	for _, r := range f.rounds {
		if r.waiting > 0 && !r.won {
			return true
		}
	}
	return false
}

// releaseVote is how long the vote that gives a lease up binds its voter: a renewal of the
// epoch held, asked for this long, ends the voter's promise to this node almost at once
// (rule 5 of protocol/README.md section 10.12), so no message beyond PrimaryVote is needed.
const releaseVote = time.Millisecond

// release gives the primary lease up (a graceful stop, after the hand-off): this node
// stops acting as primary now and asks each voter to renew its epoch for releaseVote, which
// frees it to vote for the next steward. It asks for no lease again for a lease's length.
func (s *Steward) release() {
	f := s.f
	if !s.holding() {
		return
	}
	epoch := f.epoch
	f.leaseUntil = time.Time{}
	f.quietUntil = s.now.Add(f.cfg.Lease)
	// won: the round grants nothing
	id, r := s.askVotes(&round{epoch: epoch, sent: s.now, set: s.votingSet(), voters: f.voters, won: true}, s.liveSet(), releaseVote)
	if r.waiting == 0 {
		delete(f.rounds, id)
	}
	s.event(slog.LevelInfo, "primary lease given up: a graceful stop", "epoch", epoch, "voters", r.waiting)
}
