package tasks

import (
	"bytes"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Batch states as reported to users.
const (
	BatchRunning  = "running"
	BatchComplete = "complete"
	BatchFailed   = "failed"
)

// PeerShare is one peer's part in a batch.
type PeerShare struct {
	Peer    peer.ID
	Done    int // accepted results it contributed to
	Running int // active leases
	Wrong   int // successful results that disagreed with the accepted output
}

// Summary is a batch's progress, for status and the dashboard.
type Summary struct {
	State       string // BatchRunning, BatchComplete (all accepted) or BatchFailed (some failed, or the deadline passed)
	Total       int
	Done        int // accepted
	Failed      int
	Running     int // active leases
	Executions  int // result records received
	Reassigned  int // leases lost: expired, returned, or their worker left
	Single      int // tasks adaptive replication gave to one trusted peer (and not reverified)
	Peers       []PeerShare
	MinReplicas int // fewest live holders of any accepted result (0 when none accepted)
	FailedTasks []int
	// Failures says why the failed tasks failed, lowest index first, at most 1,000 of them;
	// FailuresOmitted counts the rest.
	Failures        []FailedTask
	FailuresOmitted int
}

// FailedTask is why one task failed: the failure most of its executions reported.
type FailedTask struct {
	Task       int
	Error      string      // that failure as its records say it: a Kind, or "exit:N"
	Note       FailureNote // what one of those executors said about it (zero if none did)
	Executions int         // executions of the task
	Agreeing   int         // executions that reported Error
}

// Failure describes failed task i (its status must be TaskFailed). Among its failed
// executions it picks the failure most executors reported, a deterministic one before
// others on a tie, then the lowest label.
func (b *BatchState) Failure(i int) FailedTask {
	t := &b.tasks[i]
	f := FailedTask{Task: i}
	count := map[string]int{}
	seen := map[peer.ID]bool{}
	for _, r := range t.Results {
		if seen[r.Executor] {
			continue
		}
		seen[r.Executor] = true
		f.Executions++
		if !r.OK() {
			count[r.Error]++
		}
	}
	better := func(e string, n int) bool {
		if n != f.Agreeing {
			return n > f.Agreeing
		}
		if de, df := Deterministic(e), Deterministic(f.Error); de != df {
			return de
		}
		return e < f.Error
	}
	for e, n := range count {
		if f.Error == "" || better(e, n) {
			f.Error, f.Agreeing = e, n
		}
	}
	for _, r := range t.Results {
		if r.Error == f.Error && f.Error != "" {
			if n, ok := t.NoteBy(r.Executor); ok {
				f.Note = n
				break
			}
		}
	}
	return f
}

// Summary computes the batch's progress at now; live says which holders count.
func (b *BatchState) Summary(now time.Time, live func(peer.ID) bool) Summary {
	s := Summary{Total: len(b.tasks), Done: b.done, Failed: b.failed, MinReplicas: -1}
	shares := make(map[peer.ID]*PeerShare)
	share := func(p peer.ID) *PeerShare {
		if shares[p] == nil {
			shares[p] = &PeerShare{Peer: p}
		}
		return shares[p]
	}
	for i := range b.tasks {
		t := &b.tasks[i]
		s.Executions += len(t.Results)
		if t.Single && !t.Reverified {
			s.Single++
		}
		for k := range t.Leases {
			l := &t.Leases[k]
			if l.active(now) {
				s.Running++
				share(l.Worker).Running++
			}
			if l.Lost {
				s.Reassigned++
			}
		}
		switch t.status {
		case TaskFailed:
			s.FailedTasks = append(s.FailedTasks, i)
			if len(s.Failures) < maxFailuresListed {
				s.Failures = append(s.Failures, b.Failure(i))
			} else {
				s.FailuresOmitted++
			}
		case TaskAccepted:
			for _, r := range t.Results {
				if !r.OK() {
					continue
				}
				if r.Output.Equals(t.accepted) {
					share(r.Executor).Done++
				} else {
					share(r.Executor).Wrong++
				}
			}
			n := 0
			for _, h := range t.Holders {
				if live(h) {
					n++
				}
			}
			if s.MinReplicas < 0 || n < s.MinReplicas {
				s.MinReplicas = n
			}
		}
	}
	s.MinReplicas = max(s.MinReplicas, 0)
	for _, p := range shares {
		s.Peers = append(s.Peers, *p)
	}
	slices.SortFunc(s.Peers, func(a, b PeerShare) int { return bytes.Compare([]byte(a.Peer), []byte(b.Peer)) })
	switch {
	case !b.Done() && now.After(b.Manifest.Deadline):
		s.State = BatchFailed // abandoned at its deadline
	case !b.Done():
		s.State = BatchRunning
	case b.failed > 0:
		s.State = BatchFailed
	default:
		s.State = BatchComplete
	}
	return s
}

// Exhausted counts the open tasks that no peer able to run them can take any more: no lease
// holds them and at least able of their distinct executors count as able (every able peer
// ran it, and a worker never gets a task twice). They wait for more peers; with no more,
// they wait until the deadline.
func (b *BatchState) Exhausted(now time.Time, isAble func(peer.ID) bool, able int) int {
	n := 0
	if able <= 0 {
		return 0
	}
	for i := b.cursor; i < len(b.tasks); i++ {
		t := &b.tasks[i]
		if t.status != TaskOpen || t.activeLeases(now) > 0 || len(t.Results) < able {
			continue
		}
		ran := 0
		seen := make(map[peer.ID]bool, len(t.Results))
		for _, r := range t.Results {
			if !seen[r.Executor] && isAble(r.Executor) {
				seen[r.Executor] = true
				ran++
			}
		}
		if ran >= able {
			n++
		}
	}
	return n
}
