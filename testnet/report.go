package testnet

import (
	"slices"
	"time"

	"allforone/node"
)

// Report is what a scenario run measured. OK is false when a task was lost, a result is
// kept by fewer than K live nodes after healing, or a result cannot be fetched.
type Report struct {
	Scenario    string   `json:"scenario"`
	Processes   bool     `json:"processes"` // daemon processes; false: nodes in one process
	Nodes       int      `json:"nodes"`
	Private     bool     `json:"private"`
	Module      string   `json:"module"`
	Redundancy  int      `json:"redundancy"`  // R
	Replication int      `json:"replication"` // K
	BatchIDs    []string `json:"batch_ids"`

	// StartSeconds is the time from initialising the nodes' data dirs until every node's API
	// answered; ConnectivitySeconds until, besides, every node knew every other (routing
	// table or connection).
	StartSeconds        float64 `json:"start_seconds"`
	ConnectivitySeconds float64 `json:"connectivity_seconds"`
	// BatchSeconds is the time from the first submission until the last batch finished.
	BatchSeconds   float64 `json:"batch_seconds"`
	TasksPerSecond float64 `json:"tasks_per_second"`

	TasksTotal     int `json:"tasks_total"`
	TasksCompleted int `json:"tasks_completed"` // accepted by a quorum
	TasksFailed    int `json:"tasks_failed"`    // no quorum, or the batch's deadline passed
	// TasksLost counts tasks whose result no running node holds at the end (failed and
	// unfinished tasks included). It must be 0.
	TasksLost int `json:"tasks_lost"`
	// UnderReplicated counts results that fewer than K running nodes hold (but at least one)
	// after the faults healed and the swarm had Settle to repair. It must be 0.
	UnderReplicated int `json:"under_replicated"`
	// LostTasks and UnderReplicatedTasks name the tasks counted above (at most 100 each).
	LostTasks            []TaskRef `json:"lost_tasks,omitempty"`
	UnderReplicatedTasks []TaskRef `json:"under_replicated_tasks,omitempty"`
	// Unfetchable counts results that a running node could not fetch from the swarm.
	Unfetchable   int     `json:"unfetchable"`
	SettleSeconds float64 `json:"settle_seconds"` // from the end of the work to K holders everywhere

	// Executions are completed executions, as result records on the batch's stewards.
	Executions int `json:"executions"`
	// DuplicateExecutions are executions beyond the R each task needs: work done twice.
	DuplicateExecutions int     `json:"duplicate_executions"`
	DuplicateShare      float64 `json:"duplicate_share"` // of all executions
	// TasksRunMoreThanOnce counts tasks leased more than R times (started again after a
	// worker was lost, whether or not the first run finished).
	TasksRunMoreThanOnce int `json:"tasks_run_more_than_once"`
	LostLeases           int `json:"lost_leases"` // leases that went back to the pool without a result

	// RecoverySeconds has one entry per fault (kill, partition, slow) in order: the time
	// until the swarm recovered (see recoveryAfter), or null if it did not.
	RecoverySeconds []*float64 `json:"recovery_seconds"`
	RecoveryMedian  float64    `json:"recovery_median_seconds"`
	RecoveryMax     float64    `json:"recovery_max_seconds"`

	Events     []EventRecord `json:"events"`
	Throughput []Point       `json:"throughput"` // one point per second since the first submission

	// UpShareMin is, at the worst sample, the share of the nodes no fault held down that were
	// up (see census): under churn the restarted nodes must come back, not pile up.
	UpShareMin float64 `json:"up_share_min"`
	// RestartSeconds: from a restart's start to the daemon's API answering.
	RestartMedian  float64 `json:"restart_median_seconds,omitempty"`
	RestartMax     float64 `json:"restart_max_seconds,omitempty"`
	RestartsFailed int     `json:"restarts_failed,omitempty"`
	// CPU used by the daemon processes over the run, per node: seconds, and percent of one
	// core over the run's wall time (processes only; Linux counts the running ones too).
	CPUSecondsPerNode float64 `json:"cpu_seconds_per_node,omitempty"`
	CPUPercentPerNode float64 `json:"cpu_percent_per_node,omitempty"`

	// Memory of the daemon processes at the end (proportional set size; Linux only).
	MemoryPSSMiB    float64 `json:"memory_pss_mib_per_node,omitempty"`
	MemoryPSSMaxMiB float64 `json:"memory_pss_mib_max,omitempty"`

	Notes []string `json:"notes,omitempty"`
	OK    bool     `json:"ok"`
}

// TaskRef names a task whose result is lost or under-replicated, with the running nodes that
// hold it and the nodes its steward believes hold it (-1: a peer outside the testnet).
type TaskRef struct {
	Batch          int   `json:"batch"` // index in BatchIDs
	Task           int   `json:"task"`
	Holders        []int `json:"holders"`
	StewardHolders []int `json:"steward_holders"`
}

// EventRecord is one thing the scenario did to the swarm.
type EventRecord struct {
	Seconds float64 `json:"t"`    // after the first submission
	Kind    string  `json:"kind"` // kill, restart, partition, heal, slow, fast
	Target  string  `json:"target,omitempty"`
	Nodes   []int   `json:"nodes"`
	Fault   bool    `json:"fault"` // kill, partition, slow: recovery is measured
	// RecoverySeconds is the time the swarm took to recover from a fault; absent if it did
	// not recover before the run ended.
	RecoverySeconds *float64 `json:"recovery_seconds,omitempty"`
	Note            string   `json:"note,omitempty"`
}

