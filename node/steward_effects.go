package node

import (
	"context"
	"sync"
	"time"

	"allforone/protocol"
	"allforone/protocol/pb"
	"allforone/tasks"
	"allforone/tasks/steward"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Carrying out a steward core's Ready: I/O only. What to do was decided by the core.

// pullTimeout bounds a new primary's pulls of the other stewards' copies.
const pullTimeout = 3 * time.Second

// carry carries out rd. Local effects and replies happen at once, in the loop goroutine;
// copies, stores and pulls go to effect goroutines, whose answers are stepped back in (a
// completion's reply comes in the Ready after them). final is a stopping loop's last
// Ready: everything is done here and the answers are dropped.
func (l *stewardLoop) carry(ctx context.Context, rd steward.Ready, final bool) {
	n, b := l.n, l.b
	if len(rd.Persist) > 0 {
		if err := n.saveTaskStates(ctx, b, rd.Persist); err != nil {
			l.log.Error("persist steward state", "err", err)
		}
	}
	for _, e := range rd.Events {
		l.log.Log(ctx, e.Level, e.Msg, e.Args...)
	}
	if len(rd.Verdicts) > 0 {
		n.caughtLying(n.trust.Apply(ctx, rd.Verdicts)) // trust.go
	}
	for _, bl := range rd.Block {
		n.blockLater(bl.Peer, bl.After)
	}
	for _, p := range rd.Protect {
		n.host.ConnManager().Protect(p, "lease")
	}
	if rd.FetchBlobs {
		n.fetchInBackground(b, b.m.Submitter)
	}
	if rd.Accepted > 0 {
		n.metrics.Accepted.Add(float64(rd.Accepted))
	}
	for _, r := range rd.Replies {
		if ch := l.waiters[r.Req]; ch != nil {
			delete(l.waiters, r.Req)
			ch <- r // buffered: never waits
		}
	}
	if len(rd.Pull) > 0 && !final { // a stopping loop has no use for them
		l.goEffect(final, func(ctx context.Context) []steward.Input { return l.pull(ctx, rd.Pull) })
	}
	if len(rd.Copies)+len(rd.Stores) > 0 {
		l.goEffect(final, func(ctx context.Context) []steward.Input { return l.send(ctx, rd.Copies, rd.Stores) })
	}
}

// goEffect runs f in an effect goroutine and steps its answers back into the loop; final
// runs it here.
func (l *stewardLoop) goEffect(final bool, f func(ctx context.Context) []steward.Input) {
	if final {
		ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
		defer cancel()
		f(ctx)
		return
	}
	l.effects.Add(1)
	go func() {
		defer l.effects.Done()
		l.post(f(l.n.ctx)...)
	}()
}

// send carries out copies and stores in parallel and returns their answers.
func (l *stewardLoop) send(ctx context.Context, copies []steward.Copy, stores []steward.Store) []steward.Input {
	acks := make([]steward.Input, len(copies)+len(stores))
	var wg sync.WaitGroup
	for i, c := range copies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			acks[i] = l.sendCopy(ctx, c)
		}()
	}
	outputs := l.outputs(ctx, stores)
	for i, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			acks[len(copies)+i] = l.store(ctx, s, outputs)
		}()
	}
	wg.Wait()
	return acks
}

// sendCopy copies task states to another steward, in messages under the size limit.
func (l *stewardLoop) sendCopy(ctx context.Context, c steward.Copy) steward.Input {
	n, b := l.n, l.b
	var manifest []byte
	if c.Manifest {
		manifest = b.raw
	}
	states := c.Tasks
	var err error
	for first := true; first || len(states) > 0; first = false {
		k := min(len(states), maxTasksPerDelta)
		d := &pb.StateDelta{Manifest: manifest, Tasks: states[:k]}
		states, manifest = states[k:], nil
		if err = n.signState(b.id, d); err != nil {
			break
		}
		var resp pb.StewardResponse
		err = n.request(ctx, c.To, protocol.StewardProtocol(n.cfg.Swarm), protocol.MaxStewardMessage,
			&pb.StewardRequest{BatchId: b.id.Bytes(), Body: &pb.StewardRequest_Delta{Delta: d}}, &resp)
		if err == nil {
			err = protocol.FromPB(resp.GetError())
		}
		if err != nil {
			break
		}
	}
	return steward.CopySent{To: c.To, Seq: c.Seq, Full: c.Full, Err: err}
}

// outputs fetches the outputs of the results to store, once per task: from the local blob
// store (workers sent them with their results) or, after a takeover, from the hints.
func (l *stewardLoop) outputs(ctx context.Context, stores []steward.Store) map[int][]byte {
	out := make(map[int][]byte)
	tried := make(map[int]bool)
	for _, s := range stores {
		for _, r := range s.Results {
			if tried[r.Task] {
				continue
			}
			tried[r.Task] = true
			data, err := l.n.fetchBlob(ctx, r.Output, r.OutputSize, r.Hints...)
			if err != nil {
				l.log.Warn("accepted output not found", "task", r.Task, "err", err)
				continue
			}
			out[r.Task] = data
		}
	}
	return out
}

// store pushes accepted results to one holder and says which it holds now.
func (l *stewardLoop) store(ctx context.Context, s steward.Store, outputs map[int][]byte) steward.Input {
	n, b := l.n, l.b
	ack := steward.Stored{Holder: s.Holder}
	var push []*pb.StoredResult
	for _, r := range s.Results {
		out, ok := outputs[r.Task]
		if !ok {
			ack.Failed = append(ack.Failed, r.Task)
			continue
		}
		sr := &pb.StoredResult{Task: uint32(r.Task), Output: out}
		for _, rec := range r.Records {
			sr.Records = append(sr.Records, rec.ToPB())
		}
		if r.Vouch {
			if err := n.vouchSingle(sr, b.id, r.Output); err != nil {
				ack.Failed = append(ack.Failed, r.Task)
				continue
			}
		}
		push = append(push, sr)
	}
	if len(push) == 0 {
		return ack
	}
	have, err := n.pushResults(ctx, b, s.Holder, push)
	if err != nil {
		l.log.Debug("store results", "holder", shortID(s.Holder), "err", err)
	}
	got := make(map[int]bool, len(have))
	for _, t := range have {
		got[t] = true
	}
	for _, sr := range push {
		if got[int(sr.Task)] {
			ack.Stored = append(ack.Stored, int(sr.Task))
		} else {
			ack.Failed = append(ack.Failed, int(sr.Task))
		}
	}
	return ack
}

// pull asks the other stewards for their copies, in parallel, and returns what they said.
func (l *stewardLoop) pull(ctx context.Context, from []peer.ID) []steward.Input {
	ctx, cancel := context.WithTimeout(ctx, pullTimeout)
	defer cancel()
	out := make([]steward.Input, len(from))
	var wg sync.WaitGroup
	for i, p := range from {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ts, err := l.n.pullFrom(ctx, l.b, p)
			out[i] = steward.Pulled{From: p, Tasks: ts, Err: err}
		}()
	}
	wg.Wait()
	return out
}

// decodeStates converts wire task states of b, verifying their records (the node's
// VerifiedRecords makes a record already seen cost one hash).
func (n *Node) decodeStates(b *batch, states []*pb.TaskState) ([]steward.TaskCopy, error) {
	out := make([]steward.TaskCopy, 0, len(states))
	for _, p := range states {
		i, t, err := tasks.DecodeTaskState(b.id, b.m.NumTasks(), p, n.verified.Verify)
		if err != nil {
			return nil, err
		}
		out = append(out, steward.TaskCopy{Task: i, State: t})
	}
	return out, nil
}
