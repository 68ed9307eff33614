package sim

import (
	"maps"
	"slices"
	"time"
)

// Churn and the partition. A departure takes a random node down (half of them quietly, as
// a machine that loses its network: its peers notice only after detectLag): it loses what it held in
// memory (its steward cores, the records it kept, the tasks it was running) and keeps what
// it persisted (task states, stored results). Most come back after ChurnDown on average
// and restart their stewards from what they saved; ChurnGone of them never do.

func (s *Sim) scheduleChurn() {
	rate := float64(s.cfg.Nodes) * s.cfg.Churn / 60 // departures per second
	if rate <= 0 {
		return
	}
	next := time.Duration(s.rng.ExpFloat64() / rate * float64(time.Second))
	s.after(next, func() {
		if s.finished {
			return
		}
		for range 20 {
			n := s.nodes[s.rng.IntN(len(s.nodes))]
			if n.up {
				s.leave(n, s.rng.Float64() < s.cfg.ChurnGone)
				break
			}
		}
		s.scheduleChurn()
	})
}

// leave takes n down, for good when gone.
func (s *Sim) leave(n *node, gone bool) {
	n.up, n.gone, n.since, n.quiet = false, gone, s.now, s.rng.IntN(2) == 0
	n.life++
	s.departures++
	if gone {
		s.gone++
	}
	for _, b := range slices.Sorted(maps.Keys(n.stewards)) {
		s.countPrimary(n.stewards[b], false)
	}
	n.stewards, n.records = nil, nil
	s.running -= n.w.busy
	s.cutShort += n.w.busy
	n.w.reset(s)
	if gone {
		return
	}
	down := time.Duration(s.rng.ExpFloat64() * float64(s.cfg.ChurnDown))
	s.after(down, func() {
		if !s.finished {
			s.back(n)
		}
	})
}

// back brings n up again: its stewards restart from what it saved, its worker starts
// with nothing.
func (s *Sim) back(n *node) {
	n.up, n.since = true, s.now
	s.returns++
	for _, bi := range slices.Sorted(maps.Keys(n.saved)) {
		if b := s.batches[bi]; !b.done {
			s.withStew(n, b, nil, func(*stew) {})
		}
	}
	s.workerPoll(n.w)
}

// schedulePartition cuts PartitionShare of the nodes off at PartitionAt and heals the
// cut PartitionFor later.
func (s *Sim) schedulePartition() {
	if s.cfg.PartitionFor <= 0 || s.cfg.PartitionShare <= 0 {
		return
	}
	s.after(s.cfg.PartitionAt, func() {
		if s.finished {
			return
		}
		s.partitioned = true
		for _, n := range s.nodes {
			n.cutAt = s.now
			if s.rng.Float64() < s.cfg.PartitionShare {
				n.side = 1
			}
		}
		s.after(s.cfg.PartitionFor, func() {
			s.partitioned, s.healedAt = false, s.now
			for _, n := range s.nodes {
				n.side, n.cutAt = 0, s.now
			}
		})
	})
}

// schedulePrimariesLeave takes the nodes acting as a batch's primary down at
// PrimariesLeave; they come back after ChurnDown on average.
func (s *Sim) schedulePrimariesLeave() {
	if s.cfg.PrimariesLeave <= 0 {
		return
	}
	s.after(s.cfg.PrimariesLeave, func() {
		for _, n := range s.nodes {
			if !n.up {
				continue
			}
			for _, st := range n.stewards {
				if st.primary {
					s.leave(n, false)
					n.quiet = true
					s.primariesLeft++
					break
				}
			}
		}
	})
}
