package node

import (
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"allforone/node/internal/api"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

func connectNodes(t *testing.T, a, b *Node) {
	t.Helper()
	if err := a.host.Connect(t.Context(), peer.AddrInfo{ID: b.id, Addrs: b.host.Addrs()}); err != nil {
		t.Fatal(err)
	}
}

func TestTestingAPIPartitionAndHeal(t *testing.T) {
	a, b := newTestNode(t), newTestNode(t)
	connectNodes(t, a, b)
	c, err := NewClient(a.cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	got, err := c.Partition(ctx, []string{b.id.String()})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Blocked, []string{b.id.String()}) {
		t.Errorf("blocked %v, want [%s]", got.Blocked, b.id)
	}
	if a.host.Network().Connectedness(b.id) == network.Connected {
		t.Error("still connected after the partition")
	}
	// Neither side can reach the other: a's gater refuses b's dial and a's own.
	if err := b.host.Connect(ctx, peer.AddrInfo{ID: a.id, Addrs: a.host.Addrs()}); err == nil && len(a.host.Network().ConnsToPeer(b.id)) > 0 {
		t.Error("the other side connected through the partition")
	}
	if err := a.host.Connect(ctx, peer.AddrInfo{ID: b.id, Addrs: b.host.Addrs()}); err == nil {
		t.Error("the partitioned node dialled across the partition")
	}
	// A misbehaving peer's timed ban is not the partition's: heal leaves it.
	outsider := newTestNode(t)
	a.Block(outsider.id, time.Hour, "test")
	addrs, _ := peer.AddrInfoToP2pAddrs(&peer.AddrInfo{ID: b.id, Addrs: b.host.Addrs()})
	healed, err := c.Heal(ctx, []string{addrs[0].String()})
	if err != nil {
		t.Fatal(err)
	}
	if len(healed.Blocked) != 0 || !slices.Equal(healed.Connected, []string{b.id.String()}) {
		t.Errorf("after heal: %+v, want nothing blocked and %s dialled back", healed, b.id)
	}
	if a.host.Network().Connectedness(b.id) != network.Connected {
		t.Error("not connected after heal")
	}
	if !a.gater.IsBlocked(outsider.id) {
		t.Error("heal lifted a timed ban")
	}
	// A partition does not shorten a ban either.
	c.Partition(ctx, []string{outsider.id.String()})
	c.Heal(ctx, nil)
	if !a.gater.IsBlocked(outsider.id) {
		t.Error("partition and heal lifted a timed ban")
	}
}

func TestTestingAPISlowHeldAndTasks(t *testing.T) {
	n := newTestNode(t)
	c, err := NewClient(n.cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := c.SetSlow(ctx, 250*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if d := n.taskDelay(); d != 250*time.Millisecond {
		t.Errorf("task delay %s after slow 250ms", d)
	}
	if err := c.Post(ctx, "/api/v1/testing/slow", SlowRequest{DelayMS: -1}, nil); err == nil {
		t.Error("a negative delay was taken")
	}
	const batch = "bafkreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"
	held, err := c.Held(ctx, batch)
	if err != nil || len(held) != 0 {
		t.Errorf("held of an unknown batch: %v, %v", held, err)
	}
	if _, err := c.StewardTasks(ctx, batch); err == nil || !strings.Contains(err.Error(), "no steward state") {
		t.Errorf("steward tasks of an unknown batch: %v", err)
	}
	if err := c.Get(ctx, "/api/v1/testing/held/not-a-cid", nil); err == nil {
		t.Error("a bad batch ID was taken")
	}
}

func TestTestingAPIOnlyInTestnets(t *testing.T) {
	cfg := TestConfig(filepath.Join(t.TempDir(), "n"))
	cfg.TestingAPI = false
	if _, err := Init(cfg, ""); err != nil {
		t.Fatal(err)
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	tok, _ := api.ReadToken(cfg.DataDir)
	for _, path := range []string{"/api/v1/testing/blocked", "/api/v1/testing/held/x"} {
		if code, _, _ := get(t, "http://"+n.APIAddr()+path, tok); code != http.StatusNotFound {
			t.Errorf("GET %s on a volunteer's node: %d, want 404", path, code)
		}
	}
}
