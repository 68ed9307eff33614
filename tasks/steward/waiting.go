package steward

import (
	"fmt"
	"time"

	"allforone/tasks"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Why a batch cannot progress. The primary steward sees the swarm peers it is connected to
// (placement.View.Swarm), hears which of them ask for the batch's tasks and which decline
// it (their memory cap is below the batch's limit, said in LeaseRequest.MemoryMB), and
// knows whom it refuses. From that it says, in status and in its lease grants (the
// workers' why), when no task can be decided with the peers there are, and what to change.
// It never refuses or fails the batch for it: peers may still join. A peer it has not
// heard from counts as able, so the reasons are certain for the peers there are.

const (
	// DeclineInterval is how often a worker tells a batch's steward again that it cannot
	// run the batch; a decline counts for declineTTL, so one lost message does not matter.
	DeclineInterval = 30 * time.Second
	declineTTL      = 3 * DeclineInterval
	// WaitingCache is how long a batch's computed reasons are reused (lease requests come
	// many times a second).
	WaitingCache = time.Second
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

// WaitFacts are what the reasons are decided from.
type WaitFacts struct {
	R, MaxReplicas int
	MemoryMiB      int // one task's memory limit
	Peers          int // the steward and the swarm peers connected to it
	Declined       int // of those, peers that declined the batch (memory)
	MostMiB        int // the most memory a declining peer allows
	Refused        int // of those, peers this steward refuses (distrusted)
	Exhausted      int // open tasks that every able peer ran without a decision
}

// able is how many peers may run the batch: all but those known not to.
func (f WaitFacts) able() int { return max(f.Peers-f.Declined-f.Refused, 0) }

// DecideWaiting says why a batch cannot progress, if it cannot.
func DecideWaiting(f WaitFacts) []WaitReason {
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

// WaitingLine is a batch's reasons in one line, for a lease grant.
func WaitingLine(ws []WaitReason) string {
	if len(ws) == 0 {
		return ""
	}
	return ws[0].Reason + "; " + ws[0].Fix
}

// fitsMemory reports whether a task of memoryPages fits under a cap of mib.
func fitsMemory(memoryPages uint32, mib int) bool {
	return uint64(memoryPages)*65536 <= uint64(max(mib, 0))<<20
}

// noteAsker records what worker p said in a lease request and reports whether it declines
// the batch.
func (s *Steward) noteAsker(p peer.ID, memoryMB uint32, now time.Time) bool {
	if now.Sub(s.askersPruned) > DeclineInterval {
		s.askersPruned = now
		for q, a := range s.askers {
			if now.Sub(a.at) > declineTTL {
				delete(s.askers, q)
			}
		}
	}
	declined := memoryMB > 0 && uint64(memoryMB)<<20 < s.m.Limits.MemoryBytes()
	s.askers[p] = asker{at: now, memoryMB: memoryMB, declined: declined}
	return declined
}

// waitingFor returns why the batch cannot progress (nil when it is done), computed at most
// once per WaitingCache.
func (s *Steward) waitingFor(now time.Time) []WaitReason {
	if s.st.Done() || now.After(s.m.Deadline) {
		return nil
	}
	if !s.waitingAt.IsZero() && now.Sub(s.waitingAt) < WaitingCache {
		return s.waiting
	}
	peers := s.view.Swarm()
	unable := make(map[peer.ID]bool)
	f := WaitFacts{R: int(s.m.Redundancy), MaxReplicas: int(max(s.m.MaxReplicas, s.m.Redundancy)),
		MemoryMiB: int(s.m.Limits.MemoryBytes() >> 20), Peers: len(peers)}
	for _, p := range peers {
		if p != s.cfg.Self && s.cfg.Trust.Refusal(p) != "" {
			unable[p] = true
			f.Refused++
		}
	}
	for _, p := range peers {
		declined, mib := false, 0
		if p == s.cfg.Self {
			declined, mib = !fitsMemory(s.m.Limits.MemoryPages, s.cfg.SelfMemoryMiB), s.cfg.SelfMemoryMiB
		} else if a, ok := s.askers[p]; ok && now.Sub(a.at) <= declineTTL {
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
		f.Exhausted = s.st.Exhausted(now, func(p peer.ID) bool { return isPeer[p] && !unable[p] }, f.able())
	}
	s.waiting, s.waitingAt = DecideWaiting(f), now
	return s.waiting
}
