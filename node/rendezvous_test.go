package node

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// publicStandIn starts n plain kad DHT servers under the public DHT's /ipfs prefix on
// 127.0.0.1, connected to each other: a stand-in for the public IPFS DHT (tests never dial
// the real one). It returns their full multiaddrs.
func publicStandIn(t *testing.T, n int) (addrs []string, ids []peer.ID) {
	t.Helper()
	var hosts []host.Host
	for range n {
		h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay(), libp2p.DisableMetrics())
		if err != nil {
			t.Fatal(err)
		}
		d, err := dht.New(h, dht.Mode(dht.ModeServer))
		if err != nil {
			h.Close()
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close(); h.Close() })
		for _, o := range hosts {
			if err := h.Connect(t.Context(), peer.AddrInfo{ID: o.ID(), Addrs: o.Addrs()}); err != nil {
				t.Fatal(err)
			}
		}
		hosts = append(hosts, h)
		ids = append(ids, h.ID())
		addrs = append(addrs, h.Addrs()[0].String()+"/p2p/"+h.ID().String())
	}
	return addrs, ids
}

// Two nodes with no bootstrap peers of their own find each other through the public DHT
// (a loopback stand-in here), in a public and in a private swarm, and the public DHT's peers
// never become the node's peers.
func TestPublicRendezvous(t *testing.T) {
	boot, standIn := publicStandIn(t, 4)
	key, err := NewSwarmKey()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		key  []byte
	}{{"public swarm", nil}, {"private swarm", key}} {
		t.Run(tc.name, func(t *testing.T) {
			var nodes []*Node
			for range 2 {
				cfg := TestConfig(filepath.Join(t.TempDir(), "n"))
				cfg.NAT.PublicRendezvous = true
				cfg.NAT.RendezvousBootstrap = boot
				nodes = append(nodes, startTestNode(t, cfg, tc.key))
			}
			a, b := nodes[0], nodes[1]
			deadline := time.Now().Add(30 * time.Second)
			for a.Host().Network().Connectedness(b.ID()) != network.Connected {
				if time.Now().After(deadline) {
					t.Fatalf("the nodes did not find each other through the public DHT in 30s; a has peers %v", a.Host().Network().Peers())
				}
				time.Sleep(50 * time.Millisecond) // polling interval
			}
			for _, n := range nodes {
				for _, p := range n.Host().Network().Peers() {
					if slices.Contains(standIn, p) {
						t.Fatalf("node %s is connected to the public DHT peer %s on its own host", shortID(n.ID()), shortID(p))
					}
				}
			}
		})
	}
}

// The rendezvous loop and its host stop with the node (the package's goleak check would
// catch what is left), also when the public DHT cannot be reached at all.
func TestRendezvousStopsWithTheNode(t *testing.T) {
	cfg := TestConfig(filepath.Join(t.TempDir(), "n"))
	cfg.NAT.PublicRendezvous = true
	cfg.NAT.RendezvousBootstrap = []string{"/ip4/127.0.0.1/tcp/1/p2p/12D3KooWFuSQZTJRHUVAX6CuAhwXNaeBQddBW7Rah8fr94Eoqcvk"}
	n := startTestNode(t, cfg, nil)
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
}
