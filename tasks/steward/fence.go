package steward

import (
	"fmt"
	"log/slog"
	"slices"
	"time"

	"allforone/protocol"
	"allforone/protocol/pb"
	"allforone/tasks/placement"

	"github.com/libp2p/go-libp2p/core/peer"
)

// One fenced primary (protocol/README.md section 10.12), as a lease-based leader in
// Raft (etcd-io/raft's leader lease with check-quorum) or Chubby: the primary of a batch
// holds a time-bounded lease that a strict majority of the batch's K stewards granted,
// with an epoch number; every lease grant, state copy and result store carries the epoch,
// and a steward or holder refuses a stale one.
//
// A voter grants at most one holder per epoch, never an epoch below one it promised, and
// no new holder while a lease it granted has not run out: its promise lasts the lease
// asked for from when it received the request, on its own clock. The holder counts its
// lease from when it asked (before any voter received the request), less Fence.Margin, so
// it stops granting before its lease can have run out at any voter while clock rates
// differ by less than Margin over one lease. No clock is compared with another. The
// promise is persisted (Ready.Promise) before any answer goes out; a steward that restarts
// takes its saved promise as held for a whole lease from its first input, as it cannot
// know when the lease it granted runs out.
//
// Safety needs no clock at all: a decision (a task accepted or failed) counts once a
// strict majority acknowledged a copy of it under the epoch it was made in (only then is
// the worker answered and the result stored), a steward that promised a higher epoch
// refuses copies of a lower one, and a new primary merges the copies of a majority of
// stewards that voted for it before it decides or stores anything. Majorities overlap,
// so every acknowledged decision reaches every later primary, and on a merge the decision
// of the higher epoch wins (tasks.BatchState.Merge). Clocks only bound how long two
// nodes may both believe they are primary after a clock step: the stale one cannot
// commit, so it decides nothing, and a minority side of a partition stalls.
//
// Assumed: the candidates of one batch agree on its K stewards (the same lookup result);
// two views that differ in the steward set can form majorities that do not overlap.
// A voter refuses a candidate that is not among its own K + placement.Slack closest.
// Two rules keep the sets the same where a partition would split them. Members that left
// stay in a view's voting set for a while (node/internal/membership's Remember), so a
// steward cut off from the others still counts them and cannot reach a majority. And a
// newcomer (a steward that has heard of no epoch of a batch that is no longer young: one
// that learnt of it from its own lookup on the far side of a partition, say) neither
// stands nor votes for a while (Fence.Newcomer): it waits to hear from the batch's
// primary, by a copy, instead of electing one with other newcomers or lending its vote
// to a candidate whose steward set differs from the others'. A batch whose
// stewards all left for good gets a new primary once that wait is over.

// Default primary lease timings.
const (
	// DefaultPrimaryLease is how long a vote holds.
	DefaultPrimaryLease = 10 * time.Second
	// DefaultNewcomer is how long a newcomer to a batch under way waits to hear of an
	// epoch before it stands: by then the members that left are forgotten too.
	DefaultNewcomer = placement.RememberLeft
)

// Fence configures primary leases. Its zero values take the defaults.
type Fence struct {
	// Lease is how long a vote holds: a voter grants no other primary for Lease from when
	// it received the request. Default DefaultPrimaryLease, at most
	// protocol.MaxPrimaryLease.
	Lease time.Duration
	// Margin is how much earlier the primary stops than its voters: it bounds the
	// difference of clock rates over one lease, plus how long a grant may take from the
	// primary's clock to a worker's action. Default Lease/5.
	Margin time.Duration
	// Promise is the promise this steward persisted last (Ready.Promise), restored at a
	// restart.
	Promise Promise
	// Newcomer is how long a steward that has heard of no epoch waits before it stands
	// for a batch created more than Young before its first input. Defaults
	// DefaultNewcomer and 3 leases.
	Newcomer, Young time.Duration
	// Voters is the voting set this steward persisted last (Ready.Voters), restored at a
	// restart.
	Voters Voters
	// AwaitLookup makes a steward that has no lookup of the batch yet (Lookup) neither
	// stand nor vote: before it, the voting set would come from the peers this node is
	// connected to, and in a swarm larger than a node's connections two nodes' sets differ
	// (two primaries of one epoch, each with a majority of its own set). A node with a DHT
	// sets it; a voting set fixed by a primary (Voters) needs no lookup.
	AwaitLookup bool
}

