package sim

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"allforone/tasks/placement"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Roles: what a steward believes of the swarm, on the placement.View built here from its
// own lookup of the batch ID. Without primary leases a node acts as a batch's primary
// while that view says it is the closest live steward (tasks/steward's claim), so two
// nodes whose lookups or reachability differ may both act as primary; max_primaries
// counts them (countPrimary reads the core's Primary). With them (fence.go) it acts as
// primary while it holds a lease a majority of the batch's voting stewards granted: the
// servers its lookups found, and those it found before that cannot be reached now
// (remembered), so a lookup on the far side of a partition does not change the set.

const (
	// repairGrace is node.Config's default RepairGrace.
	repairGrace = 30 * time.Second
	// connIdle is how long a worker that talked to a steward stays connected to it (the
	// connection manager's grace; lease holders are protected).
	connIdle = 2 * time.Minute
	// relookEvery is how often a steward looks the batch's closest servers up again; it
	// does so at once when one of them leaves.
	relookEvery = time.Minute
)

// remembered is what st knows of the batch's servers after a lookup found found: those,
// and the servers it knew that cannot be reached now and were lost less than
// placement.RememberLeft ago, closest first.
func (s *Sim) remembered(st *stew, found []int32) []int32 {
	out := slices.Clone(found)
	for _, m := range st.members {
		p := s.nodes[m]
		if !slices.Contains(found, m) && p != st.n && !s.reach(st.n, p) && s.now-s.leftAt(st.n, p) < placement.RememberLeft {
			out = append(out, m)
		}
	}
	target := st.b.kp
	slices.SortFunc(out, func(a, b int32) int { return cmp.Compare(s.kps[a]^target, s.kps[b]^target) })
	return out
}

// viewSig hashes what the view of st would hold now: the believed-live members, the away
// ones and the connected workers.
func (s *Sim) viewSig(st *stew) uint64 {
	h := fnv.New64a()
	var b [5]byte
	put := func(tag byte, p int32) {
		b[0], b[1], b[2], b[3], b[4] = tag, byte(p), byte(p>>8), byte(p>>16), byte(p>>24)
		h.Write(b[:])
	}
	for _, m := range st.members {
		p := s.nodes[m]
		switch {
		case s.believed(st.n, p):
			put(1, m)
		case s.now-s.leftAt(st.n, p) < repairGrace:
			put(2, m)
		}
	}
	for w, at := range st.contactsSorted() {
		if s.now-at < connIdle && s.believed(st.n, s.nodes[w]) {
			put(3, w)
		}
	}
	return h.Sum64()
}

// leftAt is when p became unreachable for n.
func (s *Sim) leftAt(n, p *node) time.Duration {
	if !p.up {
		return p.since
	}
	return max(n.cutAt, p.cutAt)
}

// view builds st's membership view: the servers its last lookup found (itself among them
// when it serves the DHT), live while it believes them connected, away within the grace;
// and the workers connected to it.
func (s *Sim) view(st *stew) *placement.View {
	n := st.n
	c := placement.Config{Self: n.id, At: s.wall(), Grace: repairGrace, Departed: map[peer.ID]time.Time{}}
	if !n.nat {
		c.Members = append(c.Members, n.id)
	}
	st.conn = st.conn[:0]
	for _, m := range st.members {
		p := s.nodes[m]
		c.Members = append(c.Members, p.id)
		if p == n {
			continue
		}
		if s.believed(n, p) {
			c.Connected = append(c.Connected, p.id)
			c.Swarm = append(c.Swarm, p.id)
			st.conn = append(st.conn, m)
		} else {
			c.Departed[p.id] = s.t0.Add(s.leftAt(n, p))
		}
	}
	for w, at := range st.contactsSorted() {
		p := s.nodes[w]
		if s.now-at < connIdle && s.believed(n, p) {
			// Connected, not Swarm: Swarm only feeds why a batch waits, and a primary's
			// thousands of workers would cost placement.New a quadratic dedupe.
			c.Connected = append(c.Connected, p.id)
			st.conn = append(st.conn, w)
		}
	}
	return placement.New(c)
}

// countPrimary updates the batch's count of nodes acting as its primary after st's core
// stepped (or st's node went down), and the most at once.
func (s *Sim) countPrimary(st *stew, acting bool) {
	if acting == st.primary {
		return
	}
	st.primary = acting
	b := st.b
	if acting {
		b.primaries++
	} else {
		b.primaries--
	}
	s.notePrimaries(b)
	if s.cfg.Trace != nil {
		fmt.Fprintf(s.cfg.Trace, "%8.3fs batch %d: node %d primary %v (now %d) partitioned %v members %v\n",
			s.now.Seconds(), b.idx, st.n.idx, acting, b.primaries, s.partitioned, st.members[:min(4, len(st.members))])
	}
}

// notePrimaries keeps the most nodes acting as b's primary at once, from settleTime after
// its submission on; and the same outside the partition and the time its end takes to be
// seen (every view noticed it and looked up again).
func (s *Sim) notePrimaries(b *batch) {
	if s.now >= b.at+settleTime {
		b.maxPrimaries = max(b.maxPrimaries, b.primaries)
		if !s.partitioned && (s.healedAt == 0 || s.now >= s.healedAt+detectLag+relookEvery) {
			b.maxPrimariesWhole = max(b.maxPrimariesWhole, b.primaries)
		}
	}
}

// settleTime is how long after a batch's submission its first lookups have settled.
const settleTime = 10 * time.Second
