package node

import (
	"context"
	"time"

	"allforone/protocol"
	"allforone/protocol/pb"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

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
				n.log.Debug("disconnect event dropped: queue full", "peer", shortID(c.RemotePeer()))
			}
		},
		ConnectedF: func(network.Network, network.Conn) {},
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
	n.memberCache.invalidate() // roles below must not count p
	n.host.ConnManager().Unprotect(p, "lease")
	n.departed(p)
	for _, b := range n.listBatches() {
		b.mu.Lock()
		st := b.st
		b.mu.Unlock()
		if st == nil {
			continue
		}
		// Whoever is primary now (perhaps this node, taking over from p) returns p's
		// leases to the pool.
		if n.closestLive(b.id, n.stewardCount(b))[0] != n.id {
			continue
		}
		b.mu.Lock()
		back := st.ReleaseWorker(p)
		b.mu.Unlock()
		if len(back) > 0 {
			n.log.Info("leases returned to the pool: worker left", "batch", b.id.String(), "worker", shortID(p), "tasks", len(back))
			n.kickBatch(b)
		}
	}
	select {
	case n.peerLeft <- p:
	default:
	}
}

// syncLoop asks a connected peer now and then which batches are running, so a node that
// missed an announcement (it joined later, or gossip lost it) still finds the work.
func (n *Node) syncLoop(ctx context.Context) {
	interval := time.Duration(n.cfg.SyncInterval)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		peers := n.host.Network().Peers()
		if len(peers) > 0 {
			n.syncFrom(ctx, peers[n.rrSync%len(peers)])
			n.rrSync++
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (n *Node) syncFrom(ctx context.Context, p peer.ID) {
	if ok, _ := n.host.Peerstore().SupportsProtocols(p, protocol.StewardProtocol(n.cfg.Swarm)); len(ok) == 0 {
		return
	}
	var resp pb.StewardResponse
	err := n.request(ctx, p, protocol.StewardProtocol(n.cfg.Swarm), protocol.MaxStewardMessage,
		&pb.StewardRequest{Body: &pb.StewardRequest_List{List: &pb.ListBatches{}}}, &resp)
	if err != nil {
		return
	}
	for _, raw := range resp.GetBatches().GetManifests() {
		if _, _, err := n.addBatch(ctx, raw); err != nil {
			n.log.Debug("listed batch", "from", shortID(p), "err", err)
		}
	}
}
