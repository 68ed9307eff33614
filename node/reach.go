package node

import (
	"context"
	"slices"
	"sync/atomic"
	"time"

	"allforone/protocol"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	libp2pproto "github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/host/autorelay"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	ma "github.com/multiformats/go-multiaddr"
)

// Home machines sit behind NATs. A node learns whether peers can dial it (AutoNAT, or the
// operator says so); while they cannot, it serves no DHT records, so other nodes choose
// neither it as a steward nor as a result holder (a record nobody can fetch is lost), it
// reserves slots on relays among the swarm's reachable peers and advertises the relayed
// addresses, and hole punching upgrades relayed connections to direct ones. Work itself
// flows over connections the NATed node opened: leases, results and blobs go to and from
// reachable stewards and holders, never over a relay's limited connection.

// hopProtocol is the circuit relay v2 hop protocol, spoken by peers offering a relay.
const hopProtocol = "/libp2p/circuit/relay/0.2.0/hop"

// natOptions are the libp2p options for cfg.NAT. n gives AutoRelay its peer source and the
// relay its access list; both only read n once the node runs.
func natOptions(c *NATConfig, n *Node) []libp2p.Option {
	var opts []libp2p.Option
	switch c.Reachability {
	case ReachPublic:
		opts = append(opts, libp2p.ForceReachabilityPublic())
	case ReachPrivate:
		opts = append(opts, libp2p.ForceReachabilityPrivate())
	}
	if !c.RelayService && !c.AutoRelay && !c.HolePunching {
		return append(opts, libp2p.DisableRelay())
	}
	// Answer other nodes' AutoNAT probes (rate limited by libp2p).
	opts = append(opts, libp2p.EnableNATService())
	if c.RelayService {
		res := relayv2.DefaultResources()
		res.MaxReservations = c.RelayMaxReservations
		res.MaxCircuits = c.RelayMaxCircuits
		opts = append(opts, libp2p.EnableRelayService(relayv2.WithResources(res), relayv2.WithACL(swarmACL{n})))
	}
	if c.AutoRelay {
		opts = append(opts, libp2p.EnableAutoRelayWithPeerSource(n.relayCandidates,
			autorelay.WithMinCandidates(1), autorelay.WithNumRelays(2),
			autorelay.WithBootDelay(10*time.Second), autorelay.WithMinInterval(10*time.Second)))
	}
	if c.HolePunching {
		opts = append(opts, libp2p.EnableHolePunching())
	}
	if c.PortMap {
		opts = append(opts, libp2p.NATPortMap())
	}
	return opts
}

// swarmACL lets only this swarm's members reserve a slot on the relay: a volunteer's relay
// serves its swarm, not the world.
type swarmACL struct{ n *Node }

func (a swarmACL) AllowReserve(p peer.ID, _ ma.Multiaddr) bool { return a.n.isSwarmPeer(p) }

// AllowConnect lets anyone reach a member that holds a reservation (it is a member, or it
// could not have reserved).
func (a swarmACL) AllowConnect(peer.ID, ma.Multiaddr, peer.ID) bool { return true }

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
		if ok, _ := n.host.Peerstore().SupportsProtocols(p, hopProtocol); len(ok) > 0 {
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

// reachState is what the node knows about its own reachability.
type reachState struct {
	reach     atomic.Int32 // network.Reachability
	dhtServer atomic.Bool  // the DHT serves: this node may be a steward or result holder
	since     atomic.Int64 // unix nanos of the last change of either
}

// Reachability is "public", "private" or "unknown".
func (n *Node) Reachability() string {
	switch network.Reachability(n.reachSt.reach.Load()) {
	case network.ReachabilityPublic:
		return "public"
	case network.ReachabilityPrivate:
		return "private"
	}
	return "unknown"
}

// ServesDHT reports whether the node's DHT is in server mode: only then do other nodes
// count it as a steward or result holder.
func (n *Node) ServesDHT() bool { return n.reachSt.dhtServer.Load() }

// Relays lists the relays this node holds reservations on (from its relayed addresses).
func (n *Node) Relays() []string {
	var out []string
	if n.host == nil {
		return out
	}
	for _, a := range n.host.Addrs() {
		if _, err := a.ValueForProtocol(ma.P_CIRCUIT); err != nil {
			continue
		}
		ma.ForEach(a, func(c ma.Component) bool {
			if c.Protocol().Code == ma.P_P2P {
				if s := c.Value(); !slices.Contains(out, s) {
					out = append(out, s)
				}
				return false
			}
			return true
		})
	}
	return out
}

// kadProtocol is the ID of the swarm DHT's protocol, served only in server mode.
func (n *Node) kadProtocol() libp2pproto.ID { return protocol.DHTPrefix(n.cfg.Swarm) + "/kad/1.0.0" }

func (n *Node) updateDHTServer() {
	serving := slices.Contains(n.host.Mux().Protocols(), n.kadProtocol())
	if n.reachSt.dhtServer.Swap(serving) != serving {
		n.reachSt.since.Store(time.Now().UnixNano())
		n.logs.reach.Info("DHT mode changed", "server", serving, "reachability", n.Reachability())
	}
}

// watchReachability follows AutoNAT's verdict and the DHT's mode (it switches between
// server and client as reachability changes); see reach.go's header.
func (n *Node) watchReachability() error {
	sub, err := n.host.EventBus().Subscribe([]any{new(event.EvtLocalReachabilityChanged), new(event.EvtLocalProtocolsUpdated)})
	if err != nil {
		return err
	}
	n.reachSt.dhtServer.Store(slices.Contains(n.host.Mux().Protocols(), n.kadProtocol()))
	n.goLoop("reachability", func(ctx context.Context) {
		defer sub.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, open := <-sub.Out():
				if !open {
					return
				}
				if r, ok := ev.(event.EvtLocalReachabilityChanged); ok {
					if network.Reachability(n.reachSt.reach.Swap(int32(r.Reachability))) != r.Reachability {
						n.reachSt.since.Store(time.Now().UnixNano())
						n.logs.reach.Info("reachability changed", "reachability", n.Reachability())
					}
				}
				n.updateDHTServer()
			}
		}
	})
	return nil
}
