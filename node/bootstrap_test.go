package node

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	libp2pproto "github.com/libp2p/go-libp2p/core/protocol"

	"allforone/protocol"
	"allforone/tasks"
)

// Connect over the API on real loopback sockets: by multiaddr, then by peer ID through the
// DHT; bad targets get errors that say what is wrong.
func TestConnectByAddrAndPeerID(t *testing.T) {
	a, b, c := newTestNode(t), newTestNode(t), newTestNode(t)
	ca, err := NewClient(a.cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	binfo := b.IDInfo()
	pi, err := ca.Connect(t.Context(), binfo.Addrs[0])
	if err != nil || pi.PeerID != binfo.PeerID || pi.Relayed {
		t.Fatalf("connect by multiaddr: %+v %v", pi, err)
	}
	// c knows only b; it finds a by its peer ID through b's DHT.
	if _, err := c.Connect(t.Context(), binfo.Addrs[0]); err != nil {
		t.Fatal(err)
	}
	// (b enters c's routing table once identify has run: retry until then.)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for {
		pi, err := c.Connect(ctx, a.ID().String())
		if err == nil && pi.PeerID == a.ID().String() {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("connect by peer ID: %+v %v", pi, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	for target, want := range map[string]string{
		"/ip4/1.2.3":                   "not a multiaddr",
		"/ip4/127.0.0.1/tcp/1":         "no /p2p/",
		"hello":                        "neither a multiaddr nor a peer ID",
		a.ID().String():                "own peer ID",
		a.IDInfo().Addrs[0] + "":       "own peer ID",
		"12D3KooWSmj7sQU7XAaAfizbGUMF": "neither",
	} {
		_, err := ca.Connect(t.Context(), target)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("connect %q: %v, want an error containing %q", target, err, want)
		}
		// A bad target is the request's fault: 400, not 502.
		var se *StatusError
		if !errors.As(err, &se) || se.Status != http.StatusBadRequest {
			t.Errorf("connect %q: %v, want a 400 answer", target, err)
		}
	}
	// A target that is fine but cannot be reached is the network's: 502.
	gone := newTestNode(t)
	gone.Close()
	_, err = ca.Connect(t.Context(), "/ip4/127.0.0.1/tcp/1/p2p/"+gone.ID().String())
	if se := (*StatusError)(nil); !errors.As(err, &se) || se.Status != http.StatusBadGateway {
		t.Errorf("connect to a closed port: %v, want a 502 answer", err)
	}
	// Unknown fields are refused, not ignored.
	code, body := apiPostString(t, a, "/api/v1/peers/connect", `{"target": "`+binfo.Addrs[0]+`", "timeout": 5}`)
	if code != http.StatusBadRequest || !strings.Contains(body, `unknown field "timeout"`) {
		t.Errorf("connect with an unknown field: %d %s, want 400 naming it", code, body)
	}
}

// A lone node whose DHT runs as a client (unreachable, or not known yet) still stewards
// and holds its own batch: with no peer to take the roles, it takes them.
func TestLoneClientNodeRunsItsOwnBatch(t *testing.T) {
	cfg := TestConfig(t.TempDir())
	cfg.DHTMode = DHTClient
	n := startTestNode(t, cfg, nil)
	if n.ServesDHT() {
		t.Fatal("a client-mode node says it serves the DHT")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	id := submitEcho(t, ctx, n, 4)
	deadlineFor(t, ctx, "four results held", func() bool { return n.HeldResults(id) == 4 })
}

// A peer that serves the DHT but not (yet) the steward protocol, like a node still
// starting, is no steward or holder.
func TestPeersWithoutTheStewardProtocolTakeNoRoles(t *testing.T) {
	a, b := newTestNode(t), newTestNode(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := a.Connect(ctx, b.IDInfo().Addrs[0]); err != nil {
		t.Fatal(err)
	}
	has := func() bool { return slices.Contains(a.mem.List(), b.ID()) }
	deadlineFor(t, ctx, "b among a's members", has)
	b.host.RemoveStreamHandler(protocol.StewardProtocol(b.cfg.Swarm)) // identify pushes the change
	deadlineFor(t, ctx, "b out of a's members", func() bool { return !has() })
	if a.RoutingTableSize() != 1 {
		t.Fatalf("b left a's routing table too (size %d): the test no longer tests the routing-table path", a.RoutingTableSize())
	}
}

// A holder that left counts as holding for RepairGrace (it may come back with its data),
// then no more; with no grace it stops counting at once.
func TestDepartedHolderCountsDuringTheGrace(t *testing.T) {
	cfg := TestConfig(t.TempDir())
	cfg.RepairGrace = Duration(time.Second)
	a := startTestNode(t, cfg, nil)
	b, c := newTestNode(t), newTestNode(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for _, x := range []*Node{b, c} {
		if _, err := a.Connect(ctx, x.IDInfo().Addrs[0]); err != nil {
			t.Fatal(err)
		}
		deadlineFor(t, ctx, "a member", func() bool { return slices.Contains(a.mem.List(), x.ID()) })
	}
	key := submitKey(t)
	// Both rules count it: the holders chosen for new copies and the steward's count of a
	// result's copies.
	counts := func(p *Node) bool {
		v := a.liveView()
		chosen, away := slices.Contains(v.Holders(key, 3), p.ID()), v.State(p.ID()) != tasks.HolderGone
		if chosen != away {
			t.Errorf("the view's holders say %v, its state %v", chosen, v.State(p.ID()))
		}
		return chosen
	}
	left := time.Now() // before Close: a notes the departure while b is still closing
	b.Close()
	deadlineFor(t, ctx, "b gone", func() bool { return !a.live(b.ID()) })
	deadlineFor(t, ctx, "the departure noted", func() bool { return len(a.liveView().Away()) == 1 })
	if !counts(b) && time.Since(left) < 900*time.Millisecond {
		t.Fatal("a holder that just left no longer counts")
	}
	deadlineFor(t, ctx, "the grace to end", func() bool { return !counts(b) })
	if time.Since(left) < time.Second {
		t.Fatalf("the grace ended after %v, before RepairGrace", time.Since(left))
	}
	// A live member always counts.
	if !counts(c) {
		t.Fatal("a live member does not count")
	}
}

// submitKey is some task ID to rank peers by.
func submitKey(t *testing.T) cid.Cid {
	t.Helper()
	k, err := cid.Decode("bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Two of a result's three holders leaving at once leave one live copy: the grace does not
// apply below two live copies, so both are replaced at once (three holders that failed
// within the grace lost a result in the steward-loss scenario).
func TestTheGraceKeepsTwoLiveCopies(t *testing.T) {
	cfg := TestConfig(t.TempDir())
	cfg.RepairGrace = Duration(time.Hour)
	a := startTestNode(t, cfg, nil)
	b, c, d := newTestNode(t), newTestNode(t), newTestNode(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for _, x := range []*Node{b, c, d} {
		if _, err := a.Connect(ctx, x.IDInfo().Addrs[0]); err != nil {
			t.Fatal(err)
		}
		deadlineFor(t, ctx, "a member", func() bool { return slices.Contains(a.mem.List(), x.ID()) })
	}
	// A key whose three closest members are a and two others, who then leave.
	var key cid.Cid
	var gone []*Node
	for i := 0; len(gone) == 0; i++ {
		key = tasks.ContentID([]byte{byte(i)})
		if h := a.liveView().Holders(key, 3); slices.Contains(h, a.ID()) {
			for _, x := range []*Node{b, c, d} {
				if slices.Contains(h, x.ID()) {
					gone = append(gone, x)
				}
			}
		}
	}
	gone[0].Close()
	deadlineFor(t, ctx, "the first departure noted", func() bool { return len(a.liveView().Away()) == 1 })
	if h := a.liveView().Holders(key, 3); !slices.Contains(h, gone[0].ID()) {
		t.Fatalf("one holder away, two live: it should still count, holders %v", h)
	}
	gone[1].Close()
	deadlineFor(t, ctx, "the second departure noted", func() bool { return len(a.liveView().Away()) == 2 })
	h := a.liveView().Holders(key, 3)
	if slices.Contains(h, gone[0].ID()) || slices.Contains(h, gone[1].ID()) {
		t.Fatalf("two holders away, one live: they must not count, holders %v", h)
	}
	if !tasks.NeedsCopies(3, 1, 2) || tasks.NeedsCopies(3, 2, 1) {
		t.Fatal("the steward's count disagrees")
	}
}

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

// fakePeer is a bare libp2p host on loopback that serves only the given protocols.
func fakePeer(t *testing.T, protos ...string) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	for _, p := range protos {
		h.SetStreamHandler(libp2pproto.ID(p), func(s network.Stream) { s.Reset() })
	}
	return h
}

func TestIncompatiblePeersAreReported(t *testing.T) {
	n := newTestNode(t) // swarm "test"
	newer := fakePeer(t, "/allforone/test/steward/2.0.0")
	same := fakePeer(t, "/allforone/test/steward/1.0.0")
	elsewhere := fakePeer(t, "/allforone/other/steward/1.0.0")
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	self := peer.AddrInfo{ID: n.ID(), Addrs: n.Host().Addrs()}
	for _, h := range []host.Host{newer, same, elsewhere} {
		if err := h.Connect(ctx, self); err != nil {
			t.Fatal(err)
		}
	}

	// Identify runs after the connection: poll until the node knows all three.
	var bad []PeerInfo
	for {
		bad = n.IncompatiblePeers()
		known := 0
		for _, h := range []host.Host{newer, same, elsewhere} {
			if ps, _ := n.Host().Peerstore().GetProtocols(h.ID()); len(ps) > 0 {
				known++
			}
		}
		if len(bad) == 2 && known == 3 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("incompatible peers = %+v after 20s, want the newer one and the other swarm's", bad)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
	byID := map[string]PeerInfo{}
	for _, p := range n.Peers() {
		byID[p.PeerID] = p
	}
	if p := byID[newer.ID().String()]; !p.Incompatible || !strings.Contains(p.IncompatibleReason, "steward/2.0.0") || !strings.Contains(p.IncompatibleReason, "upgrade allforone on this machine") {
		t.Errorf("newer peer in Peers = %+v, want it incompatible with a reason", p)
	}
	if p := byID[same.ID().String()]; p.PeerID == "" || p.Incompatible || p.IncompatibleReason != "" {
		t.Errorf("compatible peer in Peers = %+v, want it listed and compatible", p)
	}
	if p := byID[elsewhere.ID().String()]; !p.Incompatible || !strings.Contains(p.IncompatibleReason, `swarm "other"`) {
		t.Errorf("other swarm's peer in Peers = %+v, want it incompatible", p)
	}
	got := []string{bad[0].PeerID, bad[1].PeerID}
	want := []string{newer.ID().String(), elsewhere.ID().String()}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("IncompatiblePeers = %v, want %v", got, want)
	}
}

// The list in package protocol is what a node really serves: identify advertises each of
// the stream protocols and the DHT's.
func TestNodeServesWhatProtocolSpeaks(t *testing.T) {
	n := newTestNode(t)
	served := n.Host().Mux().Protocols()
	for _, s := range protocol.Speaks(n.Config().Swarm) {
		if s.Kind == protocol.KindTopic {
			continue
		}
		if !slices.Contains(served, libp2pproto.ID(s.ID)) {
			t.Errorf("protocol.Speaks lists %s, but the node does not serve it (it serves %v)", s.ID, served)
		}
	}
}
