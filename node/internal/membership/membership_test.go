package membership

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	libp2pproto "github.com/libp2p/go-libp2p/core/protocol"

	"allforone/tasks"
)

const (
	stewardProto = libp2pproto.ID("/allforone/t/steward/1.0.0")
	kadProto     = libp2pproto.ID("/allforone/t/kad/1.0.0")
)

// fakeNet is a Network of peers that this test connects and disconnects by hand.
type fakeNet struct {
	mu        sync.Mutex
	serves    bool
	routing   []peer.ID
	connected map[peer.ID]bool
	relayed   map[peer.ID]bool // connected through a relay only
	speaks    map[peer.ID][]libp2pproto.ID
}

func (f *fakeNet) ServesDHT() bool { return f.serves }
func (f *fakeNet) RoutingPeers() []peer.ID {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.routing)
}
func (f *fakeNet) Peers() []peer.ID {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []peer.ID
	for p := range f.connected {
		out = append(out, p)
	}
	for p := range f.relayed {
		out = append(out, p)
	}
	return out
}
func (f *fakeNet) Connected() []peer.ID {
	var out []peer.ID
	for _, p := range f.Peers() {
		if f.IsConnected(p) {
			out = append(out, p)
		}
	}
	return out
}
func (f *fakeNet) IsConnected(p peer.ID) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.connected[p]
}
func (f *fakeNet) Speaks(p peer.ID, protos ...libp2pproto.ID) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, want := range protos {
		if !slices.Contains(f.speaks[p], want) {
			return false
		}
	}
	return true
}

func (f *fakeNet) disconnect(p peer.ID) {
	f.mu.Lock()
	delete(f.connected, p)
	f.mu.Unlock()
}

func newPeer(t *testing.T) peer.ID {
	t.Helper()
	_, pub, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// clock is a fake time source the test moves.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func setup(t *testing.T, grace time.Duration) (*Members, *fakeNet, *clock, peer.ID, []peer.ID) {
	self := newPeer(t)
	net := &fakeNet{serves: true, connected: map[peer.ID]bool{}, relayed: map[peer.ID]bool{}, speaks: map[peer.ID][]libp2pproto.ID{}}
	var others []peer.ID
	for range 3 {
		p := newPeer(t)
		others = append(others, p)
		net.connected[p] = true
		net.speaks[p] = []libp2pproto.ID{stewardProto, kadProto}
	}
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	m := New(Config{Self: self, Steward: stewardProto, Kad: kadProto, Grace: grace, Now: c.now}, net)
	return m, net, c, self, others
}

// Members are this node (while it serves the DHT), connected peers that serve both the
// steward protocol and the DHT, and routing-table peers that serve the steward protocol;
// a peer that does not serve the steward protocol takes no role.
func TestMembersAreTheSwarmPeersThatServe(t *testing.T) {
	m, net, _, self, others := setup(t, 0)
	dhtOnly, routed := newPeer(t), newPeer(t)
	net.connected[dhtOnly] = true
	net.speaks[dhtOnly] = []libp2pproto.ID{kadProto}
	net.routing = []peer.ID{routed, dhtOnly}
	net.speaks[routed] = []libp2pproto.ID{stewardProto}
	got := m.List()
	for _, want := range append([]peer.ID{self, routed}, others...) {
		if !slices.Contains(got, want) {
			t.Errorf("members %v lack %s", got, want)
		}
	}
	if slices.Contains(got, dhtOnly) {
		t.Error("a peer without the steward protocol is a member")
	}
	net.serves = false
	if slices.Contains(m.List(), self) {
		t.Error("a node that does not serve the DHT counts itself")
	}
}

// A member that leaves is away in the views for the grace and then gone; the view is
// rebuilt on Invalidate and after TTL, and kept otherwise.
func TestADepartedMemberIsAwayForTheGrace(t *testing.T) {
	m, net, c, _, others := setup(t, 10*time.Second)
	gone := others[0]
	v := m.View()
	if m.View() != v {
		t.Fatal("the view was rebuilt with nothing changed")
	}
	net.disconnect(gone)
	m.Departed(gone)
	m.Invalidate()
	v = m.View()
	if !slices.Contains(v.Away(), gone) || m.Live(gone) {
		t.Fatalf("just after it left: away %v, live %v; want it away and not live", v.Away(), m.Live(gone))
	}
	c.t = c.t.Add(9 * time.Second) // past TTL, within the grace
	if v2 := m.View(); v2 == v || !slices.Contains(v2.Away(), gone) {
		t.Fatalf("within the grace: rebuilt %v, away %v; want a new view with it away", v2 != v, v2.Away())
	}
	c.t = c.t.Add(2 * time.Second) // past the grace
	if away := m.View().Away(); slices.Contains(away, gone) {
		t.Fatalf("after the grace it is still away: %v", away)
	}
}

// Without a grace a departed member is not away, and a peer that held no role is not
// noted at all.
func TestDeparturesWithoutARole(t *testing.T) {
	m, net, _, _, others := setup(t, 0)
	net.disconnect(others[0])
	m.Departed(others[0])
	m.Invalidate()
	if away := m.View().Away(); len(away) != 0 {
		t.Fatalf("no grace, but away: %v", away)
	}
	m, net, _, _, _ = setup(t, time.Minute)
	stranger := newPeer(t)
	m.Departed(stranger)
	m.Invalidate()
	if away := m.View().Away(); len(away) != 0 {
		t.Fatalf("a peer that held no role is away: %v", away)
	}
	if slices.Contains(m.View().KnownClosest(cid.Cid{}, 10), stranger) {
		t.Fatal("a peer that held no role is a known member")
	}
}

// A member that left stays known, gone, for Remember once no list names it any more (its
// last connection closed and the routing table dropped it), with no grace too: a node that
// never built a view while it was gone-but-listed still sees that it is gone.
func TestADepartedMemberIsKnownGone(t *testing.T) {
	m, net, c, _, others := setup(t, 0)
	gone := others[0]
	net.disconnect(gone)
	m.Departed(gone)
	net.speaks[gone] = nil // the peerstore forgot it too
	m.Invalidate()
	v := m.View()
	if !slices.Contains(v.KnownClosest(cid.Cid{}, 10), gone) || v.State(gone) != tasks.HolderGone {
		t.Fatalf("just after it left: known %v, state %v; want it known and gone", v.KnownClosest(cid.Cid{}, 10), v.State(gone))
	}
	c.t = c.t.Add(Remember)
	if v := m.View(); slices.Contains(v.KnownClosest(cid.Cid{}, 10), gone) {
		t.Fatal("a member that left is still known after Remember")
	}
}
