package node

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"allforone/protocol"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	libp2pproto "github.com/libp2p/go-libp2p/core/protocol"
)

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
