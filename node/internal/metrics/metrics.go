// Package metrics is the node's own Prometheus metrics, registered on its registry next to
// the libp2p ones (go-libp2p registers its swarm, identify, resource manager and other
// collectors there): counters the node's subsystems add to, and gauges that read the
// node's state, through State, when scraped. GET /metrics serves them all.
package metrics

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the counters and the histogram the node's subsystems update.
type Metrics struct {
	TasksRun    prometheus.Counter
	TasksFailed prometheus.Counter
	Leased      prometheus.Counter
	Returned    prometheus.Counter
	Accepted    prometheus.Counter
	ResultsHeld prometheus.Counter
	Repaired    prometheus.Counter
	ExecSeconds prometheus.Histogram
	// StateCopies counts the state copies this node sent as primary steward, by kind:
	// full, delta, or digest (a question whether a steward has a finished batch's state).
	StateCopies *prometheus.CounterVec
	// StewardWakes counts the dormant steward states (finished batches kept on disk only)
	// this node loaded, by what needed them.
	StewardWakes *prometheus.CounterVec
	// PrimaryVotes counts the primary-lease votes this node asked for (protocol/README.md
	// section 10.12), by answer: granted, fenced, refused, unanswered.
	PrimaryVotes *prometheus.CounterVec
}

// New makes the node's metrics and registers them on reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		TasksRun:     prometheus.NewCounter(prometheus.CounterOpts{Name: "allforone_tasks_run_total", Help: "Tasks this node ran successfully."}),
		TasksFailed:  prometheus.NewCounter(prometheus.CounterOpts{Name: "allforone_tasks_failed_total", Help: "Tasks that failed in this node's sandbox."}),
		Leased:       prometheus.NewCounter(prometheus.CounterOpts{Name: "allforone_leases_taken_total", Help: "Task leases this node received from stewards."}),
		Returned:     prometheus.NewCounter(prometheus.CounterOpts{Name: "allforone_leases_returned_total", Help: "Leases this node handed back unrun."}),
		Accepted:     prometheus.NewCounter(prometheus.CounterOpts{Name: "allforone_results_accepted_total", Help: "Results accepted by quorum while this node was primary steward."}),
		ResultsHeld:  prometheus.NewCounter(prometheus.CounterOpts{Name: "allforone_results_stored_total", Help: "Accepted results stored on this node."}),
		Repaired:     prometheus.NewCounter(prometheus.CounterOpts{Name: "allforone_results_repaired_total", Help: "Result copies this node restored on other holders."}),
		ExecSeconds:  prometheus.NewHistogram(prometheus.HistogramOpts{Name: "allforone_task_seconds", Help: "Task execution time.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)}),
		StateCopies:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "allforone_state_copies_sent_total", Help: "State copies sent to other stewards, by kind: full, delta, or digest (asking whether a steward has a finished batch's state)."}, []string{"kind"}),
		PrimaryVotes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "allforone_primary_votes_total", Help: "Votes for this node's primary lease of a batch that it asked other stewards for, by answer: granted, fenced (the steward promised another epoch or holder), refused, unanswered."}, []string{"answer"}),
		StewardWakes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "allforone_steward_wakes_total", Help: "Finished batches' steward states loaded from disk when something needed them, by what: status, results, digest, copy, pull, request, role, members, reverify."}, []string{"reason"}),
	}
	reg.MustRegister(m.TasksRun, m.TasksFailed, m.Leased, m.Returned, m.Accepted, m.ResultsHeld, m.Repaired, m.ExecSeconds, m.StateCopies, m.StewardWakes, m.PrimaryVotes)
	return m
}

// State is what the gauges read when scraped: the node's view of itself.
type State interface {
	Peers() int            // peers connected now
	ResultsHeld() int      // accepted results kept
	BatchesKnown() int     // batches known
	BatchesStewarded() int // batches whose state is kept as a steward
	TasksRunning() int     // tasks running now
	Slots() int            // tasks that may run at once
	// Usage is the bytes of blobs and of result records as last measured, and the quota
	// (0: none).
	Usage() (blobs, results, quota int64)
	Paused() bool // a preference keeps the node from starting tasks
}

// RegisterGauges adds the gauges that read s when scraped.
func RegisterGauges(reg prometheus.Registerer, s State) {
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	count := func(f func() int) func() float64 { return func() float64 { return float64(f()) } }
	usage := func(pick func(b, r, q int64) int64) func() float64 {
		return func() float64 { return float64(pick(s.Usage())) }
	}
	reg.MustRegister(
		gauge("allforone_peers", "Peers this node is connected to.", count(s.Peers)),
		gauge("allforone_results_held", "Accepted results this node keeps.", count(s.ResultsHeld)),
		gauge("allforone_batches_known", "Batches this node knows.", count(s.BatchesKnown)),
		gauge("allforone_batches_stewarded", "Batches whose state this node keeps as a steward.", count(s.BatchesStewarded)),
		gauge("allforone_tasks_running", "Tasks running on this node now.", count(s.TasksRunning)),
		gauge("allforone_task_slots", "Tasks this node may run at once.", count(s.Slots)),
		gauge("allforone_blob_bytes", "Bytes of blobs (modules, inputs, outputs) in the datastore, as last measured.", usage(func(b, _, _ int64) int64 { return b })),
		gauge("allforone_result_bytes", "Bytes of result records in the datastore, as last measured.", usage(func(_, r, _ int64) int64 { return r })),
		gauge("allforone_disk_quota_bytes", "The disk quota for blobs and results (0: none).", usage(func(_, _, q int64) int64 { return q })),
		gauge("allforone_paused", "1 while a preference keeps the node from starting tasks.", func() float64 {
			if s.Paused() {
				return 1
			}
			return 0
		}),
	)
}
