package steward

import (
	"log/slog"
	"slices"

	"allforone/protocol"
	"allforone/protocol/pb"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Flow control of state copies, as raft's progress tracking: the primary keeps, per other
// steward, what it has not sent there yet and how many copies are on their way. At most
// MaxInflight copies to each steward are in flight (raft's MaxInflightMsgs); what changes
// while the window is full goes together in the next one, so a burst of lease grants costs
// a few copies per steward per round trip, not one each. A reply that must wait until its
// changes are safe (a completion: the worker forgets its results once answered) waits at a
// barrier until a copy holding them was answered by every other steward and its results'
// stores by their holders.

// MaxInflight is how many state copies to one steward may be on their way at once.
const MaxInflight = 4

// copyState is how far a steward's copy is known to be complete.
type copyState uint8

const (
	copyNone      copyState = iota // it may have nothing: send everything
	copySending                    // a full copy is on its way
	copyConfirmed                  // it has every change up to the last copy sent
)

// peerCopy is what the primary knows of one other steward's copy.
type peerCopy struct {
	state    copyState
	unsent   map[int]struct{} // tasks changed since the last copy sent to it
	inflight int              // copies on their way
	sent     uint64           // sequence number of the last copy sent
	done     uint64           // every copy up to this one was answered (or failed)
	answered map[uint64]bool  // copies after done answered already (out of order)
	paused   bool             // a copy failed: the next goes at the next tick
	digested bool             // it got a digest since it joined the set: no second one
	voters   uint64           // the fence's votersGen its last copy carried
}

// barrier holds a reply until its changes are copied and its results stored.
type barrier struct {
	reply  Reply
	final  bool               // its copies are known (set by the Ready after its step)
	copies map[peer.ID]uint64 // the copy to each steward that must be answered
	stores []int              // tasks whose store must have been tried

	// Under primary leases (fence.go) a barrier commits: its copies must be acknowledged
	// by enough stewards that, with this one, they are a strict majority; only then are
	// its stores queued, and its reply waits for those.
	acked   map[peer.ID]bool // stewards that acknowledged its copy
	queued  bool             // committed: its stores are queued
	noReply bool             // a commit without a reply (decisions a merge made, a takeover)
	settle  bool             // the takeover's: committing it lets the primary store
	voters  *Voters          // a change of the voting set: committing it ends the change
}

// peer returns the copy state of steward p, making it.
func (s *Steward) peerCopy(p peer.ID) *peerCopy {
	pc := s.copies[p]
	if pc == nil {
		// Each incarnation numbers its copies from a base of its own, so an answer to a
		// copy sent before p left the steward set and came back is told apart.
		s.copyBase += 1 << 32
		pc = &peerCopy{unsent: make(map[int]struct{}), answered: make(map[uint64]bool), sent: s.copyBase, done: s.copyBase}
		s.copies[p] = pc
		// A steward that joins the set (or comes back) counts for the barriers waiting for
		// a majority: its first copy is a full one, which holds what they wait for.
		// Without this, a barrier made while a steward was unreachable waited for the
		// others alone, and under primary leases could wait for ever.
		for _, b := range s.barriers {
			if b.final && !b.queued {
				b.copies[p] = pc.sent + 1
			}
		}
	}
	return pc
}

// resetCopies makes every other steward get a full copy next (a new primary, a graceful
// stop). Copies on their way still count when they are answered.
func (s *Steward) resetCopies() {
	for _, pc := range s.copies {
		pc.state = copyNone
		clear(pc.unsent)
	}
}

// hold makes r wait until the changes made so far are copied and stores are tried.
func (s *Steward) hold(r Reply, stores []int) {
	s.barriers = append(s.barriers, &barrier{reply: r, stores: stores})
}

// copyOut hands the changed tasks to the other stewards: one with room in its window gets a
// copy of what it has not got yet (everything, when it may have nothing). encoded holds the
// tasks encoded already in this Ready; it gains those encoded here.
func (s *Steward) copyOut(changed []int, encoded map[int]*pb.TaskState) {
	for _, p := range s.others {
		pc := s.peerCopy(p)
		for _, i := range changed {
			pc.unsent[i] = struct{}{}
		}
	}
	for _, b := range s.barriers {
		if b.final {
			continue
		}
		b.final, b.copies, b.acked = true, make(map[peer.ID]uint64), make(map[peer.ID]bool)
		for _, p := range s.others {
			if pc := s.copies[p]; pc.state == copyNone || len(pc.unsent) > 0 || s.votersOwed(pc) {
				b.copies[p] = pc.sent + 1 // the next copy holds its changes
			}
		}
	}
	for _, p := range s.others {
		pc := s.copies[p]
		if pc.inflight >= MaxInflight || pc.paused || (pc.state != copyNone && len(pc.unsent) == 0 && !s.votersOwed(pc)) {
			continue
		}
		c := Copy{To: p, Manifest: pc.state != copyConfirmed}
		if s.f != nil {
			c.Epoch, c.Voters, pc.voters = s.f.epoch, s.f.voters, s.f.votersGen
		}
		switch {
		case pc.state == copyNone && s.st.Done() && !pc.digested && (s.f == nil || len(s.f.voters.Next) == 0):
			// A finished batch changes only when holders do: a steward that returns to the
			// set most likely has all of it, and a digest costs it and this node far less
			// than the whole state, signed, checked and merged. (Not while the voting set
			// changes: a digest carries no set.)
			ts, hs := s.st.TaskHashes()
			c.Full, c.Manifest, c.Digest, pc.state, pc.digested = true, false, &Digest{Tasks: ts, Hashes: hs}, copySending, true
		case pc.state == copyNone:
			c.Full, c.Tasks, pc.state = true, s.allStates(), copySending
		default:
			for _, i := range sortedKeys(pc.unsent) {
				if encoded[i] == nil {
					encoded[i] = s.st.TaskStateToPB(i)
				}
				c.Tasks = append(c.Tasks, encoded[i])
			}
		}
		clear(pc.unsent)
		pc.sent++
		pc.inflight++
		c.Seq = pc.sent
		s.rd.Copies = append(s.rd.Copies, c)
	}
}

// copySent records the answer to a copy.
func (s *Steward) copySent(in CopySent) {
	if in.To == s.handBack && in.Seq == 0 {
		s.handBackBusy = false
		if in.Err == nil {
			s.handBack = "" // the new primary has everything this node had
		}
		return
	}
	pc := s.copies[in.To]
	if pc == nil || in.Seq <= pc.done || in.Seq > pc.sent || pc.answered[in.Seq] {
		return // no longer a steward, an answer to an earlier incarnation, or seen already
	}
	pc.inflight--
	pc.answered[in.Seq] = true
	for pc.answered[pc.done+1] {
		delete(pc.answered, pc.done+1)
		pc.done++
	}
	if in.Err != nil || in.Differs {
		// Send everything next: at once after a digest that differs, at the next tick
		// after a failure.
		pc.state = copyNone
		if in.Err != nil {
			s.event(slog.LevelDebug, "state copy failed", "to", short(in.To), "err", in.Err)
			pc.paused = true
		}
		var we *protocol.WireError
		if s.f != nil && asWire(in.Err, &we) && we.Code == pb.ErrorCode_FENCED {
			s.see(we.Epoch, we.Hint, in.To, true) // a newer primary: this lease is over
		}
		for _, b := range s.barriers {
			if b.final && b.copies[in.To] == in.Seq {
				b.copies[in.To] = pc.sent + 1 // the next copy, a full one, carries it
			}
		}
		return
	}
	if in.Full && pc.state == copySending {
		pc.state = copyConfirmed
	}
	// A digest's answer: what the steward has that this one lacks is merged here (and so
	// copied on to every steward), and what differs there goes to it next.
	s.merge(in.Theirs)
	for _, i := range in.Want {
		if i >= 0 && i < s.st.NumTasks() {
			pc.unsent[i] = struct{}{}
		}
	}
	for _, b := range s.barriers {
		if seq, ok := b.copies[in.To]; ok && b.final && (in.Seq == seq || in.Full && in.Seq >= seq) {
			b.acked[in.To] = true
		}
	}
}

// committing are the tasks whose decisions wait for a majority (primary leases): they are
// not stored before.
func (s *Steward) committing() map[int]bool {
	out := make(map[int]bool)
	for _, b := range s.barriers {
		if !b.queued {
			for _, i := range b.stores {
				out[i] = true
			}
		}
	}
	return out
}

// votersOwed reports whether steward pc was sent no copy with the newest voting set.
func (s *Steward) votersOwed(pc *peerCopy) bool {
	return s.f != nil && s.f.voters.Fixed() && pc.voters != s.f.votersGen
}

// commitBarriers queues the stores of the barriers that a majority acknowledged (primary
// leases): a decision is stored and answered only once every later primary will learn it.
func (s *Steward) commitBarriers() {
	for _, b := range s.barriers {
		if !b.final || b.queued || !s.f.settled && !b.settle {
			continue
		}
		acked := func(p peer.ID) bool { return p == s.cfg.Self || b.acked[p] && slices.Contains(s.others, p) }
		if !s.majority(acked) && (len(b.copies) > 0 || len(b.stores) > 0 || b.settle || b.voters != nil || len(s.others) == 0) {
			continue // a decision is stored and answered only once a majority has it
		}
		b.queued = true
		s.committedVoters(b)
		if b.settle {
			s.f.settled = true
			s.event(slog.LevelInfo, "takeover committed: a majority holds this primary's state", "epoch", s.f.epoch)
			for _, i := range s.st.UnderReplicated(s.k, s.view.State) {
				s.needStore[i] = struct{}{}
			}
		}
		for _, i := range b.stores {
			s.needStore[i] = struct{}{}
		}
	}
}

// releaseBarriers answers the replies whose copies were answered and whose stores were
// tried. A steward that left the steward set is not waited for.
func (s *Steward) releaseBarriers() {
	keep := s.barriers[:0]
	for _, b := range s.barriers {
		if b.final && (s.f == nil || b.queued) && s.barrierDone(b) {
			if !b.noReply {
				s.reply(b.reply)
			}
		} else {
			keep = append(keep, b)
		}
	}
	clear(s.barriers[len(keep):])
	s.barriers = keep
}

func (s *Steward) barrierDone(b *barrier) bool {
	for p, seq := range b.copies {
		if s.f != nil {
			break // committed already (commitBarriers)
		}
		if pc := s.copies[p]; pc != nil && slices.Contains(s.others, p) && pc.done < seq {
			return false
		}
	}
	for _, i := range b.stores {
		if _, pending := s.needStore[i]; pending || s.storing[i] > 0 {
			return false
		}
	}
	return true
}

// releaseAll answers every held reply at once: this node stopped being primary (what it
// recorded goes to the new primary with its hand-back).
func (s *Steward) releaseAll() {
	for _, b := range s.barriers {
		s.reply(b.reply)
	}
	s.barriers = nil
}

// handBackOut sends a demoted primary's whole state to the new primary, a tick apart, a
// few times at most.
func (s *Steward) handBackOut() {
	if s.handBack == "" || s.handBackBusy || s.primary {
		return
	}
	if s.handBackTries >= handBackTries {
		s.handBack = ""
		return
	}
	s.handBackTries++
	s.handBackBusy = true
	s.rd.Copies = append(s.rd.Copies, Copy{To: s.handBack, Full: true, Manifest: true, Tasks: s.allStates()})
}

// allStates encodes every task that has any state.
func (s *Steward) allStates() []*pb.TaskState {
	var out []*pb.TaskState
	for i := range s.st.NumTasks() {
		if s.st.HasState(i) {
			out = append(out, s.st.TaskStateToPB(i))
		}
	}
	return out
}
