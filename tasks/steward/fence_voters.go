package steward

import (
	"fmt"
	"log/slog"
	"slices"

	"allforone/protocol"
	"allforone/protocol/pb"
	"allforone/tasks/placement"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Reconfiguration of the voting set (protocol/README.md section 10.12), as in Raft's joint
// consensus or Vertical Paxos: the primary that holds the lease replaces a steward that
// left by the closest live member the batch does not count yet, so a batch outlives its
// stewards one after another without waiting for the departed to be forgotten
// (placement.RememberLeft).
//
// Until a primary fixes one, a batch's voting set is the voters() closest members each
// steward knows. A change goes from Set to Next: the primary sends both with its copies,
// and while the change is under way every quorum (a vote, a takeover's pulls, a decision's
// commit) is a majority of Set and a majority of Next. Once a copy carrying the change is
// acknowledged by such a quorum, Next is the set (its Seq one higher). A steward keeps the
// newest voting set it heard of, on disk before it answers (Ready.Voters), and refuses a
// candidate that names an older one, sending its own: every majority of the old set holds
// the new one once the change committed, so no candidate counting by the old set can win,
// and every candidate counting by the new one overlaps the majority that holds the state.

// Voters is a batch's voting set as a fenced primary fixed it. The zero Voters is none
// fixed: the closest members each steward knows vote.
type Voters struct {
	Epoch uint64 // the epoch of the primary that fixed it
	Seq   uint64 // its order among that primary's changes
	// Set are the voters, closest to the batch first; Next, when set, the voters a change
	// under way goes to.
	Set, Next []peer.ID
}

// Fixed reports whether a primary fixed this set.
func (v Voters) Fixed() bool { return v.Epoch > 0 }

// newer reports whether v was fixed after w.
func (v Voters) newer(w Voters) bool { return v.Epoch > w.Epoch || v.Epoch == w.Epoch && v.Seq > w.Seq }

// PB is v on the wire (nil when none is fixed).
func (v Voters) PB() *pb.VotingSet {
	if !v.Fixed() {
		return nil
	}
	m := &pb.VotingSet{Epoch: v.Epoch, Seq: v.Seq}
	for _, p := range v.Set {
		m.Set = append(m.Set, []byte(p))
	}
	for _, p := range v.Next {
		m.Next = append(m.Next, []byte(p))
	}
	return m
}

// VotersFromPB reads a voting set from the wire (nil: none fixed).
func VotersFromPB(m *pb.VotingSet) (Voters, error) {
	if m == nil {
		return Voters{}, nil
	}
	v := Voters{Epoch: m.GetEpoch(), Seq: m.GetSeq()}
	read := func(field string, raw [][]byte) ([]peer.ID, error) {
		if len(raw) > protocol.MaxStewardSet {
			return nil, fmt.Errorf("voting set: %s names %d peers, more than %d", field, len(raw), protocol.MaxStewardSet)
		}
		var out []peer.ID
		for i, b := range raw {
			p, err := peer.IDFromBytes(b)
			if err != nil {
				return nil, fmt.Errorf("voting set: %s[%d]: %w", field, i, err)
			}
			if slices.Contains(out, p) {
				return nil, fmt.Errorf("voting set: %s[%d] names %s again", field, i, p)
			}
			out = append(out, p)
		}
		return out, nil
	}
	var err error
	if v.Set, err = read("set", m.GetSet()); err != nil {
		return Voters{}, err
	}
	if v.Next, err = read("next", m.GetNext()); err != nil {
		return Voters{}, err
	}
	if v.Epoch == 0 || len(v.Set) == 0 {
		return Voters{}, fmt.Errorf("voting set: epoch %d with %d stewards: a fixed set has an epoch and stewards", v.Epoch, len(v.Set))
	}
	return v, nil
}

// Voters is the newest voting set this steward knows (persist it; Fence.Voters at a
// restart).
func (s *Steward) Voters() Voters {
	if s.f == nil {
		return Voters{}
	}
	return s.f.voters
}

// adopt takes v as the voting set when it is newer than the one this steward knows: it is
// persisted before anything of this step goes out, and counts as hearing of an epoch.
func (s *Steward) adopt(v Voters) {
	f := s.f
	if f == nil || !v.Fixed() || !v.newer(f.voters) {
		return
	}
	f.voters, s.vset = v, nil
	f.votersGen++
	f.seen = max(f.seen, v.Epoch)
	s.rd.Voters = &f.voters
	s.event(slog.LevelDebug, "voting set", "epoch", v.Epoch, "seq", v.Seq, "set", len(v.Set), "next", len(v.Next))
}

// adoptWire adopts the voting set a refusal carried, if any.
func (s *Steward) adoptWire(we *protocol.WireError) {
	if v, err := VotersFromPB(we.Voters); err == nil {
		s.adopt(v)
	}
}

// fixedSet is the union of a fixed set's Set and Next, closest first.
func (s *Steward) fixedSet() []peer.ID {
	v := s.f.voters
	all := slices.Clone(v.Set)
	for _, p := range v.Next {
		if !slices.Contains(all, p) {
			all = append(all, p)
		}
	}
	return placement.ByDistance(s.id, all)
}

// majority reports whether the peers got counts (this node among them when it is a
// member) are a quorum of the voting set: a strict majority of it, or, while a change is
// under way, of its Set and of its Next both.
func (s *Steward) majority(got func(peer.ID) bool) bool {
	if s.f != nil && s.f.voters.Fixed() {
		v := s.f.voters
		return majorityOf(v.Set, got) && (len(v.Next) == 0 || majorityOf(v.Next, got))
	}
	return majorityOf(s.votingSet(), got)
}

func majorityOf(set []peer.ID, got func(peer.ID) bool) bool {
	n := 0
	for _, p := range set {
		if got(p) {
			n++
		}
	}
	return n >= len(set)/2+1
}

// among is a set of peers with this node in it, for majority.
func (s *Steward) among(ps []peer.ID) func(peer.ID) bool {
	return func(p peer.ID) bool { return p == s.cfg.Self || slices.Contains(ps, p) }
}

// reconfigure, on the primary, moves the voting set to the voters() closest members it
// can reach, itself among them (not when it is leaving: fence_leave.go): a steward that left is replaced by the closest reachable
// member that does not vote yet, and one that returns (closer than the member that took
// its place) gets its place back, so the set stays where lookups of the batch point. A
// change is under way until a quorum of both sets acknowledged a copy carrying it; one at
// a time, and never to fewer stewards than the set has. (While a change is under way a
// finished batch's new stewards get full copies, not digests: a digest carries no set.)
func (s *Steward) reconfigure() {
	f := s.f
	if !s.primary || !s.holding() || !f.settled || len(s.pulling) > 0 || len(f.voters.Next) > 0 {
		return
	}
	cur := s.votingSet()
	n := s.voters()
	var pool []peer.ID
	if s.lookup != nil {
		pool = s.lookup.Closest(2*n+len(cur), s.now)
	}
	pool = append(pool, s.view.Closest(s.id, 2*n+len(cur))...)
	next := []peer.ID{s.cfg.Self}
	if f.leaving {
		next = nil // a graceful stop: the set moves to the closest others
	}
	for _, p := range placement.ByDistance(s.id, append(pool, cur...)) {
		if len(next) == n {
			break
		}
		if !slices.Contains(next, p) && s.reachable(p) && !(f.leaving && p == s.cfg.Self) {
			next = append(next, p)
		}
	}
	next = placement.ByDistance(s.id, next)
	if len(next) < min(len(cur), n) || sameSet(next, cur) {
		return // the set is where it should be, or no member can take a departed steward's place
	}
	seq := uint64(1)
	if f.voters.Epoch == f.epoch {
		seq = f.voters.Seq + 1
	}
	v := Voters{Epoch: f.epoch, Seq: seq, Set: slices.Clone(cur), Next: next}
	s.adopt(v)
	in := len(slices.DeleteFunc(slices.Clone(next), func(p peer.ID) bool { return slices.Contains(cur, p) }))
	s.event(slog.LevelInfo, "voting set change", "epoch", f.epoch, "seq", seq, "out", len(cur)+in-len(next), "in", in)
	s.claim() // the new stewards join the copies
	s.barriers = append(s.barriers, &barrier{noReply: true, voters: &v})
	if in > 0 {
		f.renewNow = true // the new stewards take copies of an epoch they granted
		s.campaign()
	}
}

// sameSet reports whether a and b hold the same peers.
func sameSet(a, b []peer.ID) bool {
	if len(a) != len(b) {
		return false
	}
	for _, p := range a {
		if !slices.Contains(b, p) {
			return false
		}
	}
	return true
}

// restampVoters, at a takeover, makes a change an earlier primary left under way this
// primary's own: it commits it under its epoch (its copies carry it to both sets again).
func (s *Steward) restampVoters() {
	f := s.f
	if len(f.voters.Next) == 0 || f.voters.Epoch >= f.epoch {
		return
	}
	v := Voters{Epoch: f.epoch, Seq: 1, Set: f.voters.Set, Next: f.voters.Next}
	s.adopt(v)
	s.barriers = append(s.barriers, &barrier{noReply: true, voters: &v})
}

// committedVoters ends the change under way that b carried: a quorum of both sets holds
// it.
func (s *Steward) committedVoters(b *barrier) {
	f := s.f
	if b.voters == nil || len(f.voters.Next) == 0 || f.voters.Epoch != b.voters.Epoch || f.voters.Seq != b.voters.Seq {
		return
	}
	v := Voters{Epoch: f.epoch, Seq: f.voters.Seq + 1, Set: f.voters.Next}
	s.adopt(v)
	s.event(slog.LevelInfo, "voting set changed", "epoch", v.Epoch, "seq", v.Seq, "stewards", len(v.Set))
	s.claim()
	s.leave()
}
