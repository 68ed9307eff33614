package sim

import "allforone/tasks/worker"

// Open-work records (tasks/worker): the primary of a batch with open tasks puts a record
// on the servers closest to its bucket's key, again every worker.RecordRepublish, and
// withdraws it (Open 0) when nothing is open; idle workers get them from one of those
// servers.

// recordReplicas is how many of the closest servers of a bucket key keep its records.
const recordReplicas = 5

// openTasks counts the tasks of st's batch that need an execution nobody holds a lease on.
func (s *Sim) openTasks(st *stew) int {
	bs := st.core.State()
	now := s.wall()
	r := int(st.b.m.Redundancy)
	open := 0
	for i := range bs.NumTasks() {
		t := bs.Task(i)
		if t.Status() != 0 { // accepted or failed
			continue
		}
		n := 0
		for _, res := range t.Results {
			if res.OK() {
				n++
			}
		}
		for _, l := range t.Leases {
			if !l.Released && now.Before(l.Expires) {
				n++
			}
		}
		if n < r {
			open++
		}
	}
	return open
}

// putRecord puts or withdraws st's open-work record when due; open is openTasks.
func (s *Sim) putRecord(st *stew, open int) {
	if !st.primary {
		return
	}
	due := (open > 0 && (s.now >= st.recordAt || st.recordOpen == 0)) || (open == 0 && st.recordOpen > 0)
	if !due {
		return
	}
	st.recordOpen, st.recordAt = open, s.now+worker.RecordRepublish
	b := st.b
	put := func(holders []int32) {
		rec := worker.OpenRecord{Batch: b.id, Primary: st.n.id, Open: open}
		for _, h := range holders[:min(recordReplicas, len(holders))] {
			hn := s.nodes[h]
			s.puts++
			s.call(kindRecordPut, st.n, hn, rpcTimeout, func(reply func(any)) {
				if hn.records == nil {
					hn.records = &worker.OpenTable{}
				}
				hn.records.Put(b.bucketKey, rec, s.wall())
				reply(nil)
			}, func(any, bool) {})
		}
	}
	if len(st.recHolders) > 0 && s.now-st.recLooked < relookEvery {
		put(st.recHolders)
		return
	}
	s.lookup(st.n, b.bucketKp, func(found []int32) {
		if st.alive() {
			st.recHolders, st.recLooked = found, s.now
			put(found)
		}
	})
}

// getRecords asks one of the cached servers of bucket bk for its records.
func (s *Sim) getRecords(w *wstate, bk int, done func([]worker.OpenRecord, bool)) {
	hs := w.buckets[bk]
	h := hs[s.rng.IntN(len(hs))]
	hn := s.nodes[h]
	key := s.bucketKeys[bk]
	s.call(kindRecordGet, w.n, hn, rpcTimeout, func(reply func(any)) {
		var recs []worker.OpenRecord
		if hn.records != nil {
			recs = hn.records.Get(key, s.wall())
		}
		reply(recs)
	}, func(resp any, ok bool) {
		if !ok {
			w.buckets[bk] = without(w.buckets[bk], h)
			done(nil, false)
			return
		}
		recs, _ := resp.([]worker.OpenRecord)
		done(recs, true)
	})
}

func without(ps []int32, p int32) []int32 {
	out := ps[:0:0]
	for _, q := range ps {
		if q != p {
			out = append(out, q)
		}
	}
	return out
}
