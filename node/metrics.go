package node

import "github.com/prometheus/client_golang/prometheus"

// metrics are the node's own Prometheus metrics, registered on its registry next to the
// libp2p ones.
type metrics struct {
	tasksRun    prometheus.Counter
	tasksFailed prometheus.Counter
	returned    prometheus.Counter
	accepted    prometheus.Counter
	resultsHeld prometheus.Counter
	repaired    prometheus.Counter
	execSeconds prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		tasksRun:    prometheus.NewCounter(prometheus.CounterOpts{Name: "allforone_tasks_run_total", Help: "Tasks this node ran successfully."}),
		tasksFailed: prometheus.NewCounter(prometheus.CounterOpts{Name: "allforone_tasks_failed_total", Help: "Tasks that failed in this node's sandbox."}),
		returned:    prometheus.NewCounter(prometheus.CounterOpts{Name: "allforone_leases_returned_total", Help: "Leases this node handed back unrun."}),
		accepted:    prometheus.NewCounter(prometheus.CounterOpts{Name: "allforone_results_accepted_total", Help: "Results accepted by quorum while this node was primary steward."}),
		resultsHeld: prometheus.NewCounter(prometheus.CounterOpts{Name: "allforone_results_stored_total", Help: "Accepted results stored on this node."}),
		repaired:    prometheus.NewCounter(prometheus.CounterOpts{Name: "allforone_results_repaired_total", Help: "Result copies this node restored on other holders."}),
		execSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "allforone_task_seconds", Help: "Task execution time.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)}),
	}
	reg.MustRegister(m.tasksRun, m.tasksFailed, m.returned, m.accepted, m.resultsHeld, m.repaired, m.execSeconds)
	return m
}
