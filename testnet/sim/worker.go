package sim

import (
	"encoding/binary"
	"errors"
	"slices"
	"time"

	"allforone/protocol"
	"allforone/protocol/pb"
	"allforone/tasks"
	"allforone/tasks/worker"

	"github.com/ipfs/go-cid"
)

// Workers: every node, NATed or not, runs tasks in its slots. It asks for work by
// capacity, long-polls the steward it got work from, and when that has none it searches
// the open-work records, backing off with jitter when nothing is open (tasks/worker).

// wstate is one node's worker.
type wstate struct {
	n       *node
	slots   int
	speed   float64
	cap     worker.Capacity
	busy    int
	queue   []leased
	holding map[int32][]int // by batch: tasks it holds leases on
	est     map[int32]*worker.Estimate
	backoff worker.Backoff

	cur      *batch // the batch it got work from last, and from whom
	curTo    int32
	asking   bool // a request or search is under way
	sleeping bool
	done     map[int32]bool // batches it heard are done

	buckets [worker.Buckets][]int32 // the closest servers of each bucket key, cached
	first   int                     // the bucket this search started at
	scan    int                     // buckets tried in this search
}

type leased struct {
	b       *batch
	task    int
	steward int32
	expires time.Duration // when the lease ends (virtual)
}

// fakeSig stands in for a record's signature: nothing is signed or verified here.
var fakeSig = make([]byte, 64)

func (s *Sim) newWorker(n *node) *wstate {
	w := &wstate{n: n, slots: 1 + s.rng.IntN(4), speed: 0.5 + 1.5*s.rng.Float64()}
	w.reset(s)
	return w
}

// reset is a worker that (re)started: it holds nothing and knows nothing.
func (w *wstate) reset(s *Sim) {
	lease := protocol.LeaseDuration(s.cfg.TaskTimeout)
	w.cap = worker.Capacity{Slots: w.slots, Buffer: worker.Horizon(worker.DefaultBuffer, lease), MaxPerRequest: protocol.MaxLeasesPerGrant}
	w.busy, w.queue, w.holding, w.est = 0, nil, map[int32][]int{}, map[int32]*worker.Estimate{}
	w.backoff = worker.NewBackoff(worker.BackoffBase, worker.BackoffMax)
	w.cur, w.asking, w.sleeping, w.done, w.scan = nil, false, false, map[int32]bool{}, 0
}

func (w *wstate) estimate(s *Sim, b *batch) time.Duration {
	if b == nil {
		return s.cfg.TaskTimeout / 4
	}
	e := w.est[b.idx]
	if e == nil {
		x := worker.NewEstimate(b.m.Limits.Timeout / 4)
		e = &x
		w.est[b.idx] = e
	}
	return e.Task()
}

// workerPoll asks for work if the worker has room and nothing under way.
func (s *Sim) workerPoll(w *wstate) {
	if !w.n.up || w.asking || w.sleeping || s.finished {
		return
	}
	want := w.cap.Want(w.busy, len(w.queue), w.estimate(s, w.cur))
	if want == 0 {
		return
	}
	if w.cur != nil && !w.done[w.cur.idx] {
		s.askLease(w, w.cur, w.curTo, want, 0)
		return
	}
	w.cur = nil
	s.search(w)
}

// sleep backs off before the next search.
func (s *Sim) sleep(w *wstate) {
	w.sleeping = true
	life := w.n.life
	s.after(w.backoff.Next(s.rng), func() {
		if w.n.life == life && w.n.up {
			w.sleeping = false
			s.workerPoll(w)
		}
	})
}

// search looks through the buckets of open-work records, from a random one, for a batch
// with open work; it backs off when none has any.
func (s *Sim) search(w *wstate) {
	if w.scan == 0 {
		w.first = s.rng.IntN(worker.Buckets)
	}
	if w.scan >= worker.Buckets {
		w.scan = 0
		s.sleep(w)
		return
	}
	bk := (w.first + w.scan) % worker.Buckets
	w.scan++
	w.asking = true
	life := w.n.life
	get := func() {
		s.getRecords(w, bk, func(recs []worker.OpenRecord, ok bool) {
			w.asking = false
			r, found := worker.Pick(recs, s.rng, func(r worker.OpenRecord) bool {
				b := s.batchByKey[r.Batch.KeyString()]
				return b == nil || w.done[b.idx]
			})
			if !ok || !found {
				s.search(w)
				return
			}
			w.scan = 0
			w.cur, w.curTo = s.batchByKey[r.Batch.KeyString()], s.byID[r.Primary]
			s.workerPoll(w)
		})
	}
	if len(w.buckets[bk]) > 0 {
		get()
		return
	}
	s.lookup(w.n, s.bucketKps[bk], func(found []int32) {
		if w.n.life != life || !w.n.up {
			return
		}
		w.buckets[bk] = slices.Clone(found[:min(recordReplicas, len(found))])
		if len(found) == 0 {
			w.asking = false
			s.search(w)
			return
		}
		get()
	})
}

// askLease asks steward to of b for want leases, waiting at most worker.MaxWait there,
// following NOT_STEWARD hints.
func (s *Sim) askLease(w *wstate, b *batch, to int32, want, hops int) {
	n := w.n
	w.asking = true
	sent := s.now
	holding := slices.Clone(w.holding[b.idx])
	tn := s.nodes[to]
	s.call(kindLease, n, tn, worker.MaxWait+rpcTimeout, func(reply func(any)) {
		s.onLease(tn, b, n, want, holding, worker.MaxWait, reply)
	}, func(resp any, ok bool) {
		w.asking = false
		a, _ := resp.(leaseAnswer)
		if !ok {
			w.cur = nil
			s.sleep(w)
			return
		}
		if hint, is := s.hint(a.r.Err); is {
			if hint >= 0 && hops < protocol.MaxRedirects {
				s.askLease(w, b, hint, want, hops+1)
				return
			}
			w.cur = nil
			s.sleep(w)
			return
		}
		g := a.r.Grant
		switch {
		case a.r.Err != nil || g == nil:
			w.cur = nil
			s.sleep(w)
		case len(g.GetLeases()) > 0:
			s.leaseLatency = append(s.leaseLatency, int32((s.now-sent-a.parked)/time.Millisecond))
			w.backoff.Reset()
			w.cur, w.curTo = b, to
			for _, l := range g.GetLeases() {
				w.queue = append(w.queue, leased{b: b, task: int(l.GetTask()), steward: to,
					expires: time.UnixMilli(l.GetExpiresMs()).Sub(s.t0)})
				w.holding[b.idx] = append(w.holding[b.idx], int(l.GetTask()))
			}
			s.startTasks(w)
			s.workerPoll(w)
		case g.GetDone():
			w.done[b.idx] = true
			w.cur = nil
			s.workerPoll(w)
		default: // nothing after the long poll: search again later
			w.cur = nil
			s.sleep(w)
		}
	})
}

// hint returns the node a NOT_STEWARD error points at (-1 when none), and whether err is
// one.
func (s *Sim) hint(err error) (int32, bool) {
	var we *protocol.WireError
	if !errors.As(err, &we) || we.Code != pb.ErrorCode_NOT_STEWARD {
		return -1, false
	}
	if p, ok := s.byID[we.Hint]; ok && we.Hint != "" {
		return p, true
	}
	return -1, true
}

// startTasks runs queued tasks in free slots.
func (s *Sim) startTasks(w *wstate) {
	n := w.n
	for w.busy < w.slots && len(w.queue) > 0 {
		l := w.queue[0]
		w.queue = w.queue[1:]
		w.busy++
		d := time.Duration(float64(s.cfg.TaskTime) * (0.5 + s.rng.Float64()) / w.speed)
		life := n.life
		s.running++
		s.after(d, func() {
			if n.life != life || !n.up {
				return // it left meanwhile: the run is lost
			}
			s.running--
			w.busy--
			if l.b.execs[l.task] < 255 {
				l.b.execs[l.task]++
			}
			s.executions++
			w.est[l.b.idx].Observe(d)
			rec := tasks.ResultRecord{Batch: l.b.id, Task: l.task, Executor: n.id, Output: s.outputOf(l.b, l.task),
				OutputSize: 8, Finished: s.wall(), Duration: d, Signature: fakeSig}
			bo := worker.NewBackoff(worker.BackoffBase, 30*time.Second)
			s.sendComplete(w, l, l.steward, rec, 0, &bo)
			s.startTasks(w)
			s.workerPoll(w)
		})
	}
}

func without32(ts []int, t int) []int {
	if i := slices.Index(ts, t); i >= 0 {
		return slices.Delete(ts, i, i+1)
	}
	return ts
}

// outputOf is the output every honest executor gets for a task.
func (s *Sim) outputOf(b *batch, task int) cid.Cid {
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], uint64(task))
	return tasks.ContentID(append(b.id.Bytes(), buf[:]...))
}

// sendComplete sends a finished task's record to the steward that leased it, following
// hints, and after a failure (with backoff) to the closest server of the batch a lookup
// finds, until the lease it ran under ends: a result no steward heard of is run again by
// another worker, so it is worth keeping as long as the lease holds.
func (s *Sim) sendComplete(w *wstate, l leased, to int32, rec tasks.ResultRecord, hops int, bo *worker.Backoff) {
	n, b := w.n, l.b
	tn := s.nodes[to]
	s.call(kindComplete, n, tn, 3*rpcTimeout, func(reply func(any)) {
		s.onComplete(tn, b, n, []tasks.ResultRecord{rec}, reply)
	}, func(resp any, ok bool) {
		err, _ := resp.(error)
		delivered := ok && err == nil
		if delivered || s.now >= l.expires {
			// The task stays among the leases this worker says it holds until its result
			// is answered: a lease request that overtakes the completion must not hand
			// the lease back to the pool.
			w.holding[b.idx] = without32(w.holding[b.idx], rec.Task)
			if !delivered {
				s.completesLost++
			}
			return
		}
		if hint, is := s.hint(err); ok && is && hint >= 0 && hops < protocol.MaxRedirects {
			s.sendComplete(w, l, hint, rec, hops+1, bo)
			return
		}
		life := n.life
		s.after(bo.Next(s.rng), func() {
			if n.life != life || !n.up {
				return
			}
			s.lookup(n, b.kp, func(found []int32) {
				if len(found) > 0 && n.life == life && n.up {
					s.sendComplete(w, l, found[0], rec, 0, bo)
				}
			})
		})
	})
}
