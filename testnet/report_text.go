package testnet

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// WriteText writes the report for a person.
func (r *Report) WriteText(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	kind := "nodes in one process"
	if r.Processes {
		kind = "daemon processes"
	}
	private := ""
	if r.Private {
		private = ", private swarm"
	}
	p("scenario %s: %d %s%s, %d batch(es) of %s tasks (R=%d, K=%d)", r.Scenario, r.Nodes, kind, private,
		len(r.BatchIDs), r.Module, r.Redundancy, r.Replication)
	p("nodes up in %.1fs, connected in %.1fs; work done in %.1fs (%.1f tasks/s)", r.StartSeconds, r.ConnectivitySeconds, r.BatchSeconds, r.TasksPerSecond)
	p("")
	p("tasks        %d total, %d completed, %d failed, %d lost %s", r.TasksTotal, r.TasksCompleted, r.TasksFailed, r.TasksLost, mark(r.TasksLost == 0))
	p("results      %d with fewer than %d live holders after healing %s (settled in %.1fs); %d not fetchable %s",
		r.UnderReplicated, r.Replication, mark(r.UnderReplicated == 0), r.SettleSeconds, r.Unfetchable, mark(r.Unfetchable == 0))
	for _, ref := range slices.Concat(r.LostTasks, r.UnderReplicatedTasks)[:min(5, len(r.LostTasks)+len(r.UnderReplicatedTasks))] {
		p("  task %d of batch %d: held by %s; its steward counts %s as holders", ref.Task, ref.Batch+1,
			nodeList(ref.Holders), nodeList(ref.StewardHolders))
	}
	p("executions   %d, of which %d duplicate (%.1f%%); %d tasks run more than once; %d leases lost",
		r.Executions, r.DuplicateExecutions, 100*r.DuplicateShare, r.TasksRunMoreThanOnce, r.LostLeases)
	if n := len(r.RecoverySeconds); n > 0 {
		unrecovered := 0
		for _, s := range r.RecoverySeconds {
			if s == nil {
				unrecovered++
			}
		}
		line := fmt.Sprintf("recovery     %d faults: median %.1fs, worst %.1fs", n, r.RecoveryMedian, r.RecoveryMax)
		if unrecovered > 0 {
			line += fmt.Sprintf(", %d not recovered before the end", unrecovered)
		}
		p("%s", line)
	}
	if r.RestartMedian > 0 || r.RestartsFailed > 0 {
		p("restarts     median %.1fs, worst %.1fs to the API answering; %d failed", r.RestartMedian, r.RestartMax, r.RestartsFailed)
	}
	p("nodes up     at least %.0f%% of those no fault held down, at every sample", 100*r.UpShareMin)
	if r.MemoryPSSMiB > 0 {
		p("memory       %.1f MiB PSS per daemon (largest %.1f MiB)", r.MemoryPSSMiB, r.MemoryPSSMaxMiB)
	}
	if r.CPUSecondsPerNode > 0 {
		p("cpu          %.1f s per daemon over the work, %.0f%% of a core", r.CPUSecondsPerNode, r.CPUPercentPerNode)
	}
	if len(r.Events) > 0 {
		p("")
		p("    t  event")
		for _, e := range r.Events {
			line := fmt.Sprintf("%5.1fs  %s", e.Seconds, describe(e))
			if e.Fault {
				if e.RecoverySeconds != nil {
					line += fmt.Sprintf("  -> recovered in %.1fs", *e.RecoverySeconds)
				} else {
					line += "  -> not recovered"
				}
			}
			p("%s", line)
		}
	}
	if len(r.Throughput) > 1 {
		p("")
		p("throughput, tasks accepted per second (one mark per second, ^ a fault):")
		spark, marks := sparkline(r)
		p("  %s", spark)
		if strings.TrimSpace(marks) != "" {
			p("  %s", marks)
		}
	}
	for _, n := range r.Notes {
		p("note: %s", n)
	}
	p("")
	if r.OK {
		p("OK: nothing lost, every result kept by %d live nodes", r.Replication)
	} else {
		p("FAILED: %d tasks lost, %d results under-replicated, %d not fetchable", r.TasksLost, r.UnderReplicated, r.Unfetchable)
	}
}

// nodeList names nodes: "node-1, node-4", or "none".
func nodeList(nodes []int) string {
	if len(nodes) == 0 {
		return "none"
	}
	names := make([]string, len(nodes))
	for i, n := range nodes {
		names[i] = fmt.Sprintf("node-%d", n)
		if n < 0 {
			names[i] = "a peer outside the testnet"
		}
	}
	return strings.Join(names, ", ")
}

func mark(ok bool) string {
	if ok {
		return "✓"
	}
	return "✗"
}

// describe says what an event did, in words.
func describe(e EventRecord) string {
	list := nodeList(e.Nodes)
	var s string
	switch e.Kind {
	case KindKill:
		s = "kill -9 " + list
	case KindRestart:
		s = "restart " + list
	case KindPartition:
		s = "partition"
	case KindHeal:
		s = "heal the partition"
	case KindSlow:
		s = "slow down " + list
	case KindFast:
		s = "back to normal speed: " + list
	default:
		s = e.Kind + " " + list
	}
	if e.Target != "" {
		s += " (" + e.Target + ")"
	}
	if e.Note != "" {
		s += ": " + e.Note
	}
	return s
}

// sparkline draws the per-second rates as block characters, with a line of ^ under the
// seconds in which a fault happened. Long runs are folded into at most 120 columns.
func sparkline(r *Report) (string, string) {
	const width = 120
	per := (len(r.Throughput) + width - 1) / width
	var rates []int
	for i := 0; i < len(r.Throughput); i += per {
		sum := 0
		for _, pt := range r.Throughput[i:min(i+per, len(r.Throughput))] {
			sum += pt.Rate
		}
		rates = append(rates, sum)
	}
	top := 1
	for _, v := range rates {
		top = max(top, v)
	}
	blocks := []rune(" ▁▂▃▄▅▆▇█")
	var spark strings.Builder
	for _, v := range rates {
		spark.WriteRune(blocks[(v*(len(blocks)-1)+top-1)/top])
	}
	marks := []rune(strings.Repeat(" ", len(rates)))
	for _, e := range r.Events {
		if col := int(e.Seconds) / per; e.Fault && col < len(marks) {
			marks[col] = '^'
		}
	}
	return spark.String(), strings.TrimRight(string(marks), " ")
}
