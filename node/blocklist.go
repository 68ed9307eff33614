package node

import (
	"sort"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// The blocklist keeps peers that lied or spammed out for a while: the connection gater
// refuses them and existing connections are closed. It is visible in the API
// (GET /api/v1/blocklist).

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
