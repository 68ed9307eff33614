package sim

import (
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"slices"
	"time"

	"allforone/protocol"
	"allforone/protocol/pb"
	"allforone/tasks"
	"allforone/tasks/steward"
	"allforone/tasks/worker"
)

// Stewards: each node that stewards a batch runs the real core (tasks/steward) on the
// real batch state, ticks it every second, and carries out its Readies as messages, as
// the node's steward loop does: copies, pulls and stores go over the simulated network
// and their answers are stepped back in.

const stewardTick = time.Second

var (
	errUnreachable = errors.New("unreachable")
	errNoState     = errors.New("unknown batch")
)

// stew is one node's steward of one batch.
type stew struct {
	n    *node
	b    *batch
	life uint32
	core *steward.Steward

	members  []int32 // the servers the last lookup found
	looking  bool
	lookedAt time.Duration
	relook   bool
	contacts map[int32]time.Duration // workers that talked to it, and when last
	conn     []int32                 // who the last view counted connected
	sig      uint64

	nextReq steward.ReqID
	pending map[steward.ReqID]func(steward.Reply)
	poll    worker.LongPoll[parkedLease]
	primary bool

	recordAt   time.Duration // when to put the open-work record again
	recordOpen int           // what the last put said
	recHolders []int32       // the servers closest to the bucket key
	recLooked  time.Duration // when they were looked up
}

type parkedLease struct {
	from  *node
	max   int
	reply func(any)
	empty steward.Reply // the core's answer of nothing, for when the wait ends
}

func (st *stew) alive() bool {
	return st.n.up && st.n.life == st.life && st.n.stewards[st.b.idx] == st
}

// contactsSorted yields the workers that talked to st within connIdle, in index order,
// forgetting the others.
func (st *stew) contactsSorted() iter.Seq2[int32, time.Duration] {
	return func(yield func(int32, time.Duration) bool) {
		ks := make([]int32, 0, len(st.contacts))
		for w := range st.contacts {
			ks = append(ks, w)
		}
		slices.Sort(ks)
		for _, w := range ks {
			if !yield(w, st.contacts[w]) {
				return
			}
		}
	}
}

func (st *stew) req(f func(steward.Reply)) steward.ReqID {
	st.nextReq++
	st.pending[st.nextReq] = f
	return st.nextReq
}

// withStew runs f with n's steward of b, making one if needed: with members when the
// caller knows the batch's servers (a steward's copy, the submitter's hand-over), after a
// lookup of its own otherwise (a worker's request to a node that does not know the batch).
func (s *Sim) withStew(n *node, b *batch, members []int32, f func(*stew)) {
	if st := n.stewards[b.idx]; st != nil {
		f(st)
		return
	}
	if n.nat {
		return // takes no role
	}
	if members != nil {
		f(s.startStew(n, b, members))
		return
	}
	key := b.idx
	if waiting, ok := s.adopting[n.idx][key]; ok {
		s.adopting[n.idx][key] = append(waiting, f)
		return
	}
	if s.adopting[n.idx] == nil {
		s.adopting[n.idx] = map[int32][]func(*stew){}
	}
	s.adopting[n.idx][key] = []func(*stew){f}
	life := n.life
	s.lookup(n, b.kp, func(found []int32) {
		fs := s.adopting[n.idx][key]
		delete(s.adopting[n.idx], key)
		if len(s.adopting[n.idx]) == 0 {
			delete(s.adopting, n.idx)
		}
		if !n.up || n.life != life {
			return
		}
		st := n.stewards[b.idx]
		if st == nil {
			st = s.startStew(n, b, found)
		}
		for _, f := range fs {
			f(st)
		}
	})
}

