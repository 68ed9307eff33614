package p2p

import (
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"
)

// Per-peer rate limits on what a peer can make this node do. A peer that keeps hitting
// them earns a block (the node's Block keeps it out for SpamBlockTime).

// LimitKind is a kind of request that is rate limited on its own.
type LimitKind int

// The kinds of limited requests.
const (
	LimitRequest      LimitKind = iota // any steward or result request
	LimitLease                         // lease requests that were granted nothing
	LimitBlob                          // blob requests
	LimitAnnouncement                  // announcements by one author
	numLimits
)

// rates: sustained rate per second and burst, per kind.
var rates = [numLimits]struct {
	perSecond float64
	burst     int
}{
	LimitRequest:      {1000, 2000},
	LimitLease:        {10, 20}, // lease requests that got nothing
	LimitBlob:         {50, 100},
	LimitAnnouncement: {1, 5}, // a missed announcement is found again through ListBatches
}

const (
	// strikesToBlock refused requests, each within strikeMemory of the last, earn a block.
	strikesToBlock = 50
	strikeMemory   = 10 * time.Second
	// SpamBlockTime is how long a peer that struck out is blocked.
	SpamBlockTime = 10 * time.Minute
)

type peerLimits struct {
	lim        [numLimits]*rate.Limiter
	strikes    int       // refusals since the first of a burst of them
	lastStrike time.Time // strikes older than strikeMemory are forgotten
	seen       time.Time
}

// Limiter keeps the per-peer rate limits. Its methods are safe for concurrent use.
type Limiter struct {
	mu    sync.Mutex
	peers map[peer.ID]*peerLimits
}

// NewLimiter returns a limiter that has seen no peer.
func NewLimiter() *Limiter { return &Limiter{peers: make(map[peer.ID]*peerLimits)} }

// Allow reports whether p may make a request of kind now. Refusals count as strikes, and
// block reports that p struck out: its owner should block it (for SpamBlockTime).
func (l *Limiter) Allow(p peer.ID, kind LimitKind) (ok, block bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	pl := l.peers[p]
	if pl == nil {
		if len(l.peers) > 10000 {
			l.forgetIdle()
		}
		pl = &peerLimits{}
		for k, r := range rates {
			pl.lim[k] = rate.NewLimiter(rate.Limit(r.perSecond), r.burst)
		}
		l.peers[p] = pl
	}
	now := time.Now()
	pl.seen = now
	ok = pl.lim[kind].Allow()
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
	return ok, block
}

// forgetIdle drops limiters of peers not seen for a minute. l.mu is held.
func (l *Limiter) forgetIdle() {
	cut := time.Now().Add(-time.Minute)
	for p, pl := range l.peers {
		if pl.seen.Before(cut) {
			delete(l.peers, p)
		}
	}
}
