package sim

import (
	"math/bits"
	"slices"
	"time"
)

// Kademlia: every node keeps k-buckets of DHT servers (the nodes not behind NAT) by common
// prefix length with itself, at most bucketSize each, and finds the servers closest to a
// key by an iterative lookup: ask the alpha closest it knows and has not asked, learn
// their closest, until the closest bucketSize it knows have all answered (kad-dht's
// GetClosestPeers, with its defaults). A peer that does not answer leaves the asker's
// table; one that answers enters it if its bucket has room.

const (
	bucketSize = 20
	alpha      = 3
	dialFail   = time.Second // what an unanswered query costs a lookup round
)

// buildTables fills every node's k-buckets with random servers of each prefix length, as
// a swarm that has run for a while has them.
func (s *Sim) buildTables() {
	servers := make([]int32, 0, len(s.nodes))
	for _, n := range s.nodes {
		if !n.nat {
			servers = append(servers, n.idx)
		}
	}
	slices.SortFunc(servers, func(a, b int32) int {
		ka, kb := s.nodes[a].kp, s.nodes[b].kp
		switch {
		case ka < kb:
			return -1
		case ka > kb:
			return 1
		}
		return 0
	})
	keys := make([]uint64, len(servers))
	for i, p := range servers {
		keys[i] = s.nodes[p].kp
	}
	pick := make([]int32, 0, bucketSize)
	for _, n := range s.nodes {
		// The deepest non-empty bucket is the prefix shared with a neighbour in key order.
		at, _ := slices.BinarySearch(keys, n.kp)
		deepest := 0
		for _, k := range []int{at - 1, at, at + 1} {
			if k >= 0 && k < len(keys) && keys[k] != n.kp {
				deepest = max(deepest, min(cpl(n.kp, keys[k]), 63))
			}
		}
		n.rt = make([][]int32, 0, deepest+1)
		for c := 0; c <= deepest; c++ {
			// Servers sharing c bits with n and differing in the next: one key range.
			bit := uint64(1) << (63 - c)
			lo := (n.kp ^ bit) &^ (bit - 1)
			hi := lo | (bit - 1)
			i, _ := slices.BinarySearch(keys, lo)
			j, found := slices.BinarySearch(keys, hi)
			if found {
				j++
			}
			pick = pick[:0]
			if j-i <= bucketSize {
				pick = append(pick, servers[i:j]...)
			} else {
				for len(pick) < bucketSize {
					if p := servers[i+s.rng.IntN(j-i)]; !slices.Contains(pick, p) {
						pick = append(pick, p)
					}
				}
			}
			n.rt = append(n.rt, slices.Clone(pick))
		}
	}
}

// cpl is the common prefix length of two keyspace positions.
func cpl(a, b uint64) int { return bits.LeadingZeros64(a ^ b) }

// closestKnown returns the (at most) k servers in n's table closest to target, nearest
// first, n itself included when it is a server. Only the buckets that can hold them are
// read: the one of target's prefix length with n holds the closest, then n and the deeper
// buckets, then the shallower ones, each farther than the one before.
func (s *Sim) closestKnown(n *node, target uint64, k int, out []int32) []int32 {
	out = out[:0]
	var dist [bucketSize + 1]uint64
	consider := func(p int32) {
		d := s.kps[p] ^ target
		if len(out) == k && d >= dist[k-1] {
			return
		}
		pos := len(out)
		if pos < k {
			out = append(out, 0)
		} else {
			pos = k - 1
		}
		for pos > 0 && dist[pos-1] > d {
			out[pos], dist[pos] = out[pos-1], dist[pos-1]
			pos--
		}
		out[pos], dist[pos] = p, d
	}
	bucket := func(i int) {
		if i < len(n.rt) {
			for _, p := range n.rt[i] {
				consider(p)
			}
		}
	}
	c := min(cpl(n.kp, target), 63)
	bucket(c)
	if len(out) < k {
		if !n.nat {
			consider(n.idx)
		}
		for i := c + 1; i < len(n.rt); i++ {
			bucket(i)
		}
	}
	for i := c - 1; i >= 0 && len(out) < k; i-- {
		bucket(i)
	}
	return out
}

// learn adds p to n's table if its bucket has room.
func (s *Sim) learn(n *node, p int32) {
	if p == n.idx || s.nodes[p].nat {
		return
	}
	c := min(cpl(n.kp, s.nodes[p].kp), 63)
	for len(n.rt) <= c {
		n.rt = append(n.rt, nil)
	}
	if len(n.rt[c]) >= bucketSize || slices.Contains(n.rt[c], p) {
		return
	}
	n.rt[c] = append(n.rt[c], p)
}

// forget drops p from n's table: it did not answer.
func (s *Sim) forget(n *node, p int32) {
	c := min(cpl(n.kp, s.nodes[p].kp), 63)
	if c < len(n.rt) {
		if i := slices.Index(n.rt[c], p); i >= 0 {
			n.rt[c] = slices.Delete(n.rt[c], i, i+1)
		}
	}
}

// lookup finds the bucketSize servers closest to target that n can reach, by an iterative
// lookup from n's table; done gets them, nearest first, after the virtual time the lookup
// takes. The lookup is computed against the network as it is now.
func (s *Sim) lookup(n *node, target uint64, done func([]int32)) {
	s.lookups++
	type cand struct {
		p      int32
		asked  bool
		answer bool
	}
	var cands []cand
	has := func(p int32) bool {
		for _, c := range cands {
			if c.p == p {
				return true
			}
		}
		return false
	}
	add := func(p int32) {
		if has(p) {
			return
		}
		d := s.kps[p] ^ target
		pos := len(cands)
		for pos > 0 && s.kps[cands[pos-1].p]^target > d {
			pos--
		}
		cands = slices.Insert(cands, pos, cand{p: p})
	}
	var buf []int32
	for _, p := range s.closestKnown(n, target, bucketSize, buf) {
		add(p)
	}
	var took time.Duration
	for round := 0; round < 20; round++ {
		// The alpha closest not asked among the bucketSize closest that may answer.
		var ask []int
		seen := 0
		for i := range cands {
			if seen >= bucketSize || len(ask) >= alpha {
				break
			}
			if cands[i].asked && !cands[i].answer {
				continue
			}
			seen++
			if !cands[i].asked {
				ask = append(ask, i)
			}
		}
		if len(ask) == 0 {
			break
		}
		var slowest time.Duration
		var answered []int32
		for _, i := range ask {
			c := &cands[i]
			c.asked = true
			p := s.nodes[c.p]
			if p == n {
				c.answer = true
				continue
			}
			s.msgs++
			s.byKind[kindLookup]++
			if !s.reach(n, p) {
				s.forget(n, c.p)
				slowest = max(slowest, dialFail)
				continue
			}
			s.msgs++
			s.byKind[kindLookup]++
			c.answer = true
			slowest = max(slowest, s.delay(n, p)+s.delay(p, n))
			answered = append(answered, c.p)
		}
		took += slowest
		for _, q := range answered {
			s.learn(n, q)
			buf = s.closestKnown(s.nodes[q], target, bucketSize, buf)
			for _, p := range buf {
				add(p)
			}
		}
	}
	out := make([]int32, 0, bucketSize)
	for _, c := range cands {
		if c.answer && len(out) < bucketSize {
			out = append(out, c.p)
		}
	}
	s.after(took, func() { done(out) })
}
