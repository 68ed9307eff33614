package node

import (
	"context"
	"time"

	"allforone/protocol"
	"allforone/tasks/steward"

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