// Promise is a steward's vote: Epoch is the highest primary epoch it granted, Holder the
// peer it granted it to (this node when it asked for it). Persist it before any reply of
// the Ready that carries it goes out.
type Promise struct {
	Epoch  uint64
	Holder peer.ID
}

// VoteRequest is another steward asking for this one's vote (a PrimaryVote).
type VoteRequest struct {
	Req      ReqID
	From     peer.ID
	Now      time.Time
	Epoch    uint64
	Duration time.Duration
	Stewards []peer.ID // the candidate's steward set, closest first (informational)
	Voters   Voters    // the candidate's voting set
}

// VoteAnswer is the answer to a VoteAsk: granted, or refused with Err (a
// *protocol.WireError: FENCED with the epoch the voter promised, or NOT_STEWARD), or not
// delivered (any other Err).
type VoteAnswer struct {
	From  peer.ID
	Round uint64
	Err   error
}

// VoteAsk is a vote to ask for: send a PrimaryVote for Epoch and Duration to To, and step
// the answer back as a VoteAnswer with the same Round.
type VoteAsk struct {
	To       peer.ID
	Round    uint64
	Epoch    uint64
	Duration time.Duration
	Stewards []peer.ID
	Voters   Voters // the candidate's voting set, for the voter to adopt or refuse
}

func (VoteRequest) input() {}
func (VoteAnswer) input()  {}

// fence is a steward's side of primary leases, as voter and as holder.
type fence struct {
	cfg          Fence
	promise      Promise
	promiseUntil time.Time // no vote for another holder before this
	restored     bool      // promiseUntil is set at the first input
	since        time.Time // the first input's time
	knew         bool      // the state had tasks with state at the first input
	seen         uint64    // the highest epoch heard of
	hint         peer.ID   // the holder a refusal named

	epoch      uint64    // the epoch this node holds or asks for
	leaseUntil time.Time // it holds the lease before this
	rounds     map[uint64]*round
	nextRound  uint64
	asked      time.Time // when the last round started
	bump       bool      // renew with a higher epoch: a steward refused this one
	renewNow   bool      // renew at the next tick: a steward is behind this epoch
	quietUntil time.Time // another peer acts as primary: no campaign before this
	settled    bool      // the takeover's copies are acknowledged by a majority
	pulledOK   []peer.ID // takeover pulls answered with a state
	repullAt   time.Time // no takeover pulls again before this (too few states last time)

	voters    Voters // the newest voting set known (fence_voters.go)
	votersGen uint64 // counts changes of voters: copies carry the newest

	leaving   bool // a graceful stop: the primary moves the voting set off itself (fence_leave.go)
	leaveWait bool // the HandOff leaveReq waits for that
	leaveReq  ReqID
}

// round is one request for votes.
type round struct {
	epoch   uint64
	sent    time.Time
	waiting int
	granted []peer.ID // the voters that granted it (this node not among them)
	won     bool
	set     []peer.ID // the voting set it was asked of
	voters  Voters    // the fixed set then: a round under an older one wins nothing
}

func newFence(c Fence) *fence {
	if c.Lease <= 0 {
		c.Lease = DefaultPrimaryLease
	}
	c.Lease = min(c.Lease, protocol.MaxPrimaryLease)
	if c.Margin <= 0 || c.Margin >= c.Lease {
		c.Margin = c.Lease / 5
	}
	if c.Newcomer <= 0 {
		c.Newcomer = DefaultNewcomer
	}
	if c.Young <= 0 {
		c.Young = 3 * c.Lease
	}
	f := &fence{cfg: c, promise: c.Promise, seen: max(c.Promise.Epoch, c.Voters.Epoch), rounds: make(map[uint64]*round), voters: c.Voters}
	f.restored = c.Promise.Epoch > 0
	return f
}

// Promise is what this steward promised last (persist it; Fence.Promise at a restart).
func (s *Steward) Promise() Promise {
	if s.f == nil {
		return Promise{}
	}
	return s.f.promise
}

// Epoch is the primary epoch this node holds, 0 when it holds none.
func (s *Steward) Epoch() uint64 {
	if s.f == nil || !s.holding() {
		return 0
	}
	return s.f.epoch
}

// quorum is how many of the batch's voting stewards make a strict majority (for messages:
// majority decides, and counts both sets of a change under way).
func (s *Steward) quorum() int { return len(s.votingSet())/2 + 1 }

// holding reports whether this node holds the primary lease now.
func (s *Steward) holding() bool {
	f := s.f
	return f.epoch > 0 && f.promise.Holder == s.cfg.Self && f.promise.Epoch >= f.epoch && s.now.Before(f.leaseUntil)
}

