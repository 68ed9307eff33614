package node

import (
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"
)

// Per-peer rate limits on what a peer can make this node do. A peer that keeps hitting
// them is blocked for a while.

type limitKind int

const (
	limitRequest      limitKind = iota // any steward or result request
	limitLease                         // lease requests that were granted nothing
	limitBlob                          // blob requests
	limitAnnouncement                  // announcements by one author
	numLimits
)

// rates: sustained rate per second and burst, per kind.
var rates = [numLimits]struct {
	perSecond float64
	burst     int
}{
	limitRequest:      {1000, 2000},
	limitLease:        {10, 20}, // lease requests that got nothing
	limitBlob:         {50, 100},
	limitAnnouncement: {1, 5}, // a missed announcement is found again through ListBatches
}

const (
	// strikesToBlock refused requests, each within strikeMemory of the last, earn a block.
	strikesToBlock = 50
	strikeMemory   = 10 * time.Second
	spamBlockTime  = 10 * time.Minute
	// maxLeasesPerWorker bounds the leases one worker holds in one batch.
	maxLeasesPerWorker = 32
)

type peerLimits struct {
	lim        [numLimits]*rate.Limiter
	strikes    int       // refusals since the first of a burst of them
	lastStrike time.Time // strikes older than strikeMemory are forgotten
	seen       time.Time
}

type limiter struct {
	mu    sync.Mutex
	peers map[peer.ID]*peerLimits
}

// allow reports whether p may make a request of kind now; refusals count as strikes and
// enough strikes block p.
func (n *Node) allow(p peer.ID, kind limitKind) bool {
	if p == n.id {
		return true
	}
	n.limits.mu.Lock()
	pl := n.limits.peers[p]
	if pl == nil {
		if len(n.limits.peers) > 10000 {
			n.forgetIdleLimits()
		}
		pl = &peerLimits{}
		for k, r := range rates {
			pl.lim[k] = rate.NewLimiter(rate.Limit(r.perSecond), r.burst)
		}
		n.limits.peers[p] = pl
	}
	now := time.Now()
	pl.seen = now
	ok := pl.lim[kind].Allow()
	block := false
	if !ok {
		if now.Sub(pl.lastStrike) > strikeMemory {
			pl.strikes = 0
		}
		pl.strikes++
		pl.lastStrike = now
		block = pl.strikes >= strikesToBlock
		if block {
			pl.strikes = 0
		}
	}
	n.limits.mu.Unlock()
	if block {
		n.Block(p, spamBlockTime, "too many requests")
	}
	return ok
}

// forgetIdleLimits drops limiters of peers not seen for a minute. n.limits.mu is held.
func (n *Node) forgetIdleLimits() {
	cut := time.Now().Add(-time.Minute)
	for p, pl := range n.limits.peers {
		if pl.seen.Before(cut) {
			delete(n.limits.peers, p)
		}
	}
}
