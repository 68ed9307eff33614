// Package rendezvous finds a swarm's peers through the public IPFS DHT.
package rendezvous

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"allforone/node/internal/p2p"

	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/discovery"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/pnet"
	"github.com/libp2p/go-libp2p/p2p/discovery/routing"
	"github.com/libp2p/go-libp2p/p2p/discovery/util"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// Opt-in rendezvous through the public IPFS DHT (Config.NAT.PublicRendezvous), for joining a
// swarm without knowing any of its peers: the node advertises itself as a provider of a
// name derived from the swarm's, looks that name up, and dials the swarm peers it finds
// until it has BootstrapFloor peers; then its own DHT takes over.
//
// It runs on a host of its own, a DHT client that listens nowhere, with the node's identity
// and the node's addresses (so a provider record names the node's peer ID and where to dial
// it). Not on the node's host, because
//   - a private swarm's host speaks only to holders of the swarm key, and the public DHT's
//     peers hold none;
//   - the public DHT's peers would count as the node's peers (the bootstrap floor, "no
//     peers" in why) and take connection-manager slots meant for the swarm;
//   - identify would tell every public DHT peer the swarm's protocol names.
//
// The public DHT runs with Kubo's filters for the public internet (only peers with public
// addresses are queried or kept in the routing table), and the node's loopback addresses
// are neither published nor dialled. A test's stand-in DHT on 127.0.0.1 is the exception:
// when RendezvousBootstrap is given and every address in it is loopback, nothing is
// filtered (a plain kad DHT filters nothing by default; the public filters would drop every
// loopback peer).

const (
	// rendezvousPrefix starts every rendezvous name, keeping ours apart from other
	// applications' names in the public DHT.
	rendezvousPrefix = "allforone/"
	// maxRendezvousDelay bounds the wait between two lookups (and advertisement retries)
	// while they find nothing.
	maxRendezvousDelay = 5 * time.Minute
	// rendezvousLookupTime bounds one lookup of the name in the public DHT.
	rendezvousLookupTime = time.Minute
	// MaxFound bounds the providers one lookup returns.
	MaxFound = 50
)

// Name is the name a swarm's nodes advertise and look up in the public DHT:
// "allforone/" and the hex SHA-256 of the swarm's name, with the hash of the swarm key
// mixed in for a private swarm, so that the name tells nobody without the key which swarm it
// is (or that two private swarms share a name).
func Name(swarm string, psk pnet.PSK) string {
	h := sha256.New()
	h.Write([]byte(swarm))
	if psk != nil {
		k := sha256.Sum256(psk)
		h.Write([]byte{0})
		h.Write(k[:])
	}
	return rendezvousPrefix + hex.EncodeToString(h.Sum(nil))
}

// Config is what the rendezvous needs of the node.
type Config struct {
	Identity crypto.PrivKey // the node's: a provider record names its peer ID
	// Addrs are the node's addresses now, which the records advertise.
	Addrs func() []ma.Multiaddr
	Swarm string
	PSK   pnet.PSK // the private swarm's key, or nil: mixed into the name
	// Bootstrap are the public DHT's bootstrap peers; none: the IPFS defaults.
	Bootstrap []peer.AddrInfo
	Version   string        // for the user agent
	Interval  time.Duration // BootstrapInterval: how often it looks
	Floor     int           // BootstrapFloor: it looks the name up while the node has fewer peers
	Log       *slog.Logger
}

// Swarm is what the rendezvous does to the node's own swarm (the node implements it).
type Swarm interface {
	// Peers is how many peers the node is connected to.
	Peers() int
	// Dial dials the peers found (a relayed connection will do), each with a backoff of
	// its own, and returns how many it connected to.
	Dial(ctx context.Context, peers []peer.AddrInfo) int
	// Learned is called after a lookup connected to some: the node learns the swarm from
	// them (refreshes its routing table).
	Learned(ctx context.Context)
}

// rendezvous is the public DHT client and its host.
type rendezvous struct {
	host     host.Host
	dht      *dht.IpfsDHT
	disc     *routing.RoutingDiscovery
	name     string
	loopback bool // a loopback stand-in for the public DHT (tests)

	// Advertising (the rendezvous loop only).
	nextAd  time.Time     // when to advertise next
	adDelay time.Duration // the wait after the next failure
	adAddrs string        // the addresses last advertised
	lastAd  time.Time     // when they were
}

func newRendezvous(cfg Config) (*rendezvous, error) {
	boot, loopback := bootstrap(cfg.Bootstrap)
	cm, err := connmgr.NewConnManager(16, 32)
	if err != nil {
		return nil, err
	}
	h, err := libp2p.New(
		libp2p.Identity(cfg.Identity),
		libp2p.NoListenAddrs,
		libp2p.AddrsFactory(func([]ma.Multiaddr) []ma.Multiaddr { return publishable(cfg.Addrs(), loopback) }),
		libp2p.ConnectionManager(cm),
		libp2p.UserAgent(p2p.UserAgent(cfg.Version)),
		libp2p.DisableRelay(),
		libp2p.ForceReachabilityPrivate(), // no AutoNAT probes: the addresses are the node's, not this host's
		libp2p.DisableMetrics(),
	)
	if err != nil {
		return nil, fmt.Errorf("rendezvous host: %w", err)
	}
	opts := []dht.Option{dht.Mode(dht.ModeClient), dht.BootstrapPeers(boot...)}
	if !loopback {
		opts = append(opts, dht.QueryFilter(dht.PublicQueryFilter), dht.RoutingTableFilter(dht.PublicRoutingTableFilter))
	}
	d, err := dht.New(h, opts...) // the default protocol prefix: the public IPFS DHT
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("rendezvous DHT: %w", err)
	}
	return &rendezvous{host: h, dht: d, disc: routing.NewRoutingDiscovery(d), name: Name(cfg.Swarm, cfg.PSK), loopback: loopback}, nil
}

