package node

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"allforone/protocol"
	"allforone/protocol/pb"
	"allforone/tasks"
	"allforone/tasks/placement"
	"allforone/tasks/steward"
)

// The steward driver: one goroutine per stewarded batch owns its core (tasks/steward) and
// feeds it from a channel. Stream handlers send their requests in with a reply channel; the
// tick, peer departures, holders' and stewards' answers come in the same way. After each
// round of inputs the loop takes the core's Ready and carries it out (below):
// it persists, logs, applies verdicts and blocks, answers, and hands copies, stores and
// pulls to effect goroutines, which step the answers back in. The loop itself never waits
// for the network, so one slow peer holds up nothing but its own copy.
//
// Nothing outside the loop touches the core. Others read the batch state through inspect
// (status, the results a steward keeps, garbage collection, the testing API) or the facts
// the loop publishes after every round (done, primary).

const (
	// replicateEvery is the steward tick: leases expire, results short of holders are
	// stored again.
	replicateEvery = time.Second
	// loopInbox bounds the inputs waiting for a loop; senders wait beyond it.
	loopInbox = 256
	// loopBatch is how many waiting inputs a loop steps before it carries out one Ready:
	// completions that arrive together are copied and stored together.
	loopBatch = 64
	// flushTimeout bounds the last copies a stopping loop sends.
	flushTimeout = 5 * time.Second
)

// errStewardStopped answers requests that reach a loop after it stopped (the node closes).
var errStewardStopped = errors.New("steward stopped: the node is closing")

// stewardLoop drives one batch's steward core.
type stewardLoop struct {
	n     *Node
	b     *batch
	log   *slog.Logger
	clock func() time.Time

	inbox chan loopMsg
	quit  chan struct{} // closed when the loop takes no more input

	// Published after every round, for readers outside the loop.
	done    atomic.Bool // every task is decided
	primary atomic.Bool // this node acted as primary

	nextReq atomic.Uint64

	// Owned by the loop goroutine.
	core    *steward.Steward
	view    *placement.View                      // the view last stepped in
	digest  bool                                 // the marker holds the digest of this state (dormant.go)
	marked  bool                                 // the marker holds something: cleared if the state does not qualify
	failed  bool                                 // a save failed: the disk may lack states, so no digest
	checked uint64                               // the state's Gen when dormancyMarker last looked
	promise steward.Promise                      // the primary promise on disk (steward_fence.go)
	look    lookupState                          // the lookup of the batch ID (steward_lookup.go)
	waiters map[steward.ReqID]chan steward.Reply // requests waiting for their reply
	effects sync.WaitGroup                       // effect goroutines (the loop waits for them)
}

// loopMsg is one delivery to a loop: inputs (with the reply channel of the request among
// them), or a function to run on the core.
type loopMsg struct {
	ins   []steward.Input
	req   steward.ReqID
	reply chan steward.Reply
	fn    func(*steward.Steward)
	ran   chan struct{}
}

func newStewardLoop(n *Node, b *batch, core *steward.Steward) *stewardLoop {
	l := &stewardLoop{n: n, b: b, core: core, clock: n.clock,
		log:   n.logs.steward.With("batch", b.id.String()),
		inbox: make(chan loopMsg, loopInbox), quit: make(chan struct{}),
		waiters: make(map[steward.ReqID]chan steward.Reply)}
	l.done.Store(core.Done())
	return l
}

// start runs the loop; when the node is closing it does not, and the loop answers nothing.
func (l *stewardLoop) start() {
	if !l.n.goLoop("steward "+l.b.id.String(), l.run) {
		close(l.quit)
	}
}

func (l *stewardLoop) run(ctx context.Context) {
	// The first tick comes a tick from now, and none before the node is up: a node that
	// is starting sees no peers yet, and taking the primary role then would return every
	// lease of the workers it does not see to the pool. A request claims the role sooner.
	t := time.NewTicker(replicateEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			l.stop()
			return
		case m := <-l.inbox:
			l.handle(m)
			for i := 1; i < loopBatch; i++ {
				select {
				case m := <-l.inbox:
					l.handle(m)
					continue
				default:
				}
				break
			}
		case <-t.C:
			if !l.n.up.Load() {
				continue
			}
			l.maybeLookup(ctx)
			l.stepIn(steward.Tick{Now: l.clock()})
		}
		l.flush(ctx)
	}
}

// stop carries out what is left (the last copies go out, as a graceful stop has already
// handed everything over) and waits for the effect goroutines.
func (l *stewardLoop) stop() {
	close(l.quit)
	ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	l.carry(ctx, l.core.Ready(), true)
	l.effects.Wait()
}

func (l *stewardLoop) handle(m loopMsg) {
	if m.fn != nil {
		m.fn(l.core)
		close(m.ran)
		return
	}
	if m.reply != nil {
		l.waiters[m.req] = m.reply
	}
	for _, in := range m.ins {
		l.stepIn(in)
	}
}

// stepIn steps one input, after the membership view if it changed.
func (l *stewardLoop) stepIn(in steward.Input) {
	if v := l.n.liveView(); v != l.view {
		l.view = v
		l.core.Step(steward.Members{View: v})
	}
	l.lookedUpLeft(in)
	l.core.Step(in)
}

// flush carries out the core's Ready and publishes what others read.
func (l *stewardLoop) flush(ctx context.Context) {
	l.carry(ctx, l.core.Ready(), false)
	l.done.Store(l.core.Done())
	l.primary.Store(l.core.Primary())
}