// startStew starts n's steward of b from what n persisted of it.
func (s *Sim) startStew(n *node, b *batch, members []int32) *stew {
	st := tasks.NewBatchState(b.id, b.m, rand.New(rand.NewPCG(s.cfg.Seed, uint64(n.idx)<<32|uint64(b.idx))))
	st.MaxPerWorker = maxLeasesPerWorker
	st.Verify = func(*tasks.ResultRecord) error { return nil } // nothing is signed here
	for _, p := range n.saved[b.idx] {
		i, t, err := st.TaskStateFromStore(p)
		if err != nil {
			panic(err) // the core wrote it
		}
		st.Merge(i, t)
	}
	x := &stew{n: n, b: b, life: n.life, members: slices.Clone(members), lookedAt: s.now,
		contacts: map[int32]time.Duration{}, pending: map[steward.ReqID]func(steward.Reply){}}
	x.sig = s.viewSig(x)
	x.core = steward.New(steward.Config{Self: n.id, State: st, View: s.view(x),
		LeaseDuration: protocol.LeaseDuration(b.m.Limits.Timeout), MaxPerGrant: protocol.MaxLeasesPerGrant, SelfMemoryMiB: 256,
		Fence: s.fenceFor(n, b)})
	if n.stewards == nil {
		n.stewards = map[int32]*stew{}
	}
	n.stewards[b.idx] = x
	s.stews++
	x.relook = true // its own lookup, not the caller's
	s.after(0, func() { s.tickStew(x) })
	return x
}

// maxLeasesPerWorker is the node's bound on one worker's leases in a batch.
const maxLeasesPerWorker = 32

// stepStew steps in into st's core and carries out its Ready.
func (s *Sim) stepStew(st *stew, in steward.Input) {
	st.core.Step(in)
	s.carry(st, st.core.Ready())
}

// tickStew is st's second: its view is brought up to date (stepping Members and Left),
// the core ticks, parked lease requests are tried again when tasks are open, the
// open-work record is put, and the batch's servers are looked up again when due.
func (s *Sim) tickStew(st *stew) {
	if !st.alive() {
		return
	}
	for w, at := range st.contacts {
		if s.now-at >= connIdle {
			delete(st.contacts, w) // the connection manager closed it
		}
	}
	s.refreshView(st)
	s.stepStew(st, steward.Tick{Now: s.wall()})
	open := -1
	if st.primary {
		open = s.openTasks(st)
	}
	if open != 0 {
		s.retryParked(st) // work may have opened (or the role moved: they are sent on)
	} else {
		for _, p := range st.poll.Expire(s.wall()) {
			p.Req.reply(leaseAnswer{r: p.Req.empty, parked: s.wall().Sub(p.Since)})
		}
	}
	s.putRecord(st, open)
	if !st.looking && (st.relook || s.now-st.lookedAt >= relookEvery) {
		st.looking, st.relook = true, false
		s.lookup(st.n, st.b.kp, func(found []int32) {
			st.looking, st.lookedAt = false, s.now
			if st.alive() && len(found) > 0 {
				st.members = s.remembered(st, found)
				s.refreshView(st)
			}
		})
	}
	if !s.finished {
		s.after(stewardTick, func() { s.tickStew(st) })
	}
}

// refreshView steps a new view into st's core when what it would hold changed, and Left
// for each peer that it no longer counts connected.
func (s *Sim) refreshView(st *stew) {
	sig := s.viewSig(st)
	if sig == st.sig {
		return
	}
	st.sig = sig
	before := slices.Clone(st.conn)
	v := s.view(st)
	s.stepStew(st, steward.Members{View: v})
	for _, p := range before {
		if !slices.Contains(st.conn, p) {
			if slices.Contains(st.members, p) && !s.nodes[p].up {
				st.relook = true // one of the batch's servers left
			}
			s.stepStew(st, steward.Left{Peer: s.nodes[p].id, Now: s.wall()})
		}
	}
}

