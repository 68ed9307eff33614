package node

import "github.com/prometheus/client_golang/prometheus"

// metrics are the node's own Prometheus metrics, registered on its registry next to the
// libp2p ones (go-libp2p registers its swarm, identify, resource manager and other
// collectors there). GET /metrics serves them all.
type metrics struct {
	tasksRun    prometheus.Counter
	tasksFailed prometheus.Counter
	leased      prometheus.Counter
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
		leased:      prometheus.NewCounter(prometheus.CounterOpts{Name: "allforone_leases_taken_total", Help: "Task leases this node received from stewards."}),
		returned:    prometheus.NewCounter(prometheus.CounterOpts{Name: "allforone_leases_returned_total", Help: "Leases this node handed back unrun."}),
		accepted:    prometheus.NewCounter(prometheus.CounterOpts{Name: "allforone_results_accepted_total", Help: "Results accepted by quorum while this node was primary steward."}),
		resultsHeld: prometheus.NewCounter(prometheus.CounterOpts{Name: "allforone_results_stored_total", Help: "Accepted results stored on this node."}),
		repaired:    prometheus.NewCounter(prometheus.CounterOpts{Name: "allforone_results_repaired_total", Help: "Result copies this node restored on other holders."}),
		execSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "allforone_task_seconds", Help: "Task execution time.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)}),
	}
	reg.MustRegister(m.tasksRun, m.tasksFailed, m.leased, m.returned, m.accepted, m.resultsHeld, m.repaired, m.execSeconds)
	return m
}

// registerGauges adds the gauges that read the node's state when scraped.
func (n *Node) registerGauges(reg prometheus.Registerer) {
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	reg.MustRegister(
		gauge("allforone_peers", "Peers this node is connected to.", func() float64 {
			if n.host == nil {
				return 0
			}
			return float64(len(n.host.Network().Peers()))
		}),
		gauge("allforone_results_held", "Accepted results this node keeps.", func() float64 {
			n.held.mu.Lock()
			defer n.held.mu.Unlock()
			total := 0
			for _, m := range n.held.tasks {
				total += len(m)
			}
			return float64(total)
		}),
		gauge("allforone_batches_known", "Batches this node knows.", func() float64 { return float64(len(n.listBatches())) }),
		gauge("allforone_batches_stewarded", "Batches whose state this node keeps as a steward.", func() float64 {
			count := 0
			for _, b := range n.listBatches() {
				if n.stewardOf(b) != nil {
					count++
				}
			}
			return float64(count)
		}),
		gauge("allforone_tasks_running", "Tasks running on this node now.", func() float64 {
			return float64(n.op.act.Running())
		}),
		gauge("allforone_task_slots", "Tasks this node may run at once.", func() float64 { return float64(n.cfg.Slots) }),
		gauge("allforone_blob_bytes", "Bytes of blobs (modules, inputs, outputs) in the datastore, as last measured.", func() float64 { return float64(n.Usage().BlobBytes) }),
		gauge("allforone_result_bytes", "Bytes of result records in the datastore, as last measured.", func() float64 { return float64(n.Usage().ResultBytes) }),
		gauge("allforone_disk_quota_bytes", "The disk quota for blobs and results (0: none).", func() float64 { return float64(n.Usage().QuotaBytes) }),
		gauge("allforone_paused", "1 while a preference keeps the node from starting tasks.", func() float64 {
			if n.ds == nil || n.pauseReason() == "" {
				return 0
			}
			return 1
		}),
	)
}
