// Package p2p builds the node's libp2p side from values: the host (host.go), its
// connection gater (gater.go) and gossipsub's peer scoring (scoring.go). It knows nothing
// of batches or results; the node wires it in.
package p2p

import (
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Gater is the host's connection gater: it refuses connections to and from blocked peers.
// The blocklist keeps misbehaving peers out for a while, and testnets use it to cut the
// swarm into partitions without root. Its methods are safe for concurrent use.
type Gater struct {
	mu      sync.Mutex
	blocked map[peer.ID]time.Time // peer -> until (zero: until unblocked)
	reasons map[peer.ID]string    // why, for the blocklist; kept after a block ends
	now     func() time.Time
}

// NewGater returns a gater that blocks nobody.
func NewGater() *Gater {
	return &Gater{blocked: make(map[peer.ID]time.Time), reasons: make(map[peer.ID]string), now: time.Now}
}

// Block keeps p out until the given time; the zero time means until Unblock. A reason,
// if given, is what the blocklist says.
func (g *Gater) Block(p peer.ID, until time.Time, reason string) {
	g.mu.Lock()
	g.blocked[p] = until
	if reason != "" {
		g.reasons[p] = reason
	}
	g.mu.Unlock()
}

// Unblock lets p in again.
func (g *Gater) Unblock(p peer.ID) {
	g.mu.Lock()
	delete(g.blocked, p)
	g.mu.Unlock()
}

// Reason is why p was last blocked with a reason ("" if never).
func (g *Gater) Reason(p peer.ID) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.reasons[p]
}

// IsBlocked reports whether p is blocked now, forgetting expired entries.
func (g *Gater) IsBlocked(p peer.ID) bool {
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

// List returns the blocked peers and when each block ends (zero: no end).
func (g *Gater) List() map[peer.ID]time.Time {
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

// InterceptPeerDial, InterceptAddrDial, InterceptAccept, InterceptSecured and
// InterceptUpgraded make Gater a libp2p connmgr.ConnectionGater.
func (g *Gater) InterceptPeerDial(p peer.ID) bool                 { return !g.IsBlocked(p) }
func (g *Gater) InterceptAddrDial(p peer.ID, _ ma.Multiaddr) bool { return !g.IsBlocked(p) }
func (g *Gater) InterceptAccept(network.ConnMultiaddrs) bool      { return true }
func (g *Gater) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return !g.IsBlocked(p)
}
func (g *Gater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }
