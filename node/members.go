package node

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/peer"
)

// The live members change only when peers come, go or change protocols, but roles are
// looked up many times a second (per task accepted, per held result in a repair round, per
// batch on every steward tick). So the live members are kept as a view, with each member's
// keyspace position hashed once, and rebuilt when a peer event says they changed (or after
// memberTTL, for what no event announces, such as routing-table changes).

// memberTTL bounds how stale the view of live members may be when no event arrives.
const memberTTL = time.Second

// memberView is a snapshot of members with their keyspace positions. It is never changed
// after it is built, so callers may share it.
type memberView struct {
	peers []peer.ID
	keys  []kb.ID // kb.ConvertPeerID(peers[i])
}

func newMemberView(peers []peer.ID) *memberView {
	v := &memberView{peers: peers, keys: make([]kb.ID, len(peers))}
	for i, p := range peers {
		v.keys[i] = kb.ConvertPeerID(p)
	}
	return v
}

// with returns a view of v's members and extra (those not in v already).
func (v *memberView) with(extra []peer.ID) *memberView {
	out := &memberView{peers: slices.Clone(v.peers), keys: slices.Clone(v.keys)}
	for _, p := range extra {
		if !slices.Contains(out.peers, p) {
			out.peers = append(out.peers, p)
			out.keys = append(out.keys, kb.ConvertPeerID(p))
		}
	}
	return out
}

// closest returns the k members closest to key by XOR distance, nearest first. It keeps
// the best k while it scans (k is small), without sorting or allocating per member: a
// repair round calls it for every result a node holds.
func (v *memberView) closest(key cid.Cid, k int) []peer.ID {
	target := kb.ConvertKey(string(key.Bytes()))
	best := make([]int, 0, k+1)
	for i := range v.peers {
		pos := len(best)
		for pos > 0 && closer(v.keys[i], v.keys[best[pos-1]], target) {
			pos--
		}
		if pos < k {
			best = slices.Insert(best, pos, i)
			best = best[:min(len(best), k)]
		}
	}
	out := make([]peer.ID, len(best))
	for j, i := range best {
		out[j] = v.peers[i]
	}
	return out
}

// closer reports whether a is closer to target than b by XOR distance.
func closer(a, b, target kb.ID) bool {
	for i := range target {
		if da, db := a[i]^target[i], b[i]^target[i]; da != db {
			return da < db
		}
	}
	return false
}

// memberCache holds the current view of live members.
type memberCache struct {
	gen    atomic.Uint64 // bumped when members may have changed
	mu     sync.Mutex
	view   *memberView
	built  uint64 // gen the view was built at
	builtT time.Time
}

// invalidate makes the next lookup rebuild the view.
func (c *memberCache) invalidate() { c.gen.Add(1) }

// liveView returns the live members (never none: see liveMembers) as a view.
func (n *Node) liveView() *memberView {
	c := &n.memberCache
	gen := c.gen.Load()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.view != nil && c.built == gen && time.Since(c.builtT) < memberTTL {
		return c.view
	}
	c.view, c.built, c.builtT = newMemberView(n.computeLiveMembers()), gen, time.Now()
	return c.view
}

// watchMembers invalidates the view of live members on every peer event that may change
// it: a peer connecting or leaving, a peer's protocols known or changed, this node's own
// DHT mode.
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
