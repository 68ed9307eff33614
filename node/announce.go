package node

import (
	"context"
	"time"

	"allforone/node/internal/p2p"
	"allforone/protocol"
	"allforone/tasks"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
)

// maxClockSkew bounds how far in the future an announced batch may say it was created.
const maxClockSkew = protocol.MaxClockSkew

// validateAnnouncement is the batch topic's validator: it rejects what is oversized,
// malformed, unsigned or for another swarm (gossipsub counts it against the forwarder), and
// ignores what is stale or was announced before (not forwarded, no penalty).
func (n *Node) validateAnnouncement(ctx context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	a, err := protocol.ValidateAnnouncement(msg.Data)
	if err != nil {
		n.logs.batches.Debug("rejected announcement", "from", shortID(from), "err", err)
		return pubsub.ValidationReject
	}
	if author := msg.GetFrom(); !n.allow(author, p2p.LimitAnnouncement) {
		return pubsub.ValidationIgnore // a flood from one author: not forwarded
	}
	m, id, err := tasks.ParseManifest(a.GetManifest(), n.cfg.Swarm)
	if err != nil {
		n.logs.batches.Debug("rejected announcement", "from", shortID(from), "err", err)
		return pubsub.ValidationReject
	}
	now := time.Now()
	if !now.Before(m.Deadline) || m.CreatedAt.After(now.Add(maxClockSkew)) {
		return pubsub.ValidationIgnore // a replay of an old batch, or a clock far off
	}
	// Forward a batch's announcement once: nodes that learned the batch otherwise (its
	// stewards, through Adopt) still pass it on, and a replay of it is dropped.
	n.announcedMu.Lock()
	defer n.announcedMu.Unlock()
	if n.announced[id.KeyString()] {
		return pubsub.ValidationIgnore
	}
	n.announced[id.KeyString()] = true
	return pubsub.ValidationAccept
}

// onAnnouncement registers an announced batch.
func (n *Node) onAnnouncement(m *pubsub.Message) {
	a, err := protocol.ValidateAnnouncement(m.Data)
	if err != nil {
		return
	}
	if _, _, err := n.addBatch(n.ctx, a.GetManifest()); err != nil {
		n.logs.batches.Debug("announcement", "err", err)
	}
}
