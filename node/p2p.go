package node

import (
	"context"
	"fmt"
	"time"

	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	libp2pproto "github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"

	"allforone/node/internal/membership"
	"allforone/node/internal/p2p"
	"allforone/node/internal/store"
	"allforone/protocol"
	"allforone/tasks/placement"
	"allforone/tasks/steward"
)

// startDHT starts the Kademlia DHT under the swarm's own protocol prefix, with its records
// in the node's datastore.
func (n *Node) startDHT() error {
	boot, err := ParseBootstrapPeers(n.cfg.BootstrapPeers)
	if err != nil {
		return err
	}
	n.dht, err = p2p.NewDHT(n.host, p2p.DHTConfig{Swarm: n.cfg.Swarm, Mode: n.cfg.DHTMode,
		Datastore: namespace.Wrap(n.ds, datastore.NewKey(store.DHTNamespace)),
		Bootstrap: boot, Refresh: time.Duration(n.cfg.RoutingRefresh)})
	return err
}

// FindPeer looks a peer up in the swarm's DHT.
func (n *Node) FindPeer(ctx context.Context, id peer.ID) (peer.AddrInfo, error) {
	return n.dht.FindPeer(ctx, id)
}

// RoutingTableSize is the number of peers in the DHT routing table.
func (n *Node) RoutingTableSize() int { return n.dht.RoutingTable().Size() }

// RoutingTablePeers lists the peers in the DHT routing table.
func (n *Node) RoutingTablePeers() []peer.ID { return n.dht.RoutingTable().ListPeers() }

// refreshRoutingTable asks the DHT to refresh its table and waits up to timeout.
func (n *Node) refreshRoutingTable(ctx context.Context, timeout time.Duration) {
	select {
	case err := <-n.dht.RefreshRoutingTable():
		if err != nil {
			n.logs.p2p.Debug("routing table refresh", "err", err)
		}
	case <-time.After(timeout):
	case <-ctx.Done():
	}
}

// startPubsub starts gossipsub with strict signing and joins the swarm's topics. gossipsub
// has no Close: it lives as long as n.ctx.
func (n *Node) startPubsub() error {
	ps, err := p2p.NewGossipSub(n.ctx, n.host, n.cfg.Swarm, n.cfg.GossipHeartbeat, n.gater.IsBlocked)
	if err != nil {
		return err
	}
	n.ps = ps
	n.topics = make(map[string]*pubsub.Topic)
	if err := ps.RegisterTopicValidator(protocol.BatchTopic(n.cfg.Swarm), n.validateAnnouncement); err != nil {
		return err
	}
	for _, name := range protocol.Topics(n.cfg.Swarm) {
		t, err := ps.Join(name)
		if err != nil {
			return fmt.Errorf("join topic %s: %w", name, err)
		}
		n.topics[name] = t
		sub, err := t.Subscribe()
		if err != nil {
			return fmt.Errorf("subscribe to topic %s: %w", name, err)
		}
		n.goLoop("topic "+name, func(ctx context.Context) {
			for {
				m, err := sub.Next(ctx)
				if err != nil {
					return // ctx cancelled: the node is closing
				}
				n.handleMessage(name, m)
			}
		})
	}
	return nil
}

// handleMessage receives every message that passed the topic validators.
func (n *Node) handleMessage(topic string, m *pubsub.Message) {
	if topic == protocol.BatchTopic(n.cfg.Swarm) {
		n.onAnnouncement(m)
	}
}

// TopicPeers lists the peers this node knows to be subscribed to the swarm's batch topic.
func (n *Node) TopicPeers() int {
	t := n.topics[protocol.BatchTopic(n.cfg.Swarm)]
	if t == nil {
		return 0
	}
	return len(t.ListPeers())
}

// Peers leaving matter at once: a primary steward returns a departed worker's leases to
// the pool, and holders restore missing result copies.

// watchPeers registers a notifiee that feeds peer departures to peerLoop.
func (n *Node) watchPeers() {
	n.host.Network().Notify(&network.NotifyBundle{
		DisconnectedF: func(_ network.Network, c network.Conn) {
			select {
			case n.disconnects <- c.RemotePeer():
			case <-n.ctx.Done():
			default:
				n.logs.p2p.Debug("disconnect event dropped: queue full", "peer", shortID(c.RemotePeer()))
			}
		},
		// A new connection changes who is live: the view is rebuilt before the peer's
		// first stream is handled (the swarm notifies before it accepts streams), so a
		// worker that reconnects is never taken for gone and its fresh leases released.
		ConnectedF: func(network.Network, network.Conn) { n.mem.Invalidate() },
		ListenF:    func(network.Network, ma.Multiaddr) {},
	})
}

func (n *Node) peerLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case p := <-n.disconnects:
			if n.live(p) {
				continue // another connection to it remains
			}
			n.peerGone(p)
		}
	}
}

// peerGone handles a peer that has no connection left.
func (n *Node) peerGone(p peer.ID) {
	n.mem.Departed(p)  // away within the grace, in the views built from now on
	n.mem.Invalidate() // roles below must not count p
	n.host.ConnManager().Unprotect(p, "lease")
	// Whoever is primary now (perhaps this node, taking over from p) returns p's leases to
	// the pool: each steward core decides.
	now := n.clock()
	for _, b := range n.listBatches() {
		if l := n.stewardOf(b); l != nil {
			l.post(steward.Left{Peer: p, Now: now})
		}
	}
	n.gone.add(p) // repair.go: ask it again what it holds
	select {
	case n.peerLeft <- p:
	default:
	}
}

// syncLoop asks a connected peer now and then which batches are running, so a node that
// missed an announcement (it joined later, gossip lost it, or it was down) still finds the
// work. Until the first answer it asks every second: a restarted node learns at once what
// it missed meanwhile.
func (n *Node) syncLoop(ctx context.Context) {
	interval := time.Duration(n.cfg.SyncInterval)
	t := time.NewTicker(min(time.Second, interval))
	defer t.Stop()
	synced := false
	for {
		peers := n.host.Network().Peers()
		if len(peers) > 0 {
			if n.syncFrom(ctx, peers[n.rrSync%len(peers)]) && !synced {
				synced = true
				t.Reset(interval)
			}
			n.rrSync++
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// syncFrom adds the batches p lists as running; it reports whether p answered.
func (n *Node) syncFrom(ctx context.Context, p peer.ID) bool {
	if ok, _ := n.host.Peerstore().SupportsProtocols(p, protocol.StewardProtocol(n.cfg.Swarm)); len(ok) == 0 {
		return false
	}
	manifests, err := n.stewardClient.List(ctx, p)
	if err != nil {
		return false
	}
	for _, raw := range manifests {
		if _, _, err := n.addBatch(ctx, raw); err != nil {
			n.logs.batches.Debug("listed batch", "from", shortID(p), "err", err)
		}
	}
	return true
}

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