// call steps the input that mk makes (with the time and a request ID) and waits for its
// reply.
func (l *stewardLoop) call(ctx context.Context, mk func(now time.Time, req steward.ReqID) steward.Input) (steward.Reply, error) {
	req := steward.ReqID(l.nextReq.Add(1))
	ch := make(chan steward.Reply, 1)
	select {
	case l.inbox <- loopMsg{ins: []steward.Input{mk(l.clock(), req)}, req: req, reply: ch}:
	case <-l.quit:
		return steward.Reply{}, errStewardStopped
	case <-ctx.Done():
		return steward.Reply{}, ctx.Err()
	}
	select {
	case r := <-ch:
		return r, nil
	case <-l.quit:
		select {
		case r := <-ch: // answered as the loop stopped
			return r, nil
		default:
		}
		return steward.Reply{}, errStewardStopped
	case <-ctx.Done():
		return steward.Reply{}, ctx.Err()
	}
}

// post steps inputs that need no reply. It waits while the inbox is full, unless the loop
// stops.
func (l *stewardLoop) post(ins ...steward.Input) {
	if len(ins) == 0 {
		return
	}
	select {
	case l.inbox <- loopMsg{ins: ins}:
	case <-l.quit:
	}
}

// inspect runs fn on the core in the loop goroutine and waits for it. fn must not keep
// what it reads beyond its return, nor change anything.
func (l *stewardLoop) inspect(ctx context.Context, fn func(*steward.Steward)) error {
	m := loopMsg{fn: fn, ran: make(chan struct{})}
	select {
	case l.inbox <- m:
	case <-l.quit:
		return errStewardStopped
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-m.ran:
		return nil
	case <-l.quit:
		select {
		case <-m.ran:
			return nil
		default:
		}
		return errStewardStopped
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stewardOf is b's steward loop, nil when this node keeps no steward state for b.
func (n *Node) stewardOf(b *batch) *stewardLoop { return b.steward.Load() }

// stewardDone reports whether this node's steward state says every task of b is decided
// (a dormant state is a finished one).
func (n *Node) stewardDone(b *batch) bool {
	dormant := b.dormant.Load() // before the loop: wake stores the loop, then clears dormant
	l := b.steward.Load()
	return l != nil && l.done.Load() || l == nil && dormant
}

// WithClock sets the clock the steward driver stamps its inputs with (leases, expiry,
// the repair of results); the default is time.Now. For tests.
func WithClock(now func() time.Time) Option { return func(n *Node) { n.clock = now } }

// Carrying out a steward core's Ready: I/O only. What to do was decided by the core.

// pullTimeout bounds a new primary's pulls of the other stewards' copies.
const pullTimeout = 3 * time.Second

// carry carries out rd. Local effects and replies happen at once, in the loop goroutine;
// copies, stores and pulls go to effect goroutines, whose answers are stepped back in (a
// completion's reply comes in the Ready after them). final is a stopping loop's last
// Ready: everything is done here and the answers are dropped.
func (l *stewardLoop) carry(ctx context.Context, rd steward.Ready, final bool) {
	n, b := l.n, l.b
	// The promise is durable before anything of this Ready goes out, or nothing does.
	if !l.keepPromise(ctx, rd.Promise) || !l.keepVoters(ctx, rd.Voters) {
		ins := l.withheld(rd)
		if !final {
			l.goEffect(final, func(context.Context) []steward.Input { return ins })
		}
		return
	}
	// The marker goes with the states it sums up, so the two never disagree on disk.
	if marker, write := l.dormancyMarker(len(rd.Persist) > 0); write {
		if err := n.saveTaskStates(ctx, b, rd.Persist, marker); err != nil {
			l.log.Error("persist steward state", "err", err)
			l.failed, l.digest = true, false
		} else if marker != nil {
			l.digest, l.marked = len(marker) > 0, len(marker) > 0
		}
	}
	for _, e := range rd.Events {
		l.log.Log(ctx, e.Level, e.Msg, e.Args...)
	}
	if len(rd.Verdicts) > 0 {
		n.caughtLying(n.trust.Apply(ctx, rd.Verdicts)) // operator.go
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
	if len(rd.Votes) > 0 && !final {
		l.goEffect(final, func(ctx context.Context) []steward.Input { return l.sendVotes(ctx, rd.Votes) })
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
	switch {
	case c.Digest != nil:
		n.metrics.StateCopies.WithLabelValues("digest").Inc()
		return l.sendDigest(ctx, c)
	case c.Full:
		n.metrics.StateCopies.WithLabelValues("full").Inc()
	default:
		n.metrics.StateCopies.WithLabelValues("delta").Inc()
	}
	var manifest []byte
	if c.Manifest {
		manifest = b.raw
	}
	states := c.Tasks
	var err error
	for first := true; first || len(states) > 0; first = false {
		k := min(len(states), maxTasksPerDelta)
		d := &pb.StateDelta{Manifest: manifest, Tasks: states[:k], Epoch: c.Epoch, VotingSet: c.Voters.PB()}
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
	have, err := n.pushResults(ctx, b, s.Holder, push, s.Epoch)
	var we *protocol.WireError
	if errors.As(err, &we) && we.Code == pb.ErrorCode_FENCED {
		ack.Epoch = we.Epoch // the holder stored under a higher epoch: this lease is over
	}
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
			out[i] = l.n.pullFrom(ctx, l.b, p)
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
