package node

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"allforone/protocol"
	"allforone/tasks/placement"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// The live members change only when peers come, go or change protocols, but roles are
// looked up many times a second (per lease request, per held result in a repair round, per
// batch on every steward tick). So what this node knows of the swarm is kept as a
// placement.View, with each member's keyspace position hashed once, and rebuilt when a peer
// event says it changed (or after memberTTL, for what no event announces, such as
// routing-table changes and the end of a departed member's repair grace). Every role rule
// is a method of the view (tasks/placement).

// memberTTL bounds how stale the view may be when no event arrives.
const memberTTL = time.Second

// memberCache holds the current view. Lock order: memberCache.mu, then Node.departMu (the
// view is built with mu held and reads the departures); nothing takes mu under departMu.
type memberCache struct {
	gen    atomic.Uint64 // bumped when members may have changed
	mu     sync.Mutex
	view   *placement.View
	built  uint64 // gen the view was built at
	builtT time.Time
}

// invalidate makes the next lookup rebuild the view.
func (c *memberCache) invalidate() { c.gen.Add(1) }

// liveView returns the current view of the swarm. It is never changed once built: callers
// may keep it and share it.
func (n *Node) liveView() *placement.View {
	c := &n.memberCache
	gen := c.gen.Load()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.view != nil && c.built == gen && time.Since(c.builtT) < memberTTL {
		return c.view
	}
	c.view, c.built, c.builtT = n.buildView(time.Now()), gen, time.Now()
	return c.view
}

// buildView gathers what the view is made of: the members, the connected peers, the
// swarm peers that serve the steward protocol, and the members that left (keyspace.go).
func (n *Node) buildView(now time.Time) *placement.View {
	cfg := placement.Config{Self: n.id, At: now, Members: n.members(), Grace: time.Duration(n.cfg.RepairGrace),
		Departed: n.departures()}
	sp := protocol.StewardProtocol(n.cfg.Swarm)
	for _, p := range n.host.Network().Peers() {
		if n.host.Network().Connectedness(p) != network.Connected {
			continue
		}
		cfg.Connected = append(cfg.Connected, p)
		if ok, _ := n.host.Peerstore().SupportsProtocols(p, sp); len(ok) == 1 {
			cfg.Swarm = append(cfg.Swarm, p)
		}
	}
	return placement.New(cfg)
}

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
				n.memberCache.invalidate()
			}
		}
	})
	return nil
}

// stewardsOf are b's stewards in this node's view, its primary first.
func (n *Node) stewardsOf(b *batch) []peer.ID { return n.liveView().Stewards(b.id, n.stewardCount(b)) }
