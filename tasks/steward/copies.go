package steward

import (
	"bytes"
	"log/slog"
	"slices"

	"allforone/protocol"
	"allforone/protocol/pb"
	"allforone/tasks"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Copies from other stewards, pulls, and stores on holders.

// stateCopy merges another steward's copy. Only a steward copies state, and only to
// stewards: both must be among the batch's closest peers (with some slack for differing
// views of the swarm).
func (s *Steward) stateCopy(in StateCopy) {
	if s.admitCopy(in.Req, in.From, in.Epoch) {
		if s.f != nil {
			s.adopt(in.Voters)
		}
		s.merge(in.Tasks)
		s.reply(Reply{Req: in.Req})
	}
}

// digestQuery answers how this steward's state differs from the primary's digest, task by
// task: a steward that returns with the state of a finished batch then gets no full copy
// of it, and the two learn each other's differences.
func (s *Steward) digestQuery(in DigestQuery) {
	if !s.admitCopy(in.Req, in.From, in.Epoch) {
		return
	}
	r := Reply{Req: in.Req}
	mine, hashes := s.st.TaskHashes()
	theirs := in.Digest
	for a, b := 0, 0; a < len(mine) || b < len(theirs.Tasks); {
		switch {
		case b == len(theirs.Tasks) || a < len(mine) && mine[a] < theirs.Tasks[b]:
			r.Differing = append(r.Differing, s.st.TaskStateToPB(mine[a])) // the primary has none
			a++
		case a == len(mine) || theirs.Tasks[b] < mine[a]:
			r.Want = append(r.Want, theirs.Tasks[b]) // this steward has none
			b++
		default:
			if hashes[a] != theirs.Hashes[b] {
				r.Want = append(r.Want, mine[a])
				r.Differing = append(r.Differing, s.st.TaskStateToPB(mine[a]))
			}
			a, b = a+1, b+1
		}
	}
	s.reply(r)
}

// admitCopy checks a copy (or a digest) from another steward, and answers req when it
// refuses it.
func (s *Steward) admitCopy(req ReqID, from peer.ID, epoch uint64) bool {
	// Under primary epochs the copy of the primary this steward voted for, at the epoch it
	// voted for, is taken whatever this node's view (its connections) says.
	voted := s.f != nil && epoch > 0 && s.f.promise == (Promise{epoch, from})
	if !voted && (!s.view.NearSteward(s.id, s.k, from) || !s.view.NearSteward(s.id, s.k, s.cfg.Self)) {
		s.reply(Reply{Req: req, Err: &protocol.WireError{Code: pb.ErrorCode_NOT_STEWARD,
			Message: "state copies go between the batch's stewards", Hint: s.view.OtherSteward(s.id, s.k)}})
		return false
	}
	if s.f != nil {
		if err := s.copyEpochOK(from, epoch); err != nil {
			if epoch >= s.f.promise.Epoch {
				s.see(epoch, from, from, false)
				s.quiet(from) // it acts as primary: let it ask for this vote
			}
			s.event(slog.LevelInfo, "state copy refused", "from", short(from), "epoch", epoch, "promised", s.f.promise.Epoch)
			s.reply(Reply{Req: req, Err: err})
			return false
		}
	}
	return true
}

// merge folds tasks into the state; what changed is persisted (and, on the primary,
// copied on: the stewards converge on the union).
func (s *Steward) merge(ts []TaskCopy) {
	var decided []int
	for _, tc := range ts {
		c := s.st.Merge(tc.Task, tc.State)
		if c.Added {
			s.persist[tc.Task] = struct{}{}
		}
		if (c.Accepted || c.Failed) && s.primary && s.f != nil {
			if len(s.pulling) > 0 {
				// A takeover's pull: the decisions keep their epochs until every copy of
				// the majority is merged (takenOverFenced tags them then). Tagged now, an
				// uncommitted decision of an old epoch pulled first would outrank a
				// committed one of a later epoch pulled next.
				continue
			}
			// This primary's decision now: copied, and committed before it is stored.
			s.st.TagDecision(tc.Task, s.f.epoch)
			decided = append(decided, tc.Task)
		} else if c.Accepted && s.primary {
			s.needStore[tc.Task] = struct{}{}
		}
	}
	if len(decided) > 0 {
		s.barriers = append(s.barriers, &barrier{noReply: true, stores: decided})
	}
}

// pulled merges a pulled copy; the last answer of a takeover's pulls completes it.
func (s *Steward) pulled(in Pulled) {
	if in.Err != nil {
		s.event(slog.LevelDebug, "pull state", "from", short(in.From), "err", in.Err)
	} else {
		s.merge(in.Tasks)
		if s.f != nil {
			s.adopt(in.Voters)
		}
	}
	if s.f != nil {
		s.pulledFenced(in)
		return
	}
	if !s.pulling[in.From] {
		return
	}
	delete(s.pulling, in.From)
	if len(s.pulling) == 0 && s.primary {
		s.takenOver()
	}
}

// stored records a holder's acknowledgement.
func (s *Steward) stored(in Stored) {
	if s.f != nil && in.Epoch > 0 {
		s.see(in.Epoch, "", in.Holder, true) // a holder stored under a higher epoch: this lease is over
	}
	for _, i := range in.Stored {
		s.st.AddHolder(i, in.Holder)
		s.doneStoring(i)
	}
	for _, i := range in.Failed {
		s.retry[i] = struct{}{}
		s.doneStoring(i)
	}
}

func (s *Steward) doneStoring(i int) {
	if s.storing[i]--; s.storing[i] <= 0 {
		delete(s.storing, i)
	}
}

// storeOut stores the accepted results that need it on their holders: where a result's
// holders are chosen (placement.View.StoreTargets). The view is the one of this step, so
// placement is computed once per result, not per lookup.
func (s *Steward) storeOut() {
	if len(s.needStore) == 0 {
		return
	}
	per := make(map[peer.ID][]StoreResult)
	for _, i := range sortedKeys(s.needStore) {
		t := s.st.Task(i)
		out, ok := t.Accepted()
		if !ok || s.storing[i] > 0 {
			continue
		}
		key := tasks.TaskID(s.id, i)
		targets := s.view.StoreTargets(key, s.k, t.Holders)
		if len(targets) == 0 {
			continue
		}
		sr := StoreResult{Task: i, Records: t.Agreeing(), Output: out, Vouch: t.Single && !t.Reverified}
		// Outputs come from this node's blob store (workers sent them with their results)
		// or, after a takeover, from the peers that have them: live holders, the executors
		// (they keep their outputs), the expected holders.
		for _, h := range t.Holders {
			if s.view.Live(h) {
				sr.Hints = append(sr.Hints, h)
			}
		}
		for _, r := range sr.Records {
			sr.OutputSize = r.OutputSize
			sr.Hints = append(sr.Hints, r.Executor)
		}
		sr.Hints = append(sr.Hints, s.view.Closest(key, s.k)...)
		for _, h := range targets {
			per[h] = append(per[h], sr)
			s.storing[i]++
		}
	}
	clear(s.needStore)
	holders := make([]peer.ID, 0, len(per))
	for h := range per {
		holders = append(holders, h)
	}
	slices.SortFunc(holders, func(a, b peer.ID) int { return bytes.Compare([]byte(a), []byte(b)) })
	for _, h := range holders {
		st := Store{Holder: h, Results: per[h]}
		if s.f != nil {
			st.Epoch = s.f.epoch
		}
		s.rd.Stores = append(s.rd.Stores, st)
	}
}
