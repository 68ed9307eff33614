package node

import (
	"context"
	"time"

	"allforone/protocol"
	"allforone/tasks"
	"allforone/tasks/steward"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Why a batch cannot progress. Its primary steward decides it (tasks/steward: from the
// swarm peers it sees, the workers that decline the batch and the peers it refuses) and
// says so in status and in its lease grants. This file is the worker's side: a node that
// cannot run a batch (a task needs more memory than max_task_memory_mb allows) tells its
// steward so, and a submitter says at once when the batch it submits cannot progress with
// the peers it sees.

// declineInterval is how often a worker tells a batch's steward again that it declines it.
const declineInterval = steward.DeclineInterval

// WaitReason is one reason a batch cannot progress with the peers its steward sees.
type WaitReason = steward.WaitReason

// swarmPeers are this node and the peers connected to it that serve the steward protocol:
// the peers that can take a batch's tasks from this node.
func (n *Node) swarmPeers() []peer.ID {
	out := []peer.ID{n.id}
	sp := protocol.StewardProtocol(n.cfg.Swarm)
	for _, p := range n.host.Network().Peers() {
		if ok, _ := n.host.Peerstore().SupportsProtocols(p, sp); len(ok) == 1 {
			out = append(out, p)
		}
	}
	return out
}

// submitWaiting is why a batch this node submits cannot progress with the peers it sees:
// all it knows of other peers is that they are there (and may run it), of itself whether its
// memory cap allows the batch.
func (n *Node) submitWaiting(m *tasks.Manifest) []WaitReason {
	f := steward.WaitFacts{R: int(m.Redundancy), MaxReplicas: int(max(m.MaxReplicas, m.Redundancy)),
		MemoryMiB: int(m.Limits.MemoryBytes() >> 20), Peers: len(n.swarmPeers())}
	if !n.fitsMemory(m.Limits.MemoryPages) {
		f.Declined, f.MostMiB = 1, n.cfg.MaxTaskMemoryMB
	}
	return steward.DecideWaiting(f)
}

// declineLoop tells the stewards of the batches this node cannot run (a task needs more
// memory than max_task_memory_mb allows) that it declines them, at once and then every
// declineInterval while they run, so their stewards can say why nobody runs them.
func (n *Node) declineLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		now := time.Now()
		for _, b := range n.listBatches() {
			stewardDone := n.stewardDone(b)
			b.mu.Lock()
			due := !b.workDone && now.Before(b.m.Deadline) && !stewardDone &&
				!n.fitsMemory(b.m.Limits.MemoryPages) && !now.Before(b.declineAt)
			if due {
				b.declineAt = now.Add(declineInterval)
			}
			b.mu.Unlock()
			if due && ctx.Err() == nil {
				n.decline(ctx, b)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// decline sends b's steward a lease request for nothing with this node's memory cap.
func (n *Node) decline(ctx context.Context, b *batch) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, g, err := n.requestLeasesWith(ctx, b, 0, false)
	if err != nil {
		n.logs.worker.Debug("decline batch", "batch", b.id.String(), "err", err)
		return
	}
	b.mu.Lock()
	b.waitingLine, b.waitingLineAt = g.GetWaiting(), time.Now()
	if g.GetDone() {
		b.workDone = true
	}
	b.mu.Unlock()
}
