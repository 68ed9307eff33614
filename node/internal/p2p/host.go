package p2p

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

// HostConfig is what the host is built from: the node's Config's network fields and its
// seams.
type HostConfig struct {
	ListenAddrs        []string // multiaddrs to listen on
	ConnLow, ConnHigh  int      // the connection manager's watermarks
	UnlimitedResources bool     // no resource manager limits (testnets)
	Identity           crypto.PrivKey
	PSK                pnet.PSK // the private swarm's key, or nil
	Gater              *Gater
	Registry           prometheus.Registerer
	Version            string          // for the user agent
	Extra              []libp2p.Option // the NAT options (the node's bootstrap.go)
}

// NewHost builds the libp2p host: TCP (and QUIC unless the swarm is private), Noise, yamux,
// a resource manager, a connection manager, and cfg.Extra. It starts listening.
func NewHost(cfg HostConfig) (host.Host, error) {
	rm, err := newResourceManager(cfg.UnlimitedResources)
	if err != nil {
		return nil, err
	}
	cm, err := connmgr.NewConnManager(cfg.ConnLow, cfg.ConnHigh)
	if err != nil {
		return nil, fmt.Errorf("connection manager: %w", err)
	}
	listen := cfg.ListenAddrs
	opts := []libp2p.Option{
		libp2p.Identity(cfg.Identity),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.ResourceManager(rm),
		libp2p.ConnectionManager(cm),
		libp2p.ConnectionGater(cfg.Gater),
		libp2p.UserAgent(UserAgent(cfg.Version)),
		libp2p.PrometheusRegisterer(cfg.Registry),
	}
	opts = append(opts, cfg.Extra...)
	if psk := cfg.PSK; psk != nil {
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

func newResourceManager(unlimited bool) (network.ResourceManager, error) {
	if unlimited {
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
