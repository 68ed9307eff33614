package sim

import (
	"encoding/binary"
	"math"
	"time"

	"allforone/protocol/pb"
	"allforone/tasks/steward"
	"allforone/tasks/worker"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// The network: nodes with places (a link's latency grows with the distance between its
// ends), loss rates, NAT, up or down, and a partition side.

// Network constants.
const (
	baseLatency = 5 * time.Millisecond  // one way, next door
	spanLatency = 80 * time.Millisecond // one way, added across the whole map
	rpcTimeout  = 2 * time.Second       // a request that gets no answer fails after this
	// detectLag is how long a peer that vanished without closing its connections (a
	// machine that lost its network or went to sleep; a partition) still looks connected:
	// yamux's keep-alive, every 30 s with a 10 s write timeout, notices it 10 to 40 s
	// later. A process that exits closes its connections: its peers notice at once.
	detectLag    = 25 * time.Second
	gossipDegree = 6 // gossipsub's D: copies of a message each node sends on
)

// node is one simulated machine.
type node struct {
	idx   int32
	id    peer.ID
	kp    uint64 // the first 64 bits of its keyspace position (kb.ConvertPeerID)
	nat   bool
	up    bool
	gone  bool          // left for good
	quiet bool          // it left without closing its connections
	life  uint32        // incremented when it goes down: events of an earlier life are void
	since time.Duration // when it went down or came up
	side  uint8         // partition side
	cutAt time.Duration // when its side last changed
	x, y  float32
	loss  float32
	rt    [][]int32 // k-buckets by common prefix length, of DHT servers (non-NAT nodes)

	stewards map[int32]*stew                 // by batch: the steward cores it runs
	saved    map[int32]map[int]*pb.TaskState // by batch: the task states it persisted
	promises map[int32]steward.Promise       // by batch: its primary-lease promise (fence.go)
	voters   map[int32]steward.Voters        // by batch: its voting set (fence.go)
	records  *worker.OpenTable               // open-work records it holds as a DHT server
	w        *wstate                         // its worker
	ann      *worker.Announcements           // the batch announcements it admitted
}

// newID makes a valid peer ID from random bytes (an Ed25519 public key nobody has the
// private key of: the simulation signs nothing).
func newID(b [32]byte) (peer.ID, uint64) {
	pk, err := crypto.UnmarshalEd25519PublicKey(b[:])
	if err != nil {
		panic(err)
	}
	id, err := peer.IDFromPublicKey(pk)
	if err != nil {
		panic(err)
	}
	return id, prefix(kb.ConvertPeerID(id))
}

func prefix(k kb.ID) uint64 { return binary.BigEndian.Uint64(k[:8]) }

// oneWay is the latency from a to b.
func (s *Sim) oneWay(a, b *node) time.Duration {
	dx, dy := float64(a.x-b.x), float64(a.y-b.y)
	d := math.Sqrt(dx*dx+dy*dy) / math.Sqrt2
	j := 0.9 + 0.2*s.rng.Float64()
	return time.Duration(float64(baseLatency+time.Duration(d*float64(spanLatency))) * j)
}

// reach reports whether a message from a gets to b now.
func (s *Sim) reach(a, b *node) bool {
	return a == b || (a.up && b.up && a.side == b.side && !(a.nat && b.nat))
}

// delay is how long one message from a takes to reach b: the link's latency, and for
// each time the link loses it (TCP retransmits) a retransmission timeout: twice the round
// trip, at least 200 ms (Linux's minimum RTO).
func (s *Sim) delay(a, b *node) time.Duration {
	d := s.oneWay(a, b)
	if a == b {
		return d
	}
	p := 1 - (1-float64(a.loss))*(1-float64(b.loss))
	for tries := 0; p > 0 && tries < 6 && s.rng.Float64() < p; tries++ {
		d += max(4*d, 200*time.Millisecond) << tries
	}
	return d
}

// believed reports whether a still counts b as connected: b is reachable, or became
// unreachable less than detectLag ago (no keep-alive has failed yet).
func (s *Sim) believed(a, b *node) bool {
	if s.reach(a, b) {
		return true
	}
	if a.nat && b.nat {
		return false
	}
	if !b.up {
		return b.quiet && s.now-b.since < detectLag
	}
	return s.now-max(a.cutAt, b.cutAt) < detectLag
}

// call is one request from a to b and its answer. At arrival, handle runs on b and calls
// reply once, now or later (a parked lease request); done runs on a with the answer, or
// with ok false after timeout when the request or the answer was lost, b was not
// reachable, or b never answered. Every request and answer counts as a message.
func (s *Sim) call(kind msgKind, a, b *node, timeout time.Duration, handle func(reply func(any)), done func(resp any, ok bool)) {
	s.msgs++
	s.byKind[kind]++
	life := a.life
	sent := s.now
	finished := false
	finish := func(resp any, ok bool) {
		if finished {
			return
		}
		finished = true
		if a.life == life && a.up {
			done(resp, ok)
		}
	}
	fail := func() { s.after(sent+timeout-s.now, func() { finish(nil, false) }) }
	if a == b {
		// In-process: no message.
		s.msgs--
		s.byKind[kind]--
		handle(func(r any) { s.after(0, func() { finish(r, true) }) })
		return
	}
	there := s.delay(a, b)
	s.after(there, func() {
		if !s.reach(a, b) {
			fail()
			return
		}
		blife := b.life
		replied := false
		handle(func(r any) {
			if replied {
				return
			}
			replied = true
			s.msgs++
			s.byKind[kind]++
			back := s.delay(b, a)
			if b.life != blife || !s.reach(b, a) || s.now+back > sent+timeout {
				if s.now < sent+timeout {
					fail()
				} else {
					finish(nil, false)
				}
				return
			}
			s.after(back, func() { finish(r, true) })
		})
		if !replied {
			fail() // a parked request: it fails unless answered in time
		}
	})
}

// msgKind names what a message is for, for the report's breakdown.
type msgKind uint8

const (
	kindLookup msgKind = iota
	kindGossip
	kindAdopt
	kindLease
	kindComplete
	kindCopy
	kindPull
	kindStore
	kindRecordPut
	kindRecordGet
	kindVote
	numKinds
)

var kindNames = [numKinds]string{"lookup", "gossip", "adopt", "lease", "complete", "copy", "pull", "store", "record_put", "record_get", "vote"}
