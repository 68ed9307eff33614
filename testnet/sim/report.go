package sim

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"time"
)

// Report is what a simulation measured. Everything but WallSeconds and the memory figures
// is the same for the same Config.
type Report struct {
	Nodes       int     `json:"nodes"`
	NATNodes    int     `json:"nat_nodes"`
	Batches     int     `json:"batches"`
	TasksTotal  int     `json:"tasks_total"`
	Redundancy  int     `json:"redundancy"`
	Replication int     `json:"replication"`
	Seed        uint64  `json:"seed"`
	Churn       float64 `json:"churn_per_minute"`
	// PrimaryLeases: primaries were fenced (Config.PrimaryLeases).
	PrimaryLeases bool `json:"primary_leases"`

	// Finished: every task's result was stored on a live node before MaxTime.
	Finished bool `json:"finished"`
	// TasksLost are tasks whose result no node that is still part of the swarm holds
	// (never accepted, or its holders all left for good).
	TasksLost int `json:"tasks_lost"`
	// UnderReplicated are tasks with fewer than Replication live holders at the end.
	UnderReplicated int `json:"under_replicated"`
	// MaxPrimaries is the most nodes acting as primary of one batch at one virtual
	// instant, counted from settleTime after its submission; MaxPrimariesWhole the same
	// outside the partition and the minute and a half after it healed.
	MaxPrimaries      int `json:"max_primaries"`
	MaxPrimariesWhole int `json:"max_primaries_outside_partition"`
	// Executions are runs that finished; DuplicateExecutionPct is those beyond R per task,
	// as a share of TasksTotal x R. CutShort are runs lost with a node that left.
	Executions            int     `json:"executions"`
	DuplicateExecutionPct float64 `json:"duplicate_execution_pct"`
	CutShort              int     `json:"executions_cut_short"`
	CompletesLost         int     `json:"completions_undelivered"`
	// Lease latency: from a worker's request to its grant, of requests that got leases,
	// not counting the time a request waited parked at the steward for work to open.
	LeaseGrants int     `json:"lease_grants"`
	LeaseP50Ms  float64 `json:"lease_p50_ms"`
	LeaseP99Ms  float64 `json:"lease_p99_ms"`
	// Messages are every request and answer between nodes (a gossip announcement counts
	// gossipsub's D per node).
	Messages        int64            `json:"messages"`
	MessagesByKind  map[string]int64 `json:"messages_by_kind"`
	MessagesPerTask float64          `json:"messages_per_task"`
	Lookups         int              `json:"lookups"`
	RecordPuts      int              `json:"open_record_puts"`
	StewardCores    int              `json:"steward_cores_started"`
	// CoreEvents are what the steward cores logged, by message: the leases or tasks an
	// event names, or how often it happened.
	CoreEvents    map[string]int `json:"steward_events"`
	Departures    int            `json:"departures"`
	Returns       int            `json:"returns"`
	GoneForGood   int            `json:"gone_for_good"`
	PrimariesLeft int            `json:"primaries_taken_down,omitempty"`
	// Votes are primary-lease votes answered (or timed out), VotesGranted those granted.
	Votes        int `json:"primary_votes"`
	VotesGranted int `json:"primary_votes_granted"`
	// MemoryPerNode is the live heap at its peak, less the heap before the world was
	// built, per node: every simulated node's state, its share of the event queue and of
	// the steward cores included.
	MemoryPerNode  int64   `json:"memory_per_node_bytes"`
	PeakHeapBytes  uint64  `json:"peak_heap_bytes"`
	VirtualSeconds float64 `json:"virtual_seconds"`
	WallSeconds    float64 `json:"wall_seconds"`
	Events         int64   `json:"events"`
	MaxQueue       int     `json:"max_queue"`
	// Stopped: the run was interrupted.
	Stopped bool `json:"stopped,omitempty"`
}

