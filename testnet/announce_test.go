package testnet

import (
	"testing"
	"time"

	"allforone/protocol"
	"allforone/protocol/pb"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"
)

// An outsider that speaks gossipsub publishes garbage and a forged announcement on the
// swarm's batch topic: no node takes them, and a real announcement still arrives.
func TestBadAnnouncementsAreDropped(t *testing.T) {
	c := startCluster(t, ClusterConfig{N: 3})
	ctx := deadline(t, 60*time.Second)
	if err := c.WaitAllKnown(ctx); err != nil {
		t.Fatal(err)
	}
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ps, err := pubsub.NewGossipSub(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	topic, err := ps.Join(protocol.BatchTopic("test"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Nodes() {
		if err := h.Connect(ctx, peer.AddrInfo{ID: n.ID(), Addrs: n.Host().Addrs()}); err != nil {
			t.Fatal(err)
		}
	}
	if err := WaitFor(ctx, "the outsider to see topic peers", func() bool { return len(topic.ListPeers()) >= 3 }); err != nil {
		t.Fatal(err)
	}
	forged, _ := proto.Marshal(&pb.Announcement{Manifest: []byte("not a manifest")})
	for _, data := range [][]byte{[]byte("garbage"), forged, make([]byte, 100<<10)} {
		if err := topic.Publish(ctx, data); err != nil {
			t.Fatal(err)
		}
	}
	// A real batch from a member is announced and reaches every node.
	res, err := c.Node(0).Submit(ctx, echoBatch(3, 1, 1))
	if err != nil {
		t.Fatal(err)
	}
	if err := WaitFor(ctx, "the real announcement everywhere", func() bool {
		for _, n := range c.Nodes() {
			if len(n.Batches()) != 1 || n.Batches()[0].BatchID != res.BatchID {
				return false
			}
		}
		return true
	}); err != nil {
		for _, n := range c.Nodes() {
			t.Logf("%s knows %v", n.ID(), n.Batches())
		}
		t.Fatal(err)
	}
}