// Point is the swarm at one second of the run.
type Point struct {
	Seconds float64 `json:"t"`
	Done    int     `json:"done"` // tasks accepted so far, every batch counted
	Rate    int     `json:"rate"` // tasks accepted in the second before
	Live    int     `json:"live"` // nodes running
}

// Event kinds.
const (
	KindKill      = "kill"
	KindRestart   = "restart"
	KindPartition = "partition"
	KindHeal      = "heal"
	KindSlow      = "slow"
	KindFast      = "fast"
)

func isFault(kind string) bool { return kind == KindKill || kind == KindPartition || kind == KindSlow }

// sample is what the runner saw at one moment.
type sample struct {
	T           time.Duration // since the first submission
	Done        int           // tasks accepted so far, every batch counted; never decreases
	Total       int           // tasks submitted so far
	Live        int           // nodes running
	Expected    int           // nodes no fault holds down (see census)
	Late        []string      // of those, the nodes not up and why
	Active      bool          // a batch was running
	MinReplicas int           // the steward's fewest live holders of a result of the current batch
	Fresh       bool          // the status was answered for this sample (not an older one kept)
}

// Recovery rule parameters.
const (
	recoveryBaseline = 5 * time.Second // throughput before a fault is measured over this
	recoveryWindow   = time.Second     // throughput after it, over windows this long
)

// recoveryAfter is how long the swarm took to recover from a fault at t, from the samples:
//
//   - while a batch runs: until the start of the first one-second window after the fault in
//     which at least half as many tasks per second were accepted as in the five seconds
//     before it (or, if nothing was accepted in those five seconds, until the next accepted
//     task). A window in which the last task is accepted counts as recovered.
//   - when no batch runs (the work was done): until the steward counts K live holders for
//     every result again.
//
// It returns false when the samples end before the swarm recovered.
func recoveryAfter(samples []sample, t time.Duration, k int) (time.Duration, bool) {
	i := slices.IndexFunc(samples, func(s sample) bool { return s.T >= t })
	if i < 0 {
		return 0, false
	}
	at := atOrBefore(samples, t)
	if !at.Active && at.Done >= at.Total && at.Total > 0 {
		for _, s := range samples[i:] {
			if s.Fresh && s.MinReplicas >= k {
				return s.T - t, true
			}
		}
		return 0, false
	}
	from := max(t-recoveryBaseline, 0)
	first := samples[0].T
	base := float64(at.Done-atOrBefore(samples, from).Done) / max(t-max(from, first), recoveryWindow).Seconds()
	for _, s := range samples[i:] {
		if base == 0 {
			if s.Done > at.Done {
				return s.T - t, true
			}
			continue
		}
		e := atOrBefore(samples, s.T+recoveryWindow)
		if e.Done >= e.Total && !e.Active {
			return s.T - t, true // the work ends in this window
		}
		if s.T+recoveryWindow > samples[len(samples)-1].T {
			return 0, false
		}
		if float64(e.Done-s.Done) >= base/2*recoveryWindow.Seconds() {
			return s.T - t, true
		}
	}
	return 0, false
}

// atOrBefore is the last sample taken at or before t (the first one if none).
func atOrBefore(samples []sample, t time.Duration) sample {
	i, _ := slices.BinarySearchFunc(samples, t, func(s sample, t time.Duration) int {
		if s.T <= t {
			return -1
		}
		return 1
	})
	return samples[max(i-1, 0)]
}

// series is the run second by second, from 0 to the first whole second after the last
// sample.
func series(samples []sample) []Point {
	if len(samples) == 0 {
		return nil
	}
	var out []Point
	prev := 0
	for t := time.Duration(0); t < samples[len(samples)-1].T+time.Second; t += time.Second {
		s := atOrBefore(samples, t)
		done := s.Done
		if s.T > t {
			done = 0 // before the first sample
		}
		out = append(out, Point{Seconds: t.Seconds(), Done: done, Rate: done - prev, Live: s.Live})
		prev = done
	}
	return out
}

// median of xs (0 when empty).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// summarizeRecovery fills the recovery fields from the events.
func (r *Report) summarizeRecovery() {
	r.RecoverySeconds = []*float64{}
	var got []float64
	for _, e := range r.Events {
		if !e.Fault {
			continue
		}
		r.RecoverySeconds = append(r.RecoverySeconds, e.RecoverySeconds)
		if e.RecoverySeconds != nil {
			got = append(got, *e.RecoverySeconds)
		}
	}
	r.RecoveryMedian = median(got)
	if len(got) > 0 {
		r.RecoveryMax = slices.Max(got)
	}
}

// taskTally is the steward's view of executions, summed over tasks.
type taskTally struct {
	executions, duplicates, rerun, lost int
}

// tally counts executions beyond R, tasks leased more than R times and lost leases.
func tally(r int, tasks []node.TaskCounts) taskTally {
	var t taskTally
	for _, c := range tasks {
		t.executions += c.Results
		t.duplicates += max(c.Results-r, 0)
		if c.Leases > r {
			t.rerun++
		}
		t.lost += c.Lost
	}
	return t
}
