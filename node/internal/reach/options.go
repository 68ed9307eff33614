package reach

import (
	"context"
	"time"

	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/host/autorelay"
)

// HopProtocol is the circuit relay v2 hop protocol, spoken by peers offering a relay.
const HopProtocol = "/libp2p/circuit/relay/0.2.0/hop"

// Peers is what the NAT options ask of the node, once it runs: who is a swarm peer (the
// relay serves only them) and which peers to try as relays (AutoRelay's peer source).
type Peers interface {
	IsSwarmPeer(p peer.ID) bool
	RelayCandidates(ctx context.Context, num int) <-chan peer.AddrInfo
}

// Options are the libp2p options for c.
func Options(c *Config, peers Peers) []libp2p.Option {
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
		opts = append(opts, libp2p.EnableRelayService(relayv2.WithResources(res), relayv2.WithACL(swarmACL{peers})))
	}
	if c.AutoRelay {
		opts = append(opts, libp2p.EnableAutoRelayWithPeerSource(peers.RelayCandidates,
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
type swarmACL struct{ peers Peers }

func (a swarmACL) AllowReserve(p peer.ID, _ ma.Multiaddr) bool { return a.peers.IsSwarmPeer(p) }

// AllowConnect lets anyone reach a member that holds a reservation (it is a member, or it
// could not have reserved).
func (a swarmACL) AllowConnect(peer.ID, ma.Multiaddr, peer.ID) bool { return true }
