package node

import (
	"fmt"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/pnet"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
)

// UserAgent is what the node tells peers in identify.
func UserAgent(version string) string { return "allforone/" + version }

// newHost builds the libp2p host: TCP (and QUIC unless the swarm is private), Noise, yamux,
// a resource manager, a connection manager, and the NAT options of reach.go. It starts
// listening.
func newHost(cfg *Config, sk crypto.PrivKey, psk pnet.PSK, g *gater, reg prometheus.Registerer, version string, n *Node) (host.Host, error) {
	rm, err := newResourceManager(cfg)
	if err != nil {
		return nil, err
	}
	cm, err := connmgr.NewConnManager(cfg.ConnLow, cfg.ConnHigh)
	if err != nil {
		return nil, fmt.Errorf("connection manager: %w", err)
	}
	listen := cfg.ListenAddrs
	opts := []libp2p.Option{
		libp2p.Identity(sk),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.ResourceManager(rm),
		libp2p.ConnectionManager(cm),
		libp2p.ConnectionGater(g),
		libp2p.UserAgent(UserAgent(version)),
		libp2p.PrometheusRegisterer(reg),
	}
	opts = append(opts, natOptions(&cfg.NAT, n)...) // reach.go
	if psk != nil {
		// QUIC cannot carry a pre-shared key: a private swarm is TCP only. Drop QUIC
		// listen addresses instead of failing, and say so in the node's log.
		opts = append(opts, libp2p.PrivateNetwork(psk))
		listen = tcpOnly(listen)
		if len(listen) == 0 {
			rm.Close()
			return nil, fmt.Errorf("a private swarm needs a TCP listen address (QUIC cannot use a swarm key): add e.g. --listen /ip4/0.0.0.0/tcp/4501")
		}
	} else {
		opts = append(opts, libp2p.Transport(quic.NewTransport))
	}
	opts = append(opts, libp2p.ListenAddrStrings(listen...))
	h, err := libp2p.New(opts...)
	if err != nil {
		rm.Close()
		return nil, fmt.Errorf("start libp2p host on %v: %w (is another node using these ports? choose others with --listen)", listen, err)
	}
	return h, nil
}

func newResourceManager(cfg *Config) (network.ResourceManager, error) {
	if cfg.UnlimitedResources {
		return rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(rcmgr.InfiniteLimits))
	}
	limits := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&limits)
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits.AutoScale()))
	if err != nil {
		return nil, fmt.Errorf("resource manager: %w", err)
	}
	return rm, nil
}

// tcpOnly keeps the listen addresses that do not use UDP.
func tcpOnly(addrs []string) []string {
	var out []string
	for _, s := range addrs {
		m, err := ma.NewMultiaddr(s)
		if err != nil {
			continue
		}
		if _, err := m.ValueForProtocol(ma.P_UDP); err == nil {
			continue
		}
		out = append(out, s)
	}
	return out
}
