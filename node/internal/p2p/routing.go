package p2p

import (
	"context"
	"fmt"
	"time"

	"github.com/ipfs/go-datastore"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"allforone/protocol"
)

// DHTConfig is what the swarm's Kademlia DHT is started with.
type DHTConfig struct {
	Swarm string // the DHT speaks under the swarm's own protocol prefix
	// Mode is a Config DHT mode: "server", "client", "auto", or "auto-server" (anything
	// else).
	Mode      string
	Datastore datastore.Batching // where its records live
	Bootstrap []peer.AddrInfo
	Refresh   time.Duration // the routing table's refresh period
}

// NewDHT starts the Kademlia DHT of cfg.Swarm on h.
func NewDHT(h host.Host, cfg DHTConfig) (*dht.IpfsDHT, error) {
	d, err := dht.New(h,
		dht.ProtocolPrefix(protocol.DHTPrefix(cfg.Swarm)),
		dht.Mode(dhtMode(cfg.Mode)),
		dht.Datastore(cfg.Datastore),
		dht.BootstrapPeers(cfg.Bootstrap...),
		dht.RoutingTableRefreshPeriod(cfg.Refresh),
	)
	if err != nil {
		return nil, fmt.Errorf("start DHT: %w", err)
	}
	return d, nil
}

func dhtMode(m string) dht.ModeOpt {
	switch m {
	case "server":
		return dht.ModeServer
	case "client":
		return dht.ModeClient
	case "auto":
		return dht.ModeAuto
	default:
		return dht.ModeAutoServer
	}
}

// NewGossipSub starts gossipsub on h with strict signing, the swarm's peer scoring (a peer
// isBlocked reports is scored out) and, when heartbeat is not 0, that heartbeat interval.
// gossipsub has no Close: it lives as long as ctx.
func NewGossipSub(ctx context.Context, h host.Host, swarm string, heartbeat time.Duration, isBlocked func(peer.ID) bool) (*pubsub.PubSub, error) {
	params := pubsub.DefaultGossipSubParams()
	if heartbeat > 0 {
		params.HeartbeatInterval = heartbeat
		params.HeartbeatInitialDelay = heartbeat / 10
	}
	scoreParams, scoreThresholds := PeerScore(swarm, isBlocked)
	ps, err := pubsub.NewGossipSub(ctx, h,
		pubsub.WithPeerScore(scoreParams, scoreThresholds),
		pubsub.WithMessageSignaturePolicy(pubsub.StrictSign),
		pubsub.WithGossipSubParams(params),
		pubsub.WithFloodPublish(true),
		pubsub.WithPeerExchange(true),
		pubsub.WithMaxMessageSize(pubsub.DefaultMaxMessageSize),
	)
	if err != nil {
		return nil, fmt.Errorf("start gossipsub: %w", err)
	}
	return ps, nil
}
