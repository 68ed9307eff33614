package node

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"allforone/tasks/placement"
	"allforone/tasks/steward"
)

// The steward driver: one goroutine per stewarded batch owns its core (tasks/steward) and
// feeds it from a channel. Stream handlers send their requests in with a reply channel; the
// tick, peer departures, holders' and stewards' answers come in the same way. After each
// round of inputs the loop takes the core's Ready and carries it out (steward_effects.go):
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

// stewardDone reports whether this node's steward state says every task of b is decided.
func (n *Node) stewardDone(b *batch) bool {
	l := b.steward.Load()
	return l != nil && l.done.Load()
}

// WithClock sets the clock the steward driver stamps its inputs with (leases, expiry,
// the repair of results); the default is time.Now. For tests.
func WithClock(now func() time.Time) Option { return func(n *Node) { n.clock = now } }