// see notes an epoch heard of from peer from (holder: the peer it names as the epoch's
// holder). While this node holds the lease, an epoch at or above its own that another
// candidate asked for (its holder is the peer refusing) makes it move to a higher epoch at
// its next renewal, so that steward can vote for it again; one that a steward promised to
// a third peer, refusing a copy or a store, is evidence of a newer primary: this node
// gives its lease up.
func (s *Steward) see(epoch uint64, holder, from peer.ID, evidence bool) {
	f := s.f
	if epoch > f.seen {
		f.seen = epoch
	}
	if holder != "" && holder != s.cfg.Self {
		f.hint = holder
	}
	if f.epoch > 0 && !f.leaseUntil.IsZero() && epoch < f.epoch && from != "" {
		f.renewNow = true // a steward behind: ask for its vote at the next tick
	}
	if f.epoch == 0 || f.leaseUntil.IsZero() || epoch < f.epoch || holder == s.cfg.Self || epoch == f.epoch && holder == "" {
		return
	}
	if evidence && epoch > f.epoch && holder != from {
		s.event(slog.LevelInfo, "primary lease given up: a newer primary exists", "epoch", f.epoch, "higher", epoch, "holder", short(holder))
		f.leaseUntil = time.Time{}
		s.quiet(holder)
		return
	}
	f.bump = true
}

func (s *Steward) promise(p Promise, until time.Time) {
	s.f.promise, s.f.promiseUntil = p, until
	if p.Epoch > s.f.seen {
		s.f.seen = p.Epoch
	}
	if p.Holder != s.cfg.Self && s.f.epoch > 0 && p.Epoch > s.f.epoch {
		s.f.leaseUntil = time.Time{} // it voted for another's higher epoch
	}
	s.rd.Promise = &Promise{p.Epoch, p.Holder}
}

// fenced is a FENCED error with the epoch this node promised and its holder as the hint.
func (s *Steward) fenced(format string, args ...any) error {
	return &protocol.WireError{Code: pb.ErrorCode_FENCED, Message: fmt.Sprintf(format, args...),
		Epoch: s.f.promise.Epoch, Hint: s.f.promise.Holder, Addrs: s.addrsOf(s.f.promise.Holder)}
}

// vote answers another steward's request for its vote: where a vote is granted.
func (s *Steward) vote(in VoteRequest) {
	f, p := s.f, f0(s.f)
	if f != nil {
		s.adopt(in.Voters)
	}
	switch {
	case f == nil:
		s.reply(Reply{Req: in.Req, Err: protocol.Errorf(pb.ErrorCode_BAD_REQUEST, "this steward keeps no primary epochs for batch %s", s.id)})
		return
	case f.voters.newer(in.Voters):
		err := s.fenced("the voting set named (epoch %d, change %d) is older than this steward's (epoch %d, change %d): take the one attached and ask again",
			in.Voters.Epoch, in.Voters.Seq, f.voters.Epoch, f.voters.Seq)
		err.(*protocol.WireError).Voters = f.voters.PB()
		s.reply(Reply{Req: in.Req, Err: err})
		return
	case !slices.Contains(s.votingSet(), in.From) && !(in.From == p.Holder && in.Epoch == p.Epoch && in.Duration <= releaseVote):
		// (The holder giving its lease up may have moved the set off itself: fence_leave.go.)
		s.reply(Reply{Req: in.Req, Err: s.notSteward()})
		return
	case s.awaiting():
		s.reply(Reply{Req: in.Req, Err: protocol.Errorf(pb.ErrorCode_UNAVAILABLE, "this steward is still looking up batch %s's stewards in the DHT: it votes once it knows them; retry in a moment", s.id)})
		return
	case in.Epoch > p.Epoch && s.newcomer():
		// It knows nothing of the batch's primaries: its vote would let a candidate whose
		// steward set differs from the others' win without them.
		s.reply(Reply{Req: in.Req, Err: protocol.Errorf(pb.ErrorCode_UNAVAILABLE, "this steward is new to batch %s and has heard from none of its primaries: it votes once it has, or in %v",
			s.id, s.f.since.Add(s.f.cfg.Newcomer).Sub(s.now).Round(time.Second))})
		return
	case in.Epoch < p.Epoch:
		s.reply(Reply{Req: in.Req, Err: s.fenced("epoch %d is stale: this steward promised epoch %d to %s; ask for a higher one", in.Epoch, p.Epoch, p.Holder)})
		return
	case in.Epoch == p.Epoch && p.Holder != in.From:
		s.reply(Reply{Req: in.Req, Err: s.fenced("epoch %d was granted to %s, not to %s; ask for a higher one", in.Epoch, p.Holder, in.From)})
		return
	case p.Holder != in.From && p.Holder != "" && s.bound():
		s.reply(Reply{Req: in.Req, Err: s.fenced("%s holds the primary lease of epoch %d for up to %v more", p.Holder, p.Epoch, f.promiseUntil.Sub(s.now))})
		return
	}
	d := min(max(in.Duration, time.Millisecond), protocol.MaxPrimaryLease)
	if in.Epoch > p.Epoch || p.Holder != in.From {
		s.event(slog.LevelInfo, "primary vote granted", "epoch", in.Epoch, "to", short(in.From))
	}
	s.promise(Promise{in.Epoch, in.From}, s.now.Add(d))
	s.reply(Reply{Req: in.Req, Vote: &pb.VoteGrant{Epoch: in.Epoch, DurationMs: uint32(d.Milliseconds())}})
}