// carry carries out st's Ready.
func (s *Sim) carry(st *stew, rd steward.Ready) {
	n, b := st.n, st.b
	s.carryVotes(st, rd) // the promise is persisted first (fence.go)
	if len(rd.Persist) > 0 {
		if n.saved == nil {
			n.saved = map[int32]map[int]*pb.TaskState{}
		}
		if n.saved[b.idx] == nil {
			n.saved[b.idx] = map[int]*pb.TaskState{}
		}
		for _, p := range rd.Persist {
			n.saved[b.idx][int(p.Task)] = p
		}
	}
	for _, e := range rd.Events {
		s.noteEvent(e)
	}
	for _, r := range rd.Replies {
		if f := st.pending[r.Req]; f != nil {
			delete(st.pending, r.Req)
			f(r)
		}
	}
	for _, p := range rd.Pull {
		to := s.nodes[s.byID[p]]
		s.call(kindPull, n, to, rpcTimeout, func(reply func(any)) {
			o := to.stewards[b.idx]
			if o == nil {
				reply(errNoState)
				return
			}
			s.heardFrom(o, n)
			id := o.req(func(r steward.Reply) { reply(r) })
			s.stepStew(o, steward.SnapshotQuery{Req: id})
		}, func(resp any, ok bool) {
			if !st.alive() {
				return
			}
			in := steward.Pulled{From: p}
			switch r := resp.(type) {
			case steward.Reply:
				in.Tasks, in.Epoch, in.Voters, in.Err = s.decode(b, r.Snapshot), r.Epoch, r.Voters, r.Err
			case error:
				in.Err = r
			default:
				in.Err = errUnreachable
			}
			if !ok {
				in.Err = errUnreachable
			}
			s.stepStew(st, in)
		})
	}
	for _, c := range rd.Copies {
		to := s.nodes[s.byID[c.To]]
		s.askSteward(kindCopy, st, to, func(id steward.ReqID) steward.Input {
			return steward.StateCopy{Req: id, From: n.id, Now: s.wall(), Tasks: s.decode(b, c.Tasks), Epoch: c.Epoch, Voters: c.Voters}
		}, func(err error) {
			if err != nil && s.cfg.Trace != nil {
				fmt.Fprintf(s.cfg.Trace, "%8.3fs batch %d: copy %d -> %d full %v: %v (to up %v believed %v)\n", s.now.Seconds(), b.idx, n.idx, to.idx, c.Full, err, to.up, s.believed(n, to))
			}
			s.stepStew(st, steward.CopySent{To: c.To, Seq: c.Seq, Full: c.Full, Err: err})
		})
	}
	for _, sr := range rd.Stores {
		to := s.nodes[s.byID[sr.Holder]]
		ts := make([]int, len(sr.Results))
		for i, r := range sr.Results {
			ts[i] = r.Task
		}
		s.call(kindStore, n, to, rpcTimeout, func(reply func(any)) {
			for _, t := range ts {
				if !slices.Contains(b.holders[t], to.idx) {
					b.holders[t] = append(b.holders[t], to.idx)
				}
			}
			reply(nil)
		}, func(_ any, ok bool) {
			if !st.alive() {
				return
			}
			in := steward.Stored{Holder: sr.Holder}
			if ok {
				in.Stored = ts
			} else {
				in.Failed = ts
			}
			s.stepStew(st, in)
		})
	}
	s.countPrimary(st, st.core.Primary())
}

// askSteward sends what ask makes to to's steward of st's batch (one started with st's
// servers when to has none, as a node handed the manifest starts one) and gives done its
// answer's error, errUnreachable when none came, while st is alive.
func (s *Sim) askSteward(kind msgKind, st *stew, to *node, ask func(steward.ReqID) steward.Input, done func(error)) {
	members := st.members
	s.call(kind, st.n, to, rpcTimeout, func(reply func(any)) {
		s.withStew(to, st.b, members, func(o *stew) {
			if !o.alive() {
				return
			}
			s.heardFrom(o, st.n)
			s.stepStew(o, ask(o.req(func(r steward.Reply) { reply(r.Err) })))
		})
	}, func(resp any, ok bool) {
		if !st.alive() {
			return
		}
		err, _ := resp.(error)
		if !ok {
			err = errUnreachable
		}
		done(err)
	})
}

