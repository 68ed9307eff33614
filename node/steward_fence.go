package node

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"allforone/node/internal/store"
	"allforone/protocol"
	"allforone/protocol/pb"
	"allforone/tasks/steward"
)

// One fenced primary per batch (protocol/README.md section 10.12; the core's side is
// tasks/steward/fence.go). The driver's part: a steward's promise is kept on disk, synced
// before anything that depends on it goes out, and restored when its loop starts again;
// votes go out as PrimaryVote requests and come in through the steward protocol; epochs
// ride on grants, copies, snapshots and stores (steward.go, steward_loop.go).

// voteTimeout bounds one vote request: an answer later than this is of no use to a round
// (the core asks again at its next tick).
const voteTimeout = 2 * time.Second

// readPromise is this node's saved promise for batch id (none when it never voted).
func (n *Node) readPromise(ctx context.Context, id cid.Cid) (steward.Promise, error) {
	raw, err := n.ds.Get(ctx, store.PromiseKey(id))
	switch {
	case errors.Is(err, datastore.ErrNotFound):
		return steward.Promise{}, nil
	case err != nil:
		return steward.Promise{}, fmt.Errorf("read the primary promise of batch %s: %w", id, err)
	}
	if len(raw) < 8 {
		return steward.Promise{}, fmt.Errorf("the primary promise of batch %s is %d bytes, too short to hold an epoch: run allforone repair", id, len(raw))
	}
	holder, err := peer.IDFromBytes(raw[8:])
	if err != nil {
		return steward.Promise{}, fmt.Errorf("the primary promise of batch %s names no peer (%v): run allforone repair", id, err)
	}
	return steward.Promise{Epoch: binary.BigEndian.Uint64(raw), Holder: holder}, nil
}

// savePromise writes p as this node's promise for batch id and makes it durable: a
// steward that forgot a vote after a crash could grant the same epoch twice.
func (n *Node) savePromise(ctx context.Context, id cid.Cid, p steward.Promise) error {
	raw := binary.BigEndian.AppendUint64(nil, p.Epoch)
	raw = append(raw, []byte(p.Holder)...)
	if err := n.ds.Put(ctx, store.PromiseKey(id), raw); err != nil {
		return fmt.Errorf("save the primary promise of batch %s: %w", id, err)
	}
	if err := n.durable.SyncThrough(ctx, n.durable.Mark()); err != nil {
		return fmt.Errorf("sync the primary promise of batch %s: %w", id, err)
	}
	return nil
}

// readVoters is this node's saved voting set for batch id (none when none was fixed).
func (n *Node) readVoters(ctx context.Context, id cid.Cid) (steward.Voters, error) {
	raw, err := n.ds.Get(ctx, store.VotersKey(id))
	switch {
	case errors.Is(err, datastore.ErrNotFound):
		return steward.Voters{}, nil
	case err != nil:
		return steward.Voters{}, fmt.Errorf("read the voting set of batch %s: %w", id, err)
	}
	var m pb.VotingSet
	if err := proto.Unmarshal(raw, &m); err != nil {
		return steward.Voters{}, fmt.Errorf("the voting set of batch %s does not decode (%v): run allforone repair", id, err)
	}
	v, err := steward.VotersFromPB(&m)
	if err != nil {
		return steward.Voters{}, fmt.Errorf("the voting set of batch %s: %v: run allforone repair", id, err)
	}
	return v, nil
}

// keepVoters persists the voting set of a Ready, synced, before anything of it goes out
// (a steward that forgot a newer set could vote for a candidate counting by an older
// one); it reports whether that may happen.
func (l *stewardLoop) keepVoters(ctx context.Context, v *steward.Voters) bool {
	if v == nil {
		return true
	}
	raw, err := proto.Marshal(v.PB())
	if err == nil {
		err = l.n.ds.Put(ctx, store.VotersKey(l.b.id), raw)
	}
	if err == nil {
		err = l.n.durable.SyncThrough(ctx, l.n.durable.Mark())
	}
	if err != nil {
		l.log.Error("voting set not saved: this Ready is not carried out", "err", err)
		return false
	}
	return true
}

// keepPromise persists the promise of a Ready before anything of it goes out; it reports
// whether that may happen. A promise that is not new costs nothing.
func (l *stewardLoop) keepPromise(ctx context.Context, p *steward.Promise) bool {
	if p == nil || *p == l.promise {
		return true
	}
	if err := l.n.savePromise(ctx, l.b.id, *p); err != nil {
		l.log.Error("primary promise not saved: this Ready is not carried out", "err", err)
		return false
	}
	l.promise = *p
	return true
}

// withheld answers what a Ready whose promise could not be saved would have sent: every
// reply with UNAVAILABLE, and every vote, copy, store and pull as failed, so the core
// tries again.
func (l *stewardLoop) withheld(rd steward.Ready) []steward.Input {
	err := errors.New("this steward could not save its primary promise")
	for _, r := range rd.Replies {
		if ch := l.waiters[r.Req]; ch != nil {
			delete(l.waiters, r.Req)
			ch <- steward.Reply{Req: r.Req, Err: protocol.Errorf(pb.ErrorCode_UNAVAILABLE, "%v: retry later", err)}
		}
	}
	var ins []steward.Input
	for _, v := range rd.Votes {
		ins = append(ins, steward.VoteAnswer{From: v.To, Round: v.Round, Err: err})
	}
	for _, c := range rd.Copies {
		ins = append(ins, steward.CopySent{To: c.To, Seq: c.Seq, Full: c.Full, Err: err})
	}
	for _, s := range rd.Stores {
		ack := steward.Stored{Holder: s.Holder}
		for _, r := range s.Results {
			ack.Failed = append(ack.Failed, r.Task)
		}
		ins = append(ins, ack)
	}
	for _, p := range rd.Pull {
		ins = append(ins, steward.Pulled{From: p, Err: err})
	}
	return ins
}

