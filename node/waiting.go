package node

import (
	"context"
	"fmt"
	"time"

	"allforone/protocol"
	"allforone/tasks"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Why a batch cannot progress. The primary steward sees the swarm peers it is connected to,
// hears which of them ask for the batch's tasks and which decline it (their memory cap is
// below the batch's limit, said in LeaseRequest.memory_mb), and knows whom it refuses. From
// that it says, in status, the dashboard and its lease grants (the workers' why), when no
// task can be decided with the peers there are, and what to change. It never refuses or
// fails the batch for it: peers may still join. A peer it has not heard from counts as able,
// so the reasons are certain for the peers there are.

const (
	// declineInterval is how often a worker tells a batch's steward again that it cannot
	// run the batch; a decline counts for declineTTL, so one lost message does not matter.
	declineInterval = 30 * time.Second
	declineTTL      = 3 * declineInterval
	// waitingCache is how long a batch's computed reasons are reused (lease requests come
	// many times a second).
	waitingCache = time.Second
)

// WaitReason is one reason a batch cannot progress with the peers its steward sees.
type WaitReason struct {
	// Code names the reason for scripts: replicas (fewer peers can run it than its quorum
	// needs), memory (no peer allows the memory its tasks ask), exhausted (some tasks ran on
	// every peer that can run them without a decision).
	Code   string `json:"code"`
	Reason string `json:"reason"`
	Fix    string `json:"fix"`
}

// asker is what a batch's steward heard from one worker.
type asker struct {
	at       time.Time
	memoryMB uint32 // its max_task_memory_mb; 0 when not said
	declined bool   // it cannot run the batch: its memory cap is below the batch's limit
}

// waitFacts are what the reasons are decided from.
type waitFacts struct {
	R, MaxReplicas int
	MemoryMiB      int // one task's memory limit
	Peers          int // the steward and the swarm peers connected to it
	Declined       int // of those, peers that declined the batch (memory)
	MostMiB        int // the most memory a declining peer allows
	Refused        int // of those, peers this steward refuses (distrusted)
	Exhausted      int // open tasks that every able peer ran without a decision
}

// able is how many peers may run the batch: all but those known not to.
func (f waitFacts) able() int { return max(f.Peers-f.Declined-f.Refused, 0) }

// decideWaiting says why a batch cannot progress, if it cannot.
func decideWaiting(f waitFacts) []WaitReason {
	able, need := f.able(), tasks.QuorumSize(f.R)
	if able >= need {
		if f.Exhausted == 0 {
			return nil
		}
		return []WaitReason{{Code: "exhausted",
			Reason: fmt.Sprintf("waiting: %s ran on all %s that can run them without a decision (their outputs disagree, or they time out); each may run on up to %d distinct peers (max_replicas)", count(f.Exhausted, "task", "tasks"), count(able, "peer", "peers"), f.MaxReplicas),
			Fix:    "add peers, or give the tasks more time (--timeout) if they time out"}}
	}
	memory := fmt.Sprintf("%s it: a task asks %d MiB and the most they allow is %d MiB (max_task_memory_mb)", count(f.Declined, "peer declines", "peers decline"), f.MemoryMiB, f.MostMiB)
	memFix := fmt.Sprintf("lower --memory to %d, or raise max_task_memory_mb on the peers (allforone config set max_task_memory_mb %d, then restart the daemon)", f.MostMiB, f.MemoryMiB)
	if able == 0 && f.Declined > 0 {
		reason := "waiting: no peer can run it: " + memory
		if f.Refused > 0 {
			reason += fmt.Sprintf(", and this steward refuses %d (their results disagreed with the quorum)", f.Refused)
		}
		return []WaitReason{{Code: "memory", Reason: reason, Fix: memFix}}
	}
	reason := fmt.Sprintf("waiting: %s run it, R=%d needs %d distinct peers to agree (a strict majority of %d)", count(able, "peer can", "peers can"), f.R, need, f.R)
	fix := "add peers"
	if able > 0 {
		fix = fmt.Sprintf("lower --replicas to %d or less, or add peers", able)
	}
	if f.Declined > 0 {
		reason += "; " + memory
		fix += ", or " + memFix
	}
	if f.Refused > 0 {
		reason += fmt.Sprintf("; this steward refuses %d (their results disagreed with the quorum)", f.Refused)
	}
	return []WaitReason{{Code: "replicas", Reason: reason, Fix: fix}}
}

// count is n with the singular or plural noun phrase that follows it.
func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// noteAsker records what worker p said in a lease request for b and reports whether it
// declines the batch. Call with b.mu held.
func (b *batch) noteAsker(p peer.ID, memoryMB uint32, now time.Time) bool {
	if b.askers == nil {
		b.askers = make(map[peer.ID]asker)
	}
	if now.Sub(b.askersPruned) > declineInterval {
		b.askersPruned = now
		for q, a := range b.askers {
			if now.Sub(a.at) > declineTTL {
				delete(b.askers, q)
			}
		}
	}
	declined := memoryMB > 0 && uint64(memoryMB)<<20 < b.m.Limits.MemoryBytes()
	b.askers[p] = asker{at: now, memoryMB: memoryMB, declined: declined}
	return declined
}

// swarmPeers are this node and the peers connected to it that serve the steward protocol:
// the peers that can take a batch's tasks from this steward.
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

// waiting returns why b cannot progress, from this node's steward state of it (nil when it
// has none, or the batch is done).
func (n *Node) waiting(b *batch, now time.Time) []WaitReason {
	b.mu.Lock()
	if b.st == nil || b.st.Done() || now.After(b.m.Deadline) {
		b.mu.Unlock()
		return nil
	}
	if now.Sub(b.waitingAt) < waitingCache {
		defer b.mu.Unlock()
		return b.waitingWhy
	}
	b.mu.Unlock()
	peers := n.swarmPeers() // no lock across host calls
	unable := make(map[peer.ID]bool)
	f := waitFacts{R: int(b.m.Redundancy), MaxReplicas: int(max(b.m.MaxReplicas, b.m.Redundancy)),
		MemoryMiB: int(b.m.Limits.MemoryBytes() >> 20), Peers: len(peers)}
	for _, p := range peers {
		if p != n.id && n.distrusted(p) {
			unable[p] = true
			f.Refused++
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.st == nil || b.st.Done() || now.After(b.m.Deadline) {
		return nil
	}
	for _, p := range peers {
		declined, mib := false, 0
		if p == n.id {
			declined, mib = !n.fitsMemory(b.m.Limits.MemoryPages), n.cfg.MaxTaskMemoryMB
		} else if a, ok := b.askers[p]; ok && now.Sub(a.at) <= declineTTL {
			declined, mib = a.declined, int(a.memoryMB)
		}
		if declined && !unable[p] {
			unable[p] = true
			f.Declined++
			f.MostMiB = max(f.MostMiB, mib)
		}
	}
	if f.able() >= tasks.QuorumSize(f.R) {
		isPeer := make(map[peer.ID]bool, len(peers))
		for _, p := range peers {
			isPeer[p] = true
		}
		f.Exhausted = b.st.Exhausted(now, func(p peer.ID) bool { return isPeer[p] && !unable[p] }, f.able())
	}
	b.waitingWhy, b.waitingAt = decideWaiting(f), now
	return b.waitingWhy
}

// submitWaiting is why a batch this node submits cannot progress with the peers it sees:
// all it knows of other peers is that they are there (and may run it), of itself whether its
// memory cap allows the batch.
func (n *Node) submitWaiting(m *tasks.Manifest) []WaitReason {
	f := waitFacts{R: int(m.Redundancy), MaxReplicas: int(max(m.MaxReplicas, m.Redundancy)),
		MemoryMiB: int(m.Limits.MemoryBytes() >> 20), Peers: len(n.swarmPeers())}
	if !n.fitsMemory(m.Limits.MemoryPages) {
		f.Declined, f.MostMiB = 1, n.cfg.MaxTaskMemoryMB
	}
	return decideWaiting(f)
}

// waitingLine is a batch's reasons in one line, for a lease grant.
func waitingLine(ws []WaitReason) string {
	if len(ws) == 0 {
		return ""
	}
	return ws[0].Reason + "; " + ws[0].Fix
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
			b.mu.Lock()
			due := !b.workDone && now.Before(b.m.Deadline) && (b.st == nil || !b.st.Done()) &&
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
		n.log.Debug("decline batch", "batch", b.id.String(), "err", err)
		return
	}
	b.mu.Lock()
	b.waitingLine, b.waitingLineAt = g.GetWaiting(), time.Now()
	if g.GetDone() {
		b.workDone = true
	}
	b.mu.Unlock()
}