func (r *rendezvous) close() error { return errors.Join(r.dht.Close(), r.host.Close()) }

// bootstrap is the public DHT's bootstrap peers: the configured ones, or the IPFS
// defaults. loopback reports a configured list of loopback addresses only.
func bootstrap(boot []peer.AddrInfo) ([]peer.AddrInfo, bool) {
	if len(boot) == 0 {
		return dht.GetDefaultBootstrapPeerAddrInfos(), false
	}
	loopback := true
	for _, b := range boot {
		for _, a := range b.Addrs {
			loopback = loopback && manet.IsIPLoopback(a)
		}
	}
	return boot, loopback
}

// publishable drops loopback addresses, unless the public DHT is a loopback stand-in.
func publishable(addrs []ma.Multiaddr, loopback bool) []ma.Multiaddr {
	if loopback {
		return addrs
	}
	out := make([]ma.Multiaddr, 0, len(addrs))
	for _, a := range addrs {
		if !manet.IsIPLoopback(a) {
			out = append(out, a)
		}
	}
	return out
}

// Run advertises the swarm's rendezvous name and, while the node has fewer than
// BootstrapFloor peers, looks it up and dials the peers found, each with its own backoff.
// Lookups that find nothing new back off from BootstrapInterval to maxRendezvousDelay.
// (Its own advertising loop rather than discovery/util.Advertise: that one waits 2 minutes
// after a failure, which is every attempt made before the routing table has peers, and its
// goroutine has no owner to wait for it.)
// Run returns when ctx ends, having closed the public DHT and its host.
func Run(ctx context.Context, cfg Config, swarm Swarm) {
	log := cfg.Log
	r, err := newRendezvous(cfg)
	if err != nil {
		log.Warn("public rendezvous not started", "err", err)
		return
	}
	defer func() {
		if err := r.close(); err != nil {
			log.Debug("close public DHT", "err", err)
		}
	}()
	log.Info("public rendezvous started", "name", r.name)
	interval := cfg.Interval
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var nextLookup time.Time
	lookupDelay := interval
	r.adDelay = interval
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if r.dht.RoutingTable().Size() == 0 {
			continue // not in the public DHT yet: it dials its bootstrap peers by itself
		}
		r.advertise(ctx, log, interval)
		if now := time.Now(); swarm.Peers() < cfg.Floor && !now.Before(nextLookup) {
			if r.lookup(ctx, cfg.Identity, swarm, log) > 0 {
				lookupDelay = interval
				swarm.Learned(ctx) // learn the swarm from the peers found
			} else {
				lookupDelay = min(2*lookupDelay, maxRendezvousDelay)
			}
			nextLookup = time.Now().Add(lookupDelay)
		}
	}
}

// advertise puts the node's provider record under the rendezvous name when it is due: at
// 7/8 of the record's lifetime, sooner after a failure (backing off), and again when the
// node's addresses change (a relay reservation adds some), at most once a minute.
func (r *rendezvous) advertise(ctx context.Context, log *slog.Logger, base time.Duration) {
	cur := r.host.Addrs() // the node's addresses (AddrsFactory)
	if len(cur) == 0 {
		return // nothing to dial us at; the public DHT refuses such records anyway
	}
	addrs, now := fmt.Sprint(cur), time.Now()
	if now.Before(r.nextAd) && (addrs == r.adAddrs || now.Sub(r.lastAd) < time.Minute) {
		return
	}
	ttl, err := r.disc.Advertise(ctx, r.name)
	if err != nil {
		log.Debug("advertise", "err", err, "retry_in", r.adDelay)
		r.nextAd, r.adDelay = now.Add(r.adDelay), min(2*r.adDelay, maxRendezvousDelay)
		return
	}
	log.Debug("advertised", "ttl", ttl, "addrs", addrs)
	r.nextAd, r.adDelay, r.adAddrs, r.lastAd = now.Add(ttl*7/8), base, addrs, now
}

// lookup looks the name up and dials the swarm peers found. It returns how many it
// connected to.
func (r *rendezvous) lookup(ctx context.Context, sk crypto.PrivKey, swarm Swarm, log *slog.Logger) int {
	self, _ := peer.IDFromPrivateKey(sk)
	lctx, cancel := context.WithTimeout(ctx, rendezvousLookupTime)
	found, err := util.FindPeers(lctx, r.disc, r.name, discovery.Limit(MaxFound))
	cancel()
	if err != nil {
		log.Debug("rendezvous lookup", "err", err)
		return 0
	}
	peers := found[:0]
	for _, p := range found {
		if p.ID == self {
			continue // our own advertisement
		}
		if p.Addrs = publishable(p.Addrs, r.loopback); len(p.Addrs) > 0 {
			peers = append(peers, p)
		}
	}
	// A NATed member is found at its relayed addresses: accept a relayed connection (hole
	// punching then tries a direct one).
	ok := swarm.Dial(network.WithAllowLimitedConn(ctx, "rendezvous"), peers)
	log.Debug("rendezvous lookup", "found", len(peers), "connected", ok)
	return ok
}
