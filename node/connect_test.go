package node

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"allforone/protocol"
	"allforone/tasks"

	"github.com/ipfs/go-cid"
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
