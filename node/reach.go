package node

import (
	"context"
	"slices"
	"time"

	"allforone/node/internal/reach"
	"allforone/protocol"

	"github.com/libp2p/go-libp2p/core/peer"
	libp2pproto "github.com/libp2p/go-libp2p/core/protocol"
)

// NATs are package reach's (node/internal/reach): the settings, the libp2p options and
// the node's own reachability. This file gives it the swarm's peers and answers for it.

// reachPeers is reach.Peers over this node.
type reachPeers struct{ n *Node }

func (r reachPeers) IsSwarmPeer(p peer.ID) bool { return r.n.isSwarmPeer(p) }
func (r reachPeers) RelayCandidates(ctx context.Context, num int) <-chan peer.AddrInfo {
	return r.n.relayCandidates(ctx, num)
}

// isSwarmPeer reports whether p told us (identify) that it speaks this swarm's protocols.
func (n *Node) isSwarmPeer(p peer.ID) bool {
	if !n.up.Load() { // libp2p may call before Start has stored n.host
		return false
	}
	ok, _ := n.host.Peerstore().SupportsProtocols(p, protocol.StewardProtocol(n.cfg.Swarm))
	return len(ok) > 0
}

// relayCandidates is AutoRelay's peer source: connected swarm peers that offer a relay
// first, then the rest of the swarm peers and the bootstrap peers (AutoRelay checks them).
func (n *Node) relayCandidates(ctx context.Context, num int) <-chan peer.AddrInfo {
	out := make(chan peer.AddrInfo, num)
	defer close(out)
	if !n.up.Load() {
		return out
	}
	var first, rest []peer.ID
	for _, p := range n.host.Network().Peers() {
		if !n.isSwarmPeer(p) {
			continue
		}
		if ok, _ := n.host.Peerstore().SupportsProtocols(p, reach.HopProtocol); len(ok) > 0 {
			first = append(first, p)
		} else {
			rest = append(rest, p)
		}
	}
	ids := append(first, rest...)
	boot, _ := ParseBootstrapPeers(n.cfg.BootstrapPeers)
	for _, b := range boot {
		if !slices.Contains(ids, b.ID) && b.ID != n.id {
			n.host.Peerstore().AddAddrs(b.ID, b.Addrs, time.Hour)
			ids = append(ids, b.ID)
		}
	}
	for _, p := range ids {
		if len(out) == num || ctx.Err() != nil {
			break
		}
		out <- peer.AddrInfo{ID: p, Addrs: n.host.Peerstore().Addrs(p)}
	}
	return out
}

// Reachability is "public", "private" or "unknown".
func (n *Node) Reachability() string { return n.reachSt.Reachability() }

// ServesDHT reports whether the node's DHT is in server mode: only then do other nodes
// count it as a steward or result holder.
func (n *Node) ServesDHT() bool { return n.reachSt.ServesDHT() }

// Relays lists the relays this node holds reservations on (from its relayed addresses).
func (n *Node) Relays() []string {
	if n.host == nil {
		return nil
	}
	return reach.Relays(n.host)
}

// kadProtocol is the ID of the swarm DHT's protocol, served only in server mode.
func (n *Node) kadProtocol() libp2pproto.ID { return protocol.DHTPrefix(n.cfg.Swarm) + "/kad/1.0.0" }

// watchReachability follows AutoNAT's verdict and the DHT's mode (reach.State.Watch).
func (n *Node) watchReachability() error {
	loop, err := n.reachSt.Watch(n.host, n.kadProtocol(), n.logs.reach)
	if err != nil {
		return err
	}
	n.goLoop("reachability", loop)
	return nil
}
