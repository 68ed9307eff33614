package node

import (
	"context"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	libp2pproto "github.com/libp2p/go-libp2p/core/protocol"

	"allforone/node/internal/membership"
	"allforone/protocol"
	"allforone/tasks/placement"
)

// What this node knows of the swarm's members is package membership's (the view that every
// role rule of tasks/placement reads); this file gives it the host and the DHT to read and
// tells it when peer events may have changed it.

// memberNet is the membership's membership.Network: the node's host and DHT.
type memberNet struct{ n *Node }

func (m memberNet) ServesDHT() bool         { return m.n.ServesDHT() }
func (m memberNet) RoutingPeers() []peer.ID { return m.n.dht.RoutingTable().ListPeers() }
func (m memberNet) Peers() []peer.ID        { return m.n.host.Network().Peers() }

func (m memberNet) Connected() []peer.ID {
	var out []peer.ID
	for _, p := range m.n.host.Network().Peers() {
		if m.IsConnected(p) {
			out = append(out, p)
		}
	}
	return out
}

func (m memberNet) IsConnected(p peer.ID) bool {
	return m.n.host.Network().Connectedness(p) == network.Connected
}

func (m memberNet) Speaks(p peer.ID, protos ...libp2pproto.ID) bool {
	ok, _ := m.n.host.Peerstore().SupportsProtocols(p, protos...)
	return len(ok) == len(protos)
}

// newMembers makes the node's membership; it reads the host and the DHT once they run.
func (n *Node) newMembers() *membership.Members {
	return membership.New(membership.Config{Self: n.id, Steward: protocol.StewardProtocol(n.cfg.Swarm),
		Kad: n.kadProtocol(), Grace: time.Duration(n.cfg.RepairGrace)}, memberNet{n})
}

// liveView returns the current view of the swarm (membership.Members.View).
func (n *Node) liveView() *placement.View { return n.mem.View() }

// live reports whether p is this node or connected to it.
func (n *Node) live(p peer.ID) bool { return n.mem.Live(p) }

// watchMembers invalidates the view on every peer event that may change it: a peer
// connecting or leaving, a peer's protocols known or changed, this node's own DHT mode.
func (n *Node) watchMembers() error {
	sub, err := n.host.EventBus().Subscribe([]any{
		new(event.EvtPeerConnectednessChanged), new(event.EvtPeerProtocolsUpdated),
		new(event.EvtPeerIdentificationCompleted), new(event.EvtLocalProtocolsUpdated),
	})
	if err != nil {
		return err
	}
	n.goLoop("members", func(ctx context.Context) {
		defer sub.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case _, open := <-sub.Out():
				if !open {
					return
				}
				n.mem.Invalidate()
			}
		}
	})
	return nil
}

// stewardCount is how many stewards b has: K, its replication.
func (n *Node) stewardCount(b *batch) int { return int(max(b.m.Replication, 1)) }

// stewardsOf are b's stewards in this node's view, its primary first.
func (n *Node) stewardsOf(b *batch) []peer.ID { return n.liveView().Stewards(b.id, n.stewardCount(b)) }
