// Package placement is the one rule for who does what in the keyspace: the stewards of a
// batch and its primary, the holders of a result (with the repair grace), where a result
// is stored, repaired and handed off to, which extra copies garbage collection may drop,
// and where results are fetched from.
//
// Roles come from the DHT keyspace, as in Kademlia: the stewards of a batch are the K live
// members closest to the batch ID, the holders of a result the K closest to its task ID,
// with distance the XOR of SHA-256 hashes. A View is what one node knows of the swarm at
// one moment (who is live, who left when), with every member's keyspace position hashed
// once; every rule is a method of it. A View is never changed after it is built, so it is
// shared freely, and a rule given the same View always gives the same answer.
package placement

import (
	"slices"
	"time"

	"allforone/tasks"

	"github.com/ipfs/go-cid"
	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Slack widens the steward set where a node checks that a peer is one of a batch's
// stewards (a state copy, a steward vouching for a single-replica result): two nodes'
// views of the swarm may differ by a peer or two.
const Slack = 2

// Config is what a View is built from.
type Config struct {
	// Self is the node whose view this is. It counts as live, and as a member while it is
	// among Members (a node that cannot be dialled serves the DHT as a client and takes no
	// role).
	Self peer.ID
	// At is when the view was taken: it decides which departed members are still within
	// Grace.
	At time.Time
	// Members are the peers this node knows that may take roles (they serve the DHT and
	// the steward protocol), Self included while it serves the DHT. Only the live ones
	// count as live members.
	Members []peer.ID
	// Connected are the peers with a connection to this node: workers and holders are
	// live when connected, members or not.
	Connected []peer.ID
	// Departed says when members left (their last connection closed). One that left less
	// than Grace before At and is not live is away: it counts as holding what it held. The
	// others that are not live are known members still (KnownClosest), gone.
	Departed map[peer.ID]time.Time
	// Grace is the repair grace (Config.RepairGrace): 0 counts nobody away.
	Grace time.Duration
	// Swarm are the connected peers that serve the steward protocol: the peers that may
	// take a batch's tasks from this node. Self is added.
	Swarm []peer.ID
}

// View is one node's knowledge of the swarm at one moment. Build it with New.
type View struct {
	self      peer.ID
	at        time.Time
	grace     time.Duration
	live      members // live members, never none (Self when no other is known)
	away      members // members away within the grace, not live
	awaySince map[peer.ID]time.Time
	connected map[peer.ID]struct{}
	swarm     []peer.ID
	all       members // every member known, live or not, and Self
}

// members are peers with their keyspace positions, hashed once.
type members struct {
	peers []peer.ID
	keys  []kb.ID // kb.ConvertPeerID(peers[i])
}

func (m *members) add(p peer.ID) {
	m.peers = append(m.peers, p)
	m.keys = append(m.keys, kb.ConvertPeerID(p))
}

// New builds a view. Members that are neither Self nor connected are not live; when no
// member is live, Self takes the roles (a lone node, or one whose reachability is not
// known yet) rather than leave the work undone.
func New(c Config) *View {
	v := &View{self: c.Self, at: c.At, grace: c.Grace, connected: make(map[peer.ID]struct{}, len(c.Connected)+1),
		awaySince: make(map[peer.ID]time.Time)}
	v.connected[c.Self] = struct{}{}
	for _, p := range c.Connected {
		v.connected[p] = struct{}{}
	}
	seen := make(map[peer.ID]bool, len(c.Members))
	all := map[peer.ID]bool{c.Self: true}
	for p := range c.Departed {
		all[p] = true
	}
	for _, p := range c.Members {
		all[p] = true
		if !seen[p] && v.Live(p) {
			seen[p] = true
			v.live.add(p)
		}
	}
	for p := range all {
		v.all.add(p)
	}
	if len(v.live.peers) == 0 {
		v.live.add(c.Self)
	}
	if c.Grace > 0 {
		away := make([]peer.ID, 0, len(c.Departed))
		for p, at := range c.Departed {
			if !v.Live(p) && c.At.Sub(at) < c.Grace {
				away = append(away, p)
			}
		}
		slices.Sort(away) // the order members were added in never matters, but keep it stable
		for _, p := range away {
			v.away.add(p)
			v.awaySince[p] = c.Departed[p]
		}
	}
	v.swarm = append(v.swarm, c.Self)
	for _, p := range c.Swarm {
		if p != c.Self && !slices.Contains(v.swarm, p) {
			v.swarm = append(v.swarm, p)
		}
	}
	return v
}

// KnownClosest returns the k members this node knows closest to key, nearest first,
// reachable or not (and Self): a batch's voting stewards under primary leases, which do
// not change when a steward is merely unreachable.
func (v *View) KnownClosest(key cid.Cid, k int) []peer.ID { return v.all.closest(key, k) }

// Self is the node whose view this is.
func (v *View) Self() peer.ID { return v.self }

// At is when the view was taken.
func (v *View) At() time.Time { return v.at }

// Live reports whether p is this node or connected to it.
func (v *View) Live(p peer.ID) bool {
	_, ok := v.connected[p]
	return ok
}

// Members are the live members, never none.
func (v *View) Members() []peer.ID { return slices.Clone(v.live.peers) }

// Away are the members away within the grace: they left less than Grace ago and are not
// back.
func (v *View) Away() []peer.ID { return slices.Clone(v.away.peers) }

// Swarm are this node and the connected peers that may take a batch's tasks from it.
func (v *View) Swarm() []peer.ID { return v.swarm }

// State tells how a copy on p counts: p is live, away (it left less than the grace ago)
// or gone.
func (v *View) State(p peer.ID) tasks.HolderState {
	if v.Live(p) {
		return tasks.HolderLive
	}
	if _, ok := v.awaySince[p]; ok {
		return tasks.HolderAway
	}
	return tasks.HolderGone
}

// LiveState counts only live holders as holding (garbage collection keeps a copy unless K
// live others hold it).
func (v *View) LiveState(p peer.ID) tasks.HolderState {
	if v.Live(p) {
		return tasks.HolderLive
	}
	return tasks.HolderGone
}

// Closest returns the k live members closest to key, nearest first.
func (v *View) Closest(key cid.Cid, k int) []peer.ID { return v.live.closest(key, k) }

// CandidatesKey identifies the holder candidates (the live and away members): two views
// with the same key choose the same holders for every result.
func (v *View) CandidatesKey() string {
	return string(slices.Concat(slices.Concat(v.live.keys...), []byte{0}, slices.Concat(v.away.keys...)))
}

// closest returns the k of m closest to key by XOR distance, nearest first. It keeps the
// best k while it scans (k is small), without sorting or allocating per member: a repair
// round calls it for every result a node holds.
func (m *members) closest(key cid.Cid, k int) []peer.ID { return closestOf(keyOf(key), k, m) }

// keyOf is key's keyspace position.
func keyOf(key cid.Cid) kb.ID { return kb.ConvertKey(string(key.Bytes())) }

// closestOf returns the k peers of the given sets closest to target, nearest first.
func closestOf(target kb.ID, k int, sets ...*members) []peer.ID {
	type ref struct{ set, i int }
	best := make([]ref, 0, k+1)
	key := func(r ref) kb.ID { return sets[r.set].keys[r.i] }
	for s, m := range sets {
		for i := range m.peers {
			r := ref{s, i}
			pos := len(best)
			for pos > 0 && closer(m.keys[i], key(best[pos-1]), target) {
				pos--
			}
			if pos < k {
				best = slices.Insert(best, pos, r)
				best = best[:min(len(best), k)]
			}
		}
	}
	out := make([]peer.ID, len(best))
	for j, r := range best {
		out[j] = sets[r.set].peers[r.i]
	}
	return out
}

// closer reports whether a is closer to target than b by XOR distance.
func closer(a, b, target kb.ID) bool {
	for i := range target {
		if da, db := a[i]^target[i], b[i]^target[i]; da != db {
			return da < db
		}
	}
	return false
}

// ByDistance returns ps sorted by XOR distance to key, nearest first, in a new slice: the
// order of a batch's stewards that every node computes alike.
func ByDistance(key cid.Cid, ps []peer.ID) []peer.ID {
	m := &members{}
	for _, p := range ps {
		m.add(p)
	}
	return closestOf(keyOf(key), len(ps), m)
}