// decode converts wire task states as a node does (records are not verified here).
func (s *Sim) decode(b *batch, states []*pb.TaskState) []steward.TaskCopy {
	out := make([]steward.TaskCopy, 0, len(states))
	for _, p := range states {
		i, t, err := tasks.DecodeTaskState(b.id, b.m.NumTasks(), p, nil)
		if err != nil {
			panic(err) // the core encoded it
		}
		out = append(out, steward.TaskCopy{Task: i, State: t})
	}
	return out
}

// retryParked tries the parked lease requests again: work may have opened.
func (s *Sim) retryParked(st *stew) {
	if st.poll.Len() == 0 {
		return
	}
	for _, p := range st.poll.Take() {
		id := st.req(func(r steward.Reply) {
			if r.Empty && st.poll.Repark(p, s.wall()) {
				return
			}
			p.Req.reply(leaseAnswer{r: r, parked: s.wall().Sub(p.Since)})
		})
		st.core.Step(steward.LeaseRequest{Req: id, From: p.Req.from.id, Now: s.wall(), Max: p.Req.max, BlobsHere: true})
	}
	s.carry(st, st.core.Ready())
}

// leaseAnswer is a steward's answer to a lease request, and how long it waited parked.
type leaseAnswer struct {
	r      steward.Reply
	parked time.Duration
}

// onLease is a lease request from a worker arriving at n.
func (s *Sim) onLease(n *node, b *batch, from *node, want int, holding []int, wait time.Duration, reply func(any)) {
	s.withStew(n, b, nil, func(st *stew) {
		if !st.alive() {
			return
		}
		st.contacts[from.idx] = s.now
		id := st.req(func(r steward.Reply) {
			if r.Empty && r.Err == nil && st.poll.Park(parkedLease{from: from, max: want, reply: reply, empty: r}, s.wall(), wait) {
				return
			}
			reply(leaseAnswer{r: r})
		})
		s.stepStew(st, steward.LeaseRequest{Req: id, From: from.id, Now: s.wall(), Max: want,
			HoldingSet: true, Holding: holding, BlobsHere: true})
	})
}

// onComplete is a worker's finished tasks arriving at n.
func (s *Sim) onComplete(n *node, b *batch, from *node, recs []tasks.ResultRecord, reply func(any)) {
	s.withStew(n, b, nil, func(st *stew) {
		if !st.alive() {
			return
		}
		st.contacts[from.idx] = s.now
		id := st.req(func(r steward.Reply) { reply(r.Err) })
		s.stepStew(st, steward.Complete{Req: id, From: from.id, Now: s.wall(), Records: recs})
	})
}

// noteEvent counts what a core logged, for the report: by message, the leases or tasks
// it names when it names some, else once.
func (s *Sim) noteEvent(e steward.Event) {
	n := 1
	for i := 0; i+1 < len(e.Args); i += 2 {
		if k := e.Args[i]; k == "leases" || k == "tasks" {
			if v, ok := e.Args[i+1].(int); ok {
				n = v
			}
		}
	}
	s.coreEvents[e.Msg] += n
}

// heardFrom adds server p, which sent st a copy or a pull of the batch, to the servers st
// knows for it if it is among the closest, and brings st's view up to date before the
// message is stepped: kad-dht adds a peer that talks to it to its routing table, so a
// steward that comes back is seen at once by those it talks to, not at their next lookup.
// Without it, a returning primary's copies were refused (and resent in full at once, a
// storm of thousands) until the others looked the batch up again.
func (s *Sim) heardFrom(st *stew, p *node) {
	if p.nat || p == st.n || slices.Contains(st.members, p.idx) {
		return
	}
	target := st.b.kp
	d := s.kps[p.idx] ^ target
	pos := len(st.members)
	for pos > 0 && s.kps[st.members[pos-1]]^target > d {
		pos--
	}
	if pos >= bucketSize {
		return
	}
	st.members = slices.Insert(st.members, pos, p.idx)
	if len(st.members) > bucketSize {
		st.members = st.members[:bucketSize]
	}
	s.refreshView(st)
}
