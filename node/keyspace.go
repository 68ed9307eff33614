package node

import (
	"maps"
	"time"

	"allforone/protocol"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Roles come from the DHT keyspace: the stewards of a batch are the K swarm members closest
// to the batch ID, the holders of a result the K closest to the task ID, with distance the
// XOR of SHA-256 hashes as in Kademlia. The rules are in tasks/placement; this file
// gathers what they decide from: the members this node knows (the peers in its routing
// table, the peers it is connected to that speak our protocols, and itself) and when
// members left.

// Only peers that serve the DHT count: a node that cannot be dialled (behind a NAT, see
// reach.go) runs its DHT as a client, so it is neither a steward nor a result holder.

// members returns the swarm members this node knows that may take roles, itself included
// while it serves the DHT.
func (n *Node) members() []peer.ID {
	seen := map[peer.ID]bool{n.id: true}
	var out []peer.ID
	if n.ServesDHT() {
		out = append(out, n.id)
	}
	add := func(p peer.ID) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	// A peer must serve the steward protocol too: a node that is still starting serves the
	// DHT a moment before it serves our protocols.
	sp, kad := protocol.StewardProtocol(n.cfg.Swarm), n.kadProtocol()
	for _, p := range n.dht.RoutingTable().ListPeers() {
		if ok, _ := n.host.Peerstore().SupportsProtocols(p, sp); len(ok) == 1 {
			add(p)
		}
	}
	for _, p := range n.host.Network().Peers() {
		if ok, _ := n.host.Peerstore().SupportsProtocols(p, sp, kad); len(ok) == 2 {
			add(p)
		}
	}
	return out
}

// live reports whether p is this node or connected to it.
func (n *Node) live(p peer.ID) bool {
	return p == n.id || n.host.Network().Connectedness(p) == network.Connected
}

// stewardCount is how many stewards b has: K, its replication.
func (n *Node) stewardCount(b *batch) int { return int(max(b.m.Replication, 1)) }

// departed notes that member p left: for RepairGrace, the view counts it away for a while.
func (n *Node) departed(p peer.ID) {
	if n.cfg.RepairGrace <= 0 {
		return
	}
	if ok, _ := n.host.Peerstore().SupportsProtocols(p, protocol.StewardProtocol(n.cfg.Swarm), n.kadProtocol()); len(ok) < 2 {
		return // it held no role
	}
	n.departMu.Lock()
	defer n.departMu.Unlock()
	if n.departedAt == nil {
		n.departedAt = make(map[peer.ID]time.Time)
	}
	n.departedAt[p] = time.Now()
}

// departures are the members that left less than RepairGrace ago, with when (the view
// leaves out those that are back).
func (n *Node) departures() map[peer.ID]time.Time {
	n.departMu.Lock()
	defer n.departMu.Unlock()
	for p, at := range n.departedAt {
		if time.Since(at) >= time.Duration(n.cfg.RepairGrace) {
			delete(n.departedAt, p)
		}
	}
	return maps.Clone(n.departedAt)
}
