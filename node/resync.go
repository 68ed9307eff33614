package node

import (
	"context"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// After a loss (durable.go) the node fetches again what its peers hold. It cannot know
// what it lost exactly, so it asks: the running batches from several peers (not one a
// minute as syncLoop does), then, for every batch it is a steward of, the state the other
// stewards keep. The results it held come back from their other holders: a restarted node
// has left and come back, so their repair rounds ask it again what it holds (repair.go).

const (
	// resyncPeers is how many peers a node that lost data asks for the running batches.
	resyncPeers = 3
	// resyncFor bounds how long it keeps looking for peers to ask.
	resyncFor = 10 * time.Minute
)

// resync runs once after a start that found data lost.
func (n *Node) resync(nodeCtx context.Context) {
	ctx, cancel := context.WithTimeout(nodeCtx, resyncFor)
	defer cancel()
	asked := make(map[peer.ID]bool)
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		peers := n.host.Network().Peers()
		for _, p := range peers {
			if len(asked) >= resyncPeers {
				break
			}
			if !asked[p] && n.syncFrom(ctx, p) {
				asked[p] = true
			}
		}
		if len(asked) >= min(resyncPeers, max(len(peers), 1)) {
			break
		}
		select {
		case <-ctx.Done():
			if nodeCtx.Err() == nil {
				n.logs.store.Warn("resync after data loss: not enough peers answered", "asked", len(asked), "within", resyncFor)
			}
			return
		case <-t.C:
		}
	}
	pulled := 0
	for _, b := range n.listBatches() {
		stewards := n.stewardsOf(b)
		if !slices.Contains(stewards, n.id) || len(stewards) < 2 {
			continue
		}
		l, err := n.becomeSteward(ctx, b)
		if err != nil {
			n.logs.store.Warn("resync steward state", "batch", b.id.String(), "err", err)
			continue
		}
		others := slices.DeleteFunc(slices.Clone(stewards), func(p peer.ID) bool { return p == n.id })
		n.pullInto(ctx, l, others)
		pulled++
	}
	n.durable.lossMu.Lock()
	if n.durable.loss != nil {
		n.durable.loss.Resynced = true
	}
	n.durable.lossMu.Unlock()
	c := n.storeCounts()
	n.logs.store.Info("resync after data loss done", "peers_asked", len(asked), "steward_states_pulled", pulled,
		"batches", c.Batches, "steward_roles", c.StewardOf, "results", c.Results)
}
