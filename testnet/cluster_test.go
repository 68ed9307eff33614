package testnet

import (
	"context"
	"slices"
	"testing"
	"time"

	"allforone/node"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"go.uber.org/goleak"

	taskrunner "allforone/tasks/runner"
)

func TestMain(m *testing.M) {
	taskrunner.MainIfRunner() // the nodes' task runners are this test binary, re-executed
	goleak.VerifyTestMain(m,
		// Process-wide singletons of dependencies, started once and never stopped.
		goleak.IgnoreTopFunction("github.com/ipfs/go-log/v2/writer.(*MirrorWriter).logRoutine"),
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
		goleak.IgnoreAnyFunction("github.com/libp2p/go-libp2p/p2p/transport/tcpreuse.(*ConnMgr).DialContext"),
	)
}

func startCluster(t testing.TB, cfg ClusterConfig) *Cluster {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	c, err := StartCluster(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close cluster: %v", err)
		}
	})
	return c
}

func deadline(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestTwentyNodesFindEachOtherByDHT(t *testing.T) {
	if testing.Short() {
		t.Skip("20 nodes")
	}
	c := startCluster(t, ClusterConfig{N: 20})
	ctx := deadline(t, 60*time.Second)
	if err := c.WaitAllKnown(ctx); err != nil {
		t.Fatal(err)
	}
	nodes := c.Nodes()
	for _, a := range nodes {
		for _, b := range nodes {
			if a == b {
				continue
			}
			// An iterative DHT lookup of b's key: it returns only peers that answered
			// a query, so b must be found and reached.
			lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			closest, err := a.DHT().GetClosestPeers(lctx, string(b.ID()))
			cancel()
			if err != nil {
				t.Fatalf("DHT lookup of %s from %s: %v", b.ID(), a.ID(), err)
			}
			if !slices.Contains(closest, b.ID()) {
				t.Fatalf("DHT lookup of %s from %s did not find it (got %d peers)", b.ID(), a.ID(), len(closest))
			}
		}
	}
}

func TestRestartedNodeKeepsPeerIDAndRejoins(t *testing.T) {
	c := startCluster(t, ClusterConfig{N: 4})
	ctx := deadline(t, 30*time.Second)
	if err := c.WaitAllKnown(ctx); err != nil {
		t.Fatal(err)
	}
	before := c.Node(2).ID()
	if err := c.Restart(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if after := c.Node(2).ID(); after != before {
		t.Fatalf("peer ID changed across restart: %s -> %s", before, after)
	}
	if err := c.WaitAllKnown(ctx); err != nil {
		t.Fatal(err)
	}
	n := c.Node(2)
	if err := WaitFor(ctx, "restarted node to reconnect", func() bool {
		return len(n.Host().Network().Peers()) >= 3
	}); err != nil {
		t.Fatal(err)
	}
}

func TestBootstrapNodeRestartedNodeUsesBackupPeers(t *testing.T) {
	// When the only bootstrap node is gone, a restarted node rejoins through the peers
	// it saved when it last ran.
	c := startCluster(t, ClusterConfig{N: 4})
	// A deadline for a stuck node, not a speed goal: on a busy machine the restart and its
	// dials take many times what they take on a quiet one.
	ctx := deadline(t, 2*time.Minute)
	if err := c.WaitAllKnown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(3); err != nil { // saves its backup peers on close
		t.Fatal(err)
	}
	if err := c.Stop(0); err != nil { // the bootstrap node leaves for good
		t.Fatal(err)
	}
	if err := c.Start(ctx, 3); err != nil {
		t.Fatal(err)
	}
	n := c.Node(3)
	if err := WaitFor(ctx, "node 3 to reach nodes 1 and 2 without the bootstrap node", func() bool {
		h := n.Host().Network()
		return h.Connectedness(c.Node(1).ID()) == network.Connected && h.Connectedness(c.Node(2).ID()) == network.Connected
	}); err != nil {
		t.Fatalf("%v; node 3 is connected to %v; nodes 1 and 2 are %s and %s", err, n.Host().Network().Peers(), c.Node(1).ID(), c.Node(2).ID())
	}
}

// connected reports whether a and b have a live connection.
func connected(a, b *node.Node) bool {
	return len(a.Host().Network().ConnsToPeer(b.ID())) > 0
}

func TestPrivateSwarmsAreClosed(t *testing.T) {
	keyA, _ := node.NewSwarmKey()
	keyB, _ := node.NewSwarmKey()
	a := startCluster(t, ClusterConfig{N: 2, SwarmKey: keyA})
	b := startCluster(t, ClusterConfig{N: 1, SwarmKey: keyB})
	open := startCluster(t, ClusterConfig{N: 1})
	ctx := deadline(t, 30*time.Second)
	if err := a.WaitAllKnown(ctx); err != nil {
		t.Fatalf("two nodes with the same key: %v", err)
	}
	target := a.Node(0)
	info := peer.AddrInfo{ID: target.ID(), Addrs: target.Host().Addrs()}
	for name, other := range map[string]*node.Node{"different key": b.Node(0), "no key": open.Node(0)} {
		dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err := other.Host().Connect(dctx, info)
		cancel()
		if err == nil || connected(other, target) {
			t.Errorf("node with %s connected to a private swarm", name)
		}
	}
	// Only TCP: QUIC cannot carry a swarm key.
	for _, addr := range target.Host().Addrs() {
		if _, err := addr.ValueForProtocol(0x0111); err == nil { // udp
			t.Errorf("private node listens on UDP address %s", addr)
		}
	}
}

func TestSwarmNamesDoNotMix(t *testing.T) {
	a := startCluster(t, ClusterConfig{N: 2, Swarm: "alpha"})
	b := startCluster(t, ClusterConfig{N: 1, Swarm: "beta"})
	ctx := deadline(t, 30*time.Second)
	if err := a.WaitAllKnown(ctx); err != nil {
		t.Fatal(err)
	}
	// Connect them at the transport level: the DHTs must still not mix.
	x, y := a.Node(1), b.Node(0)
	if err := y.Host().Connect(ctx, peer.AddrInfo{ID: x.ID(), Addrs: x.Host().Addrs()}); err != nil {
		t.Fatal(err)
	}
	lctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	y.Host().Peerstore().ClearAddrs(a.Node(0).ID())
	if _, err := y.FindPeer(lctx, a.Node(0).ID()); err == nil {
		t.Errorf("a node of swarm beta found a node of swarm alpha through the DHT")
	}
	for _, p := range y.RoutingTablePeers() {
		if p == x.ID() || p == a.Node(0).ID() {
			t.Errorf("swarm beta's routing table holds %s of swarm alpha", p)
		}
	}
}
