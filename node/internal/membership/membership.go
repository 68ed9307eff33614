// Package membership is what a node knows of its swarm's members, as the placement rules
// read it: a placement.View, rebuilt when the network says something changed.
//
// Roles come from the DHT keyspace: the stewards of a batch are the K swarm members closest
// to the batch ID, the holders of a result the K closest to the task ID, with distance the
// XOR of SHA-256 hashes as in Kademlia. The rules are in tasks/placement; this package
// gathers what they decide from: the members this node knows (the peers in its routing
// table that serve the steward protocol, the connected peers that serve it and the DHT,
// and itself while it serves the DHT) and when members left. Only peers that serve the DHT
// count: a node that cannot be dialled runs its DHT as a client, so it is neither a steward
// nor a result holder.
//
// The live members change only when peers come, go or change protocols, but roles are
// looked up many times a second (per lease request, per held result in a repair round, per
// batch on every steward tick). So the view, with each member's keyspace position hashed
// once, is kept until Invalidate says it may have changed (or TTL passed, for what no event
// announces, such as routing-table changes and the end of a departed member's grace).
package membership

import (
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	libp2pproto "github.com/libp2p/go-libp2p/core/protocol"

	"allforone/tasks/placement"
)

// TTL bounds how stale the view may be when no event arrives.
const TTL = time.Second

// Remember is how long a member that left stays known (gone, once past the grace) when the
// routing table has dropped it (placement.RememberLeft): a view that was built before it
// left and one built after the routing table forgot it must both name it, or a role it
// held is lost without anyone noticing (a dormant primary wakes for a steward gone only if
// some view shows it gone).
const Remember = placement.RememberLeft

// Network is what the members are read from: the node's host and DHT (a fake in tests).
type Network interface {
	// ServesDHT reports whether this node serves the DHT (and so may take roles).
	ServesDHT() bool
	// RoutingPeers are the peers in the DHT's routing table.
	RoutingPeers() []peer.ID
	// Peers are the peers this node has connections to (relayed ones too).
	Peers() []peer.ID
	// Connected are the peers this node is fully connected to now (not only relayed).
	Connected() []peer.ID
	// IsConnected reports whether this node is fully connected to p now.
	IsConnected(p peer.ID) bool
	// Speaks reports whether p is known to serve every one of protos.
	Speaks(p peer.ID, protos ...libp2pproto.ID) bool
}

// Config is a Members' fixed inputs.
type Config struct {
	Self    peer.ID
	Steward libp2pproto.ID // the swarm's steward protocol: members serve it
	Kad     libp2pproto.ID // the swarm's DHT protocol
	// Grace is how long a member that left still counts (RepairGrace); 0: not at all.
	Grace time.Duration
	Now   func() time.Time
}

// Members keeps the view. Lock order: mu, then departMu (the view is built with mu held
// and reads the departures); nothing takes mu under departMu.
type Members struct {
	cfg Config
	net Network

	gen    atomic.Uint64 // bumped when members may have changed
	mu     sync.Mutex
	view   *placement.View
	built  uint64 // gen the view was built at
	builtT time.Time

	departMu   sync.Mutex
	departedAt map[peer.ID]time.Time // members that left, for the grace and Remember
}

// New returns the members of net as cfg.Self sees them.
func New(cfg Config, net Network) *Members {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Members{cfg: cfg, net: net, departedAt: make(map[peer.ID]time.Time)}
}

// Invalidate makes the next View rebuild it.
func (m *Members) Invalidate() { m.gen.Add(1) }

// View returns the current view of the swarm. It is never changed once built: callers may
// keep it and share it.
func (m *Members) View() *placement.View {
	gen := m.gen.Load()
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.cfg.Now()
	if m.view != nil && m.built == gen && now.Sub(m.builtT) < TTL {
		return m.view
	}
	m.view, m.built, m.builtT = m.build(now), gen, now
	return m.view
}

// build gathers what the view is made of: the members, the connected peers, the swarm
// peers that serve the steward protocol, and the members that left.
func (m *Members) build(now time.Time) *placement.View {
	cfg := placement.Config{Self: m.cfg.Self, At: now, Members: m.List(), Grace: m.cfg.Grace,
		Departed: m.departures(now)}
	for _, p := range m.net.Connected() {
		cfg.Connected = append(cfg.Connected, p)
		if m.net.Speaks(p, m.cfg.Steward) {
			cfg.Swarm = append(cfg.Swarm, p)
		}
	}
	return placement.New(cfg)
}

// List returns the swarm members this node knows that may take roles, itself included
// while it serves the DHT.
func (m *Members) List() []peer.ID {
	self := m.cfg.Self
	seen := map[peer.ID]bool{self: true}
	var out []peer.ID
	if m.net.ServesDHT() {
		out = append(out, self)
	}
	add := func(p peer.ID) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	// A peer must serve the steward protocol too: a node that is still starting serves the
	// DHT a moment before it serves our protocols.
	for _, p := range m.net.RoutingPeers() {
		if m.net.Speaks(p, m.cfg.Steward) {
			add(p)
		}
	}
	for _, p := range m.net.Peers() {
		if m.net.Speaks(p, m.cfg.Steward, m.cfg.Kad) {
			add(p)
		}
	}
	return out
}

// Live reports whether p is this node or connected to it.
func (m *Members) Live(p peer.ID) bool { return p == m.cfg.Self || m.net.IsConnected(p) }

// Departed notes that p left: if it was a member, views count it away for the grace and
// know it, gone, until Remember has passed too.
func (m *Members) Departed(p peer.ID) {
	if !m.net.Speaks(p, m.cfg.Steward, m.cfg.Kad) {
		return // it held no role
	}
	m.departMu.Lock()
	defer m.departMu.Unlock()
	m.departedAt[p] = m.cfg.Now()
}

// departures are the members that left less than the grace or Remember ago (the longer),
// with when: the view counts those within the grace away and the others gone, and leaves
// out those that are back.
func (m *Members) departures(now time.Time) map[peer.ID]time.Time {
	m.departMu.Lock()
	defer m.departMu.Unlock()
	for p, at := range m.departedAt {
		if now.Sub(at) >= max(m.cfg.Grace, Remember) {
			delete(m.departedAt, p)
		}
	}
	return maps.Clone(m.departedAt)
}
