package node

import (
	"context"
	"time"

	"allforone/tasks/steward"

	"github.com/libp2p/go-libp2p/core/peer"
)

// A graceful stop (SIGTERM, or Close on a running node) leaves nothing behind: the node
// stops taking leases, lets its running tasks finish for half of the shutdown budget and
// hands the rest back (the steward re-grants them at once), delivers the results it has,
// gives its steward state to the next stewards, and makes sure every result it holds has
// K copies on other peers. Then Close stops everything; the whole takes at most
// Config.ShutdownTimeout.

// drain runs the graceful part of Close.
func (n *Node) drain() {
	start := time.Now()
	budget := time.Duration(n.cfg.ShutdownTimeout)
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	n.draining.Store(true)
	n.wakeWorker()

	// Running tasks: finish if they can, else go back to the pool.
	running := len(n.slots)
	n.waitUntil(ctx, budget/2, func() bool { return len(n.slots) == 0 })
	n.workCancel()
	n.waitUntil(ctx, budget, func() bool { return len(n.slots) == 0 })
	// Finished work reaches its steward.
	n.waitUntil(ctx, budget, func() bool {
		for _, b := range n.listBatches() {
			b.mu.Lock()
			busy := b.sending || len(b.completions) > 0
			b.mu.Unlock()
			if busy {
				return false
			}
		}
		return true
	})
	// Steward roles: the next stewards get a full, current copy.
	handed := 0
	for _, b := range n.listBatches() {
		if l := n.stewardOf(b); l != nil && l.primary.Load() && ctx.Err() == nil {
			// Copies to every other steward, the pending stores, and the answer once done.
			if _, err := l.call(ctx, func(_ time.Time, r steward.ReqID) steward.Input { return steward.HandOff{Req: r} }); err == nil {
				handed++
			}
		}
	}
	// Results held here: K copies elsewhere, or this node keeps them (on disk) anyway.
	copies := n.handOffResults(ctx)
	n.logs.node.Info("graceful stop", "tasks_running", running, "steward_roles_handed_over", handed,
		"result_copies_made", copies, "seconds", time.Since(start).Seconds())
}

// waitUntil polls cond every 20ms for at most d (and until ctx ends).
func (n *Node) waitUntil(ctx context.Context, d time.Duration, cond func() bool) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// handOffResults gives every result this node holds to the K closest live peers other than
// itself that lack it (placement's HandOffTargets), and returns how many copies it made.
func (n *Node) handOffResults(ctx context.Context) int {
	made, _ := n.pushHeld(ctx, make(map[peer.ID]map[string]bool), n.liveView(), true)
	return made
}
