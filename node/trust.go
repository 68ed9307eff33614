package node

import (
	"context"
	"slices"
	"sort"
	"time"

	"allforone/node/internal/p2p"
	"allforone/tasks/steward"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Peers this node distrusts and blocks. The trust records are package trust's
// (node/internal/trust; the rule is tasks/steward's, the cores give the verdicts); here a
// peer that keeps lying is cut off: blocked for a while, after it heard why. The blocklist
// keeps peers that lied or spammed out for a while: the connection gater refuses them and
// existing connections are closed. It is visible in the API (GET /api/v1/blocklist).

const (
	// liarBlockTime is how long a liar is kept out.
	liarBlockTime = time.Hour
	// distrustedBlockAfter is how long after it is found out a liar is blocked, if it does
	// not ask for leases first (and hear why it gets none).
	distrustedBlockAfter = 10 * time.Second
)

// TrustRecord is one peer's record (the rule is in tasks/steward).
type TrustRecord = steward.TrustRecord

// blockLater blocks a liar after d (see caughtLying).
func (n *Node) blockLater(p peer.ID, d time.Duration) {
	n.goLoop("block", func(ctx context.Context) {
		select {
		case <-ctx.Done():
		case <-time.After(d):
			n.Block(p, liarBlockTime, "wrong results")
		}
	})
}

// TrustRecords lists this node's trust records.
func (n *Node) TrustRecords() []TrustRecord { return n.trust.List() }

// caughtLying handles peers whose result disagreed with an accepted one: the tasks they ran
// alone are checked again in every batch this node is primary of (the cores decide), and a
// peer that keeps lying is cut off.
func (n *Node) caughtLying(liars []peer.ID) {
	if len(liars) == 0 {
		return
	}
	liars = slices.Compact(slices.Sorted(slices.Values(liars)))
	n.goLoop("reverify", func(context.Context) {
		for _, b := range n.listBatches() {
			if l := n.stewardOf(b); l != nil {
				for _, p := range liars {
					l.post(steward.Reverify{Peer: p})
				}
			}
		}
	})
	for _, p := range liars {
		if n.trust.Distrusted(p) {
			n.logs.trust.Warn("peer distrusted: its results keep disagreeing with the quorum", "peer", p.String())
			// Its next lease request hears why (LeaseGrant.refused) before the block; one
			// that does not ask is cut off a little later.
			n.blockLater(p, distrustedBlockAfter)
		}
	}
}

// BlockedPeer is one entry of the blocklist.
type BlockedPeer struct {
	PeerID string    `json:"peer_id"`
	Reason string    `json:"reason"`
	Until  time.Time `json:"until"`
}

// Block keeps p out for d and disconnects it.
func (n *Node) Block(p peer.ID, d time.Duration, reason string) {
	if p == n.id {
		return
	}
	until := time.Now().Add(d)
	n.gater.Block(p, until, reason)
	if n.host != nil {
		n.host.Network().ClosePeer(p)
	}
	n.logs.trust.Warn("peer blocked", "peer", p.String(), "reason", reason, "until", until.Format(time.RFC3339))
}

// Blocklist lists the peers kept out now.
func (n *Node) Blocklist() []BlockedPeer {
	out := []BlockedPeer{}
	for p, until := range n.gater.List() {
		out = append(out, BlockedPeer{PeerID: p.String(), Reason: n.gater.Reason(p), Until: until})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PeerID < out[j].PeerID })
	return out
}

// allow reports whether p may make a request of kind now (p2p.Limiter); a peer that keeps
// hitting the limits is blocked.
func (n *Node) allow(p peer.ID, kind p2p.LimitKind) bool {
	if p == n.id {
		return true
	}
	ok, block := n.limits.Allow(p, kind)
	if block {
		n.Block(p, p2p.SpamBlockTime, "too many requests")
	}
	return ok
}
