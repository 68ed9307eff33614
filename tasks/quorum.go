package tasks

import (
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// The quorum rule: how a task's result records decide it (protocol/README.md section 10.5).

// QuorumSize is how many distinct executors must agree for a task of redundancy r to be
// decided: a strict majority of r.
func QuorumSize(r int) int { return r/2 + 1 }

// FailureQuorum is how many distinct executors must report the same deterministic failure
// (see Deterministic) for a task of redundancy r to fail at once: a strict majority of r, as
// for outputs, and never fewer than two, so one executor's word (a liar's, or a broken
// machine's) never fails a task on its own, whatever R.
func FailureQuorum(r int) int { return max(2, QuorumSize(r)) }

// Quorum decides a task from its records. Every execution casts one vote: a successful one
// for its output, a failed one for its failure when that failure is deterministic (the same
// kind and exit code on every honest machine); timeouts and other failures count as
// executions but never as votes. An output is accepted once at least QuorumSize(r) executors
// produced it and no other outcome has as many; a deterministic failure fails the task once
// FailureQuorum(r) executors reported it and no other outcome has as many. Without either,
// the task fails after maxReplicas executions. Each executor counts once, whatever records
// it signed.
func Quorum(results []ResultRecord, r, maxReplicas int) (TaskStatus, cid.Cid) {
	type outcome struct {
		failure string // "" for an output
		output  cid.Cid
	}
	key := func(o outcome) string { return o.failure + "\x00" + o.output.KeyString() }
	votes := make(map[outcome]int)
	seen := make(map[peer.ID]bool, len(results))
	executions := 0
	for _, rec := range results {
		if seen[rec.Executor] {
			continue // one execution, one vote per peer
		}
		seen[rec.Executor] = true
		executions++
		switch {
		case rec.OK():
			votes[outcome{output: rec.Output}]++
		case Deterministic(rec.Error):
			votes[outcome{failure: rec.Error}]++
		}
	}
	var best outcome
	bestN, secondN := 0, 0
	for o, n := range votes {
		switch {
		case n > bestN || (n == bestN && key(o) < key(best)):
			secondN = max(secondN, bestN)
			best, bestN = o, n
		case n > secondN:
			secondN = n
		}
	}
	switch {
	case best.failure == "" && bestN >= QuorumSize(r) && bestN > secondN:
		return TaskAccepted, best.output
	case best.failure != "" && bestN >= FailureQuorum(r) && bestN > secondN:
		return TaskFailed, cid.Undef
	case executions >= maxReplicas:
		return TaskFailed, cid.Undef
	}
	return TaskOpen, cid.Undef
}
