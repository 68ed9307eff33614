package node

import (
	"slices"
	"time"

	"allforone/protocol"
	"allforone/tasks"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Roles come from the DHT keyspace: the stewards of a batch are the K swarm members closest
// to the batch ID, the holders of a result the K closest to the task ID, with distance the
// XOR of SHA-256 hashes as in Kademlia. Each node decides from what it knows: the peers in
// its routing table, the peers it is connected to that speak our protocols, and itself.

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

// closestLive returns the k live members closest to key, nearest first.
func (n *Node) closestLive(key cid.Cid, k int) []peer.ID {
	return n.liveView().closest(key, k)
}

// liveMembers returns the members that are live, never none (members.go keeps them).
func (n *Node) liveMembers() []peer.ID { return slices.Clone(n.liveView().peers) }

// computeLiveMembers returns the members that are live, never none.
func (n *Node) computeLiveMembers() []peer.ID {
	var cands []peer.ID
	for _, p := range n.members() {
		if n.live(p) {
			cands = append(cands, p)
		}
	}
	if len(cands) == 0 {
		// No live peer serves the DHT (a lone node, or one whose reachability is not known
		// yet among clients): take the roles rather than leave the work undone.
		cands = []peer.ID{n.id}
	}
	return cands
}

// closestHolders returns the k members that should hold the result with key: the closest
// of the live members and those that left less than RepairGrace ago (they come back with
// their data) - unless fewer than min(k, tasks.MinLiveCopies) of those are live, when the
// grace does not apply and the k closest live members are chosen.
func (n *Node) closestHolders(key cid.Cid, k int) []peer.ID {
	return n.holdersFor(key, k, n.liveView(), n.holderView())
}

// holdersFor is closestHolders with the live members and the holder candidates (live and
// away) given, so a round over many results computes them once.
func (n *Node) holdersFor(key cid.Cid, k int, live, cands *memberView) []peer.ID {
	chosen := cands.closest(key, k)
	nLive := 0
	for _, h := range chosen {
		if n.live(h) {
			nLive++
		}
	}
	if nLive < min(k, tasks.MinLiveCopies) {
		return live.closest(key, k)
	}
	return chosen
}

// holderView holds the members that count as result holders: live ones, and ones that
// left less than RepairGrace ago.
func (n *Node) holderView() *memberView {
	return n.liveView().with(n.recentlyDeparted())
}

// holderState tells how a copy on p counts: p is live, away (it left less than RepairGrace
// ago) or gone.
func (n *Node) holderState(p peer.ID) tasks.HolderState {
	if n.live(p) {
		return tasks.HolderLive
	}
	n.departMu.Lock()
	defer n.departMu.Unlock()
	if at, ok := n.departedAt[p]; ok && time.Since(at) < time.Duration(n.cfg.RepairGrace) {
		return tasks.HolderAway
	}
	return tasks.HolderGone
}

// liveHolder counts only live holders (garbage collection keeps a copy unless K live
// others hold it).
func (n *Node) liveHolder(p peer.ID) tasks.HolderState {
	if n.live(p) {
		return tasks.HolderLive
	}
	return tasks.HolderGone
}

// departed notes that member p left (for closestHolders).
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

// recentlyDeparted lists the members that left less than RepairGrace ago and are not back.
func (n *Node) recentlyDeparted() []peer.ID {
	n.departMu.Lock()
	defer n.departMu.Unlock()
	var out []peer.ID
	for p, at := range n.departedAt {
		switch {
		case time.Since(at) >= time.Duration(n.cfg.RepairGrace):
			delete(n.departedAt, p)
		case !n.live(p):
			out = append(out, p)
		}
	}
	return out
}