// bound reports whether this steward's promise still binds it: a promise to another lasts
// until it runs out; its vote for itself binds while it holds the lease or its round may
// still win (a candidate that lost may vote for another's higher epoch at once).
func (s *Steward) bound() bool {
	f := s.f
	if f.promise.Holder != s.cfg.Self {
		return s.now.Before(f.promiseUntil)
	}
	if s.holding() {
		return true
	}
	for _, r := range f.rounds {
		if r.epoch == f.promise.Epoch && !r.won && r.waiting > 0 {
			return true
		}
	}
	return false
}

// quiet makes this node ask for no lease for a lease's length: peer p acts as primary.
func (s *Steward) quiet(p peer.ID) {
	if p != "" && p != s.cfg.Self && !s.holding() {
		s.f.hint = p
		s.f.quietUntil = s.now.Add(s.f.cfg.Lease)
	}
}

func f0(f *fence) Promise {
	if f == nil {
		return Promise{}
	}
	return f.promise
}

// awaiting reports whether this steward waits for a lookup before it stands or votes
// (Fence.AwaitLookup): it has none, or the last found fewer servers than this node knows
// members (incomplete: a server whose protocols were not known yet, a lookup cut short),
// which would make a set of one or two that this node could win alone.
func (s *Steward) awaiting() bool {
	f := s.f
	if !f.cfg.AwaitLookup || f.voters.Fixed() {
		return false
	}
	if s.lookup == nil {
		return true
	}
	v := s.voters()
	return len(s.lookup.Set(v)) < min(v, len(s.view.KnownClosest(s.id, v)))
}

// newcomer reports whether this steward is a newcomer that may not stand yet: it has
// heard of no epoch of the batch and started with no task state, the batch was created
// more than Fence.Young before this steward's first input, and Fence.Newcomer has not
// passed since.
func (s *Steward) newcomer() bool {
	f := s.f
	if f.seen > 0 || f.knew || s.m.CreatedAt.IsZero() || f.since.Sub(s.m.CreatedAt) < f.cfg.Young {
		return false
	}
	return s.now.Before(f.since.Add(f.cfg.Newcomer))
}

// near reports whether p is among the batch's stewards, with the slack for views that
// differ (state copies, votes).
func (s *Steward) near(p peer.ID) bool { return s.view.NearSteward(s.id, s.k, p) }

// copyEpochOK checks the epoch of a state copy from another steward: it must be the epoch
// this steward promised, to the peer that sent it. A copy without an epoch (an older
// steward) is taken while this steward has promised none.
func (s *Steward) copyEpochOK(from peer.ID, epoch uint64) error {
	p := s.f.promise
	switch {
	case epoch == 0 && p.Epoch == 0:
		return nil
	case epoch == 0:
		return s.fenced("a state copy without an epoch: this steward follows primary epochs (it promised epoch %d to %s)", p.Epoch, p.Holder)
	case epoch < p.Epoch:
		return s.fenced("epoch %d is stale: this steward promised epoch %d to %s", epoch, p.Epoch, p.Holder)
	case epoch == p.Epoch && from != p.Holder:
		return s.fenced("%s claims epoch %d, which this steward granted to %s", from, epoch, p.Holder)
	case epoch > p.Epoch:
		return s.fenced("%s claims epoch %d, which this steward did not grant (it promised epoch %d to %s): ask for its vote first", from, epoch, p.Epoch, p.Holder)
	}
	return nil
}