func (s *Sim) report(wall time.Duration, stopped bool) *Report {
	r := &Report{Nodes: s.cfg.Nodes, Batches: len(s.batches), Redundancy: s.cfg.Redundancy, Replication: s.cfg.Replication,
		Seed: s.cfg.Seed, Churn: s.cfg.Churn, PrimaryLeases: s.cfg.PrimaryLeases, Votes: s.votes, VotesGranted: s.votesGranted, Finished: s.finished, Executions: s.executions, CutShort: s.cutShort,
		CompletesLost: s.completesLost, Messages: s.msgs, Lookups: s.lookups, RecordPuts: s.puts, StewardCores: s.stews,
		PrimariesLeft: s.primariesLeft, Departures: s.departures, Returns: s.returns, GoneForGood: s.gone, PeakHeapBytes: s.peakHeap,
		VirtualSeconds: s.now.Seconds(), WallSeconds: wall.Seconds(), Events: s.events, MaxQueue: s.maxQueue, Stopped: stopped}
	r.CoreEvents = maps.Clone(s.coreEvents)
	r.MessagesByKind = map[string]int64{}
	for k, v := range s.byKind {
		r.MessagesByKind[kindNames[k]] = v
	}
	for _, n := range s.nodes {
		if n.nat {
			r.NATNodes++
		}
	}
	dups := 0
	for _, b := range s.batches {
		r.TasksTotal += len(b.execs)
		r.MaxPrimaries = max(r.MaxPrimaries, b.maxPrimaries)
		r.MaxPrimariesWhole = max(r.MaxPrimariesWhole, b.maxPrimariesWhole)
		for t, e := range b.execs {
			dups += max(int(e)-s.cfg.Redundancy, 0)
			kept, live := 0, 0
			for _, h := range b.holders[t] {
				if !s.nodes[h].gone {
					kept++
				}
				if s.nodes[h].up {
					live++
				}
			}
			if kept == 0 {
				r.TasksLost++
			}
			if live < s.cfg.Replication {
				r.UnderReplicated++
			}
		}
	}
	r.TasksLost += (s.cfg.Batches - len(s.batches)) * s.cfg.Tasks
	if r.TasksTotal > 0 {
		r.DuplicateExecutionPct = 100 * float64(dups) / float64(r.TasksTotal*s.cfg.Redundancy)
		r.MessagesPerTask = float64(s.msgs) / float64(r.TasksTotal)
	}
	lat := slices.Clone(s.leaseLatency)
	slices.Sort(lat)
	r.LeaseGrants = len(lat)
	r.LeaseP50Ms, r.LeaseP99Ms = percentile(lat, 0.50), percentile(lat, 0.99)
	if s.peakHeap > s.baseHeap {
		r.MemoryPerNode = int64(s.peakHeap-s.baseHeap) / int64(s.cfg.Nodes)
	}
	return r
}

// percentile of sorted values (nearest rank).
func percentile(sorted []int32, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted))+0.999999) - 1
	return float64(sorted[min(max(i, 0), len(sorted)-1)])
}

// WriteText writes the report for people.
func (r *Report) WriteText(w io.Writer) {
	state := "finished"
	switch {
	case r.Stopped:
		state = "stopped early"
	case !r.Finished:
		state = "NOT finished by the time limit"
	}
	fmt.Fprintf(w, "simulated %d nodes (%d behind NAT), %d batches, %d tasks (R=%d, K=%d), seed %d: %s\n",
		r.Nodes, r.NATNodes, r.Batches, r.TasksTotal, r.Redundancy, r.Replication, r.Seed, state)
	fmt.Fprintf(w, "  tasks lost               %d (under-replicated at the end: %d)\n", r.TasksLost, r.UnderReplicated)
	fence := "unfenced: a steward's own view makes it primary"
	if r.PrimaryLeases {
		fence = fmt.Sprintf("fenced by primary leases: %d of %d votes granted", r.VotesGranted, r.Votes)
	}
	fmt.Fprintf(w, "  max primaries            %d per batch at once (%d outside the partition), %s\n", r.MaxPrimaries, r.MaxPrimariesWhole, fence)
	fmt.Fprintf(w, "  duplicate executions     %.2f%% (%d runs finished, %d cut short by departures, %d results undelivered)\n",
		r.DuplicateExecutionPct, r.Executions, r.CutShort, r.CompletesLost)
	fmt.Fprintf(w, "  lease latency            p50 %.0f ms, p99 %.0f ms (%d grants)\n", r.LeaseP50Ms, r.LeaseP99Ms, r.LeaseGrants)
	fmt.Fprintf(w, "  messages                 %.1f per task (%d; %d lookups, %d open-work puts)\n", r.MessagesPerTask, r.Messages, r.Lookups, r.RecordPuts)
	fmt.Fprintf(w, "  messages by kind        ")
	for _, name := range kindNames {
		fmt.Fprintf(w, " %s %d", name, r.MessagesByKind[name])
	}
	fmt.Fprintln(w)
	for _, msg := range slices.Sorted(maps.Keys(r.CoreEvents)) {
		fmt.Fprintf(w, "  steward cores: %-60s %d\n", msg, r.CoreEvents[msg])
	}
	fmt.Fprintf(w, "  churn                    %.3g of the nodes a minute: %d departures, %d returns, %d gone for good\n", r.Churn, r.Departures, r.Returns, r.GoneForGood)
	fmt.Fprintf(w, "  memory                   %d bytes per node (peak live heap %.1f MiB)\n", r.MemoryPerNode, float64(r.PeakHeapBytes)/(1<<20))
	fmt.Fprintf(w, "  run                      %.0f s virtual in %.1f s wall, %d events (queue at most %d), %d steward cores\n",
		r.VirtualSeconds, r.WallSeconds, r.Events, r.MaxQueue, r.StewardCores)
}