// sendVotes asks for the votes of a round, in parallel, and returns the answers. A voter
// that does not know the batch is handed its manifest and asked once more.
func (l *stewardLoop) sendVotes(ctx context.Context, votes []steward.VoteAsk) []steward.Input {
	n, b := l.n, l.b
	out := make([]steward.Input, len(votes))
	var wg sync.WaitGroup
	for i, v := range votes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, voteTimeout)
			defer cancel()
			_, err := n.stewardClient.Vote(ctx, v.To, b.id, v.Epoch, v.Duration, v.Stewards, v.Voters.PB())
			if errors.Is(err, protocol.ErrUnknownBatch) {
				if err = n.stewardClient.Adopt(ctx, v.To, b.id, b.raw); err == nil {
					_, err = n.stewardClient.Vote(ctx, v.To, b.id, v.Epoch, v.Duration, v.Stewards, v.Voters.PB())
				}
			}
			n.metrics.PrimaryVotes.WithLabelValues(voteOutcome(err)).Inc()
			out[i] = steward.VoteAnswer{From: v.To, Round: v.Round, Err: err}
		}()
	}
	wg.Wait()
	return out
}

// voteOutcome names a vote's answer for the metric.
func voteOutcome(err error) string {
	var we *protocol.WireError
	switch {
	case err == nil:
		return "granted"
	case errors.As(err, &we) && we.Code == pb.ErrorCode_FENCED:
		return "fenced"
	case errors.As(err, &we):
		return "refused"
	}
	return "unanswered"
}

// voteResp answers another steward's PrimaryVote for batch id. A node that keeps no state
// of the batch yet becomes one of its stewards when its view puts it among them; the core
// decides the vote.
func (n *Node) voteResp(ctx context.Context, from peer.ID, id cid.Cid, v *pb.PrimaryVote) *pb.StewardResponse {
	b := n.getBatch(id)
	if b == nil {
		return errResp(protocol.Errorf(pb.ErrorCode_UNKNOWN_BATCH, "%s: send the manifest (adopt), then ask again", id))
	}
	if n.dormantRenewal(ctx, b, from, v) {
		return &pb.StewardResponse{Body: &pb.StewardResponse_Vote{Vote: &pb.VoteGrant{Epoch: v.GetEpoch(), DurationMs: v.GetDurationMs()}}}
	}
	l, err := n.wake(ctx, b, "vote")
	if err != nil {
		return errResp(protocol.Errorf(pb.ErrorCode_INTERNAL, "%v", err))
	}
	if l == nil {
		// Under primary leases the candidate found this node by its lookup, and the core
		// checks the candidate against this node's own lookup (or voting set): the view
		// of the peers this node is connected to says nothing in a swarm larger than them.
		if !n.cfg.PrimaryLeases && !n.liveView().NearSteward(b.id, n.stewardCount(b), n.id) {
			return errResp(&protocol.WireError{Code: pb.ErrorCode_NOT_STEWARD, Message: "this node is not among the batch's stewards", Hint: n.otherSteward(b)})
		}
		if l, err = n.becomeSteward(ctx, b); err != nil {
			return errResp(protocol.Errorf(pb.ErrorCode_INTERNAL, "%v", err))
		}
	}
	var set []peer.ID
	for _, raw := range v.GetStewards() {
		if p, err := peer.IDFromBytes(raw); err == nil {
			set = append(set, p)
		}
	}
	voters, err := steward.VotersFromPB(v.GetVotingSet())
	if err != nil {
		return errResp(protocol.Errorf(pb.ErrorCode_BAD_REQUEST, "%v", err))
	}
	r, err := l.call(ctx, func(now time.Time, req steward.ReqID) steward.Input {
		return steward.VoteRequest{Req: req, From: from, Now: now, Epoch: v.GetEpoch(),
			Duration: time.Duration(v.GetDurationMs()) * time.Millisecond, Stewards: set, Voters: voters}
	})
	if err := stewardErr(r, err); err != nil {
		return errResp(err)
	}
	return &pb.StewardResponse{Body: &pb.StewardResponse_Vote{Vote: r.Vote}}
}

// dormantRenewal reports whether a vote for a finished batch whose state is on disk only
// (dormant.go) renews the promise on disk: the same epoch, asked by the peer it was granted
// to, for no longer than this node's own lease. That vote changes nothing to keep, so it
// is granted without loading the state; a loop started later takes the promise as binding
// for a whole lease from its first input, which covers the renewal. Anything else loads it.
func (n *Node) dormantRenewal(ctx context.Context, b *batch, from peer.ID, v *pb.PrimaryVote) bool {
	if !b.dormant.Load() || b.steward.Load() != nil || v.GetEpoch() == 0 ||
		time.Duration(v.GetDurationMs())*time.Millisecond > steward.DefaultPrimaryLease {
		return false
	}
	p, err := n.readPromise(ctx, b.id)
	return err == nil && p == steward.Promise{Epoch: v.GetEpoch(), Holder: from}
}
