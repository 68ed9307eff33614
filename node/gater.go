package node

import (
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// gater refuses connections to and from blocked peers. The blocklist keeps misbehaving peers
// out for a while, and testnets use it to cut the swarm into partitions without root.
type gater struct {
	mu      sync.Mutex
	blocked map[peer.ID]time.Time // peer -> until (zero: until unblocked)
	now     func() time.Time
}

func newGater() *gater {
	return &gater{blocked: make(map[peer.ID]time.Time), now: time.Now}
}

// block keeps p out until the given time; the zero time means until unblock.
func (g *gater) block(p peer.ID, until time.Time) {
	g.mu.Lock()
	g.blocked[p] = until
	g.mu.Unlock()
}

func (g *gater) unblock(p peer.ID) {
	g.mu.Lock()
	delete(g.blocked, p)
	g.mu.Unlock()
}

// isBlocked reports whether p is blocked now, forgetting expired entries.
func (g *gater) isBlocked(p peer.ID) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	until, ok := g.blocked[p]
	if !ok {
		return false
	}
	if !until.IsZero() && g.now().After(until) {
		delete(g.blocked, p)
		return false
	}
	return true
}

// list returns the blocked peers and when each block ends (zero: no end).
func (g *gater) list() map[peer.ID]time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make(map[peer.ID]time.Time, len(g.blocked))
	now := g.now()
	for p, until := range g.blocked {
		if until.IsZero() || now.Before(until) {
			out[p] = until
		}
	}
	return out
}

func (g *gater) InterceptPeerDial(p peer.ID) bool                 { return !g.isBlocked(p) }
func (g *gater) InterceptAddrDial(p peer.ID, _ ma.Multiaddr) bool { return !g.isBlocked(p) }
func (g *gater) InterceptAccept(network.ConnMultiaddrs) bool      { return true }
func (g *gater) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return !g.isBlocked(p)
}
func (g *gater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }
