package operator

import (
	"fmt"
	"strings"
	"time"

	"allforone/node/internal/store"
)

// "Why am I idle?": the reasons this node is not computing right now, each with what to
// do about it. The rules read a snapshot of the node (WhyFacts), so each is tested with
// fakes; a new reason is one more line in whyRules.

// WhyReason is one reason the node is not computing, or not as much as it could.
type WhyReason struct {
	// Code names the reason for scripts: no_peers, paused, runner, no_batches, memory,
	// waiting, no_tasks, refused, distrusted, unreachable, incompatible, data_lost.
	Code   string `json:"code"`
	Reason string `json:"reason"` // what is the case
	Fix    string `json:"fix"`    // what to do
}

// WhyReport answers GET /api/v1/why and `allforone why`.
type WhyReport struct {
	Computing bool        `json:"computing"` // a task runs here now
	Running   int         `json:"running"`
	Slots     int         `json:"slots"`
	Summary   string      `json:"summary"`
	Reasons   []WhyReason `json:"reasons"`
}

// WhyFacts is what the reasons are decided from: a snapshot of the node.
type WhyFacts struct {
	Peers        int             // connected peers
	Bootstrap    int             // configured bootstrap peers
	Private      bool            // private swarm (a swarm key)
	Running      int             // tasks running here
	Slots        int             // task slots
	Batches      []WhyBatch      // the batches this node knows
	Pauses       []Pause         // preferences that pause the node now
	MaxMemoryMB  int             // memory a task may use here
	SyncInterval time.Duration   // how often the node asks a peer for running batches
	Distrusted   string          // why stewards distrust this node ("" when they do not)
	Reachability string          // "public", "private" or "unknown"
	Relays       int             // relay reservations held
	Incompatible []string        // peers that run a version this node cannot work with
	DataLoss     *store.DataLoss // what the datastore had lost at this start (node/internal/durable)
	Runner       string          // why task runners cannot start ("" when they can)
	Suspended    time.Duration   // how long running tasks have been suspended
}

// WhyBatch is one known batch, as the reasons see it.
type WhyBatch struct {
	Name     string
	MemoryMB int    // memory one task asks for
	Open     bool   // it may still need work: not finished, not past its deadline
	Refused  string // why this node refuses its module ("" if it does not)
	// Waiting is why its steward says it cannot progress ("" when it did not say so lately).
	Waiting string
}

// whyRules are the reasons, in the order they are shown.
var whyRules = []func(f *WhyFacts) []WhyReason{
	whyNoPeers,
	whyPaused,
	whyRunner,
	whyNoBatches,
	whyMemory,
	whyWaiting,
	whyNoTasks,
	whyRefused,
	whyDistrusted,
	whyUnreachable,
	whyIncompatible,
	whyDataLost,
}

// DecideWhy applies the rules to the facts: a pure function, tested with tables.
func DecideWhy(f WhyFacts) WhyReport {
	r := WhyReport{Computing: f.Running > 0, Running: f.Running, Slots: f.Slots, Reasons: []WhyReason{}}
	for _, rule := range whyRules {
		r.Reasons = append(r.Reasons, rule(&f)...)
	}
	switch {
	case r.Computing && len(r.Reasons) == 0:
		r.Summary = fmt.Sprintf("computing: %d of %d task slots busy", f.Running, f.Slots)
	case r.Computing:
		r.Summary = fmt.Sprintf("computing %d tasks, but: %s", f.Running, r.Reasons[0].Reason)
	case len(r.Reasons) == 0:
		r.Summary = "idle for a moment: looking for work"
	default:
		r.Summary = "idle: " + r.Reasons[0].Reason
	}
	return r
}

func whyNoPeers(f *WhyFacts) []WhyReason {
	if f.Peers > 0 {
		return nil
	}
	if f.Bootstrap == 0 {
		return []WhyReason{{Code: "no_peers", Reason: "no peers: this node has no bootstrap peers, so it cannot find the swarm",
			Fix: "add one: allforone config set bootstrap /ip4/ADDRESS/tcp/4501/p2p/PEER_ID (`allforone id` on a node of the swarm prints it), then restart the daemon"}}
	}
	fix := "check that the bootstrap peers run and that this machine can reach them (address, port, firewall): allforone config show bootstrap"
	if f.Private {
		fix += "; in a private swarm every node needs the same swarm.key"
	}
	return []WhyReason{{Code: "no_peers", Reason: fmt.Sprintf("no peers: none of the %d bootstrap peers could be reached", f.Bootstrap), Fix: fix}}
}

func whyPaused(f *WhyFacts) []WhyReason {
	var out []WhyReason
	for _, p := range f.Pauses {
		reason := "paused by the preference " + p.Pref + ": " + p.Reason
		if f.Suspended > 0 && p.Suspends() {
			reason += fmt.Sprintf("; running tasks are suspended (for %s) and go on where they were when it ends", f.Suspended.Round(time.Second))
		}
		out = append(out, WhyReason{Code: "paused", Reason: reason, Fix: p.Fix})
	}
	return out
}

// whyRunner: no task runner process starts (the binary was replaced or removed).
func whyRunner(f *WhyFacts) []WhyReason {
	if f.Runner == "" {
		return nil
	}
	return []WhyReason{{Code: "runner", Reason: "tasks cannot run: " + f.Runner,
		Fix: "restart the daemon so that it runs the binary now installed; leases are handed back meanwhile and the node tries again with a growing backoff, so no work is lost"}}
}

// whyRefused: a batch whose module this node refused (over the compile budget).
func whyRefused(f *WhyFacts) []WhyReason {
	var out []WhyReason
	for _, b := range f.Batches {
		if b.Refused != "" && b.Open {
			out = append(out, WhyReason{Code: "refused", Reason: fmt.Sprintf("this node refuses the tasks of batch %q: %s", b.Name, b.Refused),
				Fix: "nothing to do for this batch unless you trust it: raise the budget (allforone config set compile_budget 5m, compile_memory_mb 4096) and restart the daemon"})
		}
	}
	return out
}

func whyNoBatches(f *WhyFacts) []WhyReason {
	if f.Peers == 0 || f.Running > 0 {
		return nil
	}
	for _, b := range f.Batches {
		if b.Open {
			return nil
		}
	}
	reason := "no batch has been announced since this node joined"
	if len(f.Batches) > 0 {
		reason = "the batch this node knows is finished or past its deadline"
		if len(f.Batches) > 1 {
			reason = fmt.Sprintf("the %d batches this node knows are finished or past their deadline", len(f.Batches))
		}
	}
	return []WhyReason{{Code: "no_batches", Reason: reason,
		Fix: fmt.Sprintf("nothing to compute until someone submits work (`allforone submit`); this node also asks a peer for running batches every %s", f.SyncInterval)}}
}

func whyMemory(f *WhyFacts) []WhyReason {
	var open, least int
	for _, b := range f.Batches {
		if !b.Open {
			continue
		}
		if b.MemoryMB <= f.MaxMemoryMB {
			return nil
		}
		if open == 0 || b.MemoryMB < least {
			least = b.MemoryMB
		}
		open++
	}
	if open == 0 {
		return nil
	}
	return []WhyReason{{Code: "memory", Reason: fmt.Sprintf("every batch with work needs more memory per task (at least %d MiB) than this node allows (%d MiB)", least, f.MaxMemoryMB),
		Fix: fmt.Sprintf("allow more: allforone config set max_task_memory_mb %d, then restart the daemon", least)}}
}

// whyWaiting: a batch's steward says, in its lease grants, that the batch cannot progress
// with the peers there are (too few can run it for its R, or none allows its memory).
func whyWaiting(f *WhyFacts) []WhyReason {
	var out []WhyReason
	for _, b := range f.Batches {
		if b.Open && b.Waiting != "" {
			name := b.Name
			if name == "" {
				name = "(unnamed)"
			}
			out = append(out, WhyReason{Code: "waiting", Reason: fmt.Sprintf("batch %s cannot progress (its steward says): %s", name, strings.TrimPrefix(b.Waiting, "waiting: ")),
				Fix: "the batch is its submitter's to change (`allforone status BATCH` shows why); this node takes its tasks when it can"})
		}
	}
	return out
}

func whyNoTasks(f *WhyFacts) []WhyReason {
	if f.Running > 0 || f.Peers == 0 || len(f.Pauses) > 0 {
		return nil
	}
	for _, b := range f.Batches {
		if b.Open && b.MemoryMB <= f.MaxMemoryMB && b.Waiting == "" && b.Refused == "" {
			return []WhyReason{{Code: "no_tasks", Reason: "the batches with work have no task to lease right now: every task is leased to another peer or waits for its quorum",
				Fix: "nothing to do: this node asks the stewards again every moment, and takes the next batch's tasks"}}
		}
	}
	return nil
}

// whyDistrusted: a steward that distrusts this node gives it no leases and says why in its
// lease grants.
func whyDistrusted(f *WhyFacts) []WhyReason {
	if f.Distrusted == "" {
		return nil
	}
	return []WhyReason{{Code: "distrusted", Reason: "stewards distrust this node: " + f.Distrusted,
		Fix: "its results disagreed with what the other peers computed: check the machine (overclocking, memory errors, a modified binary); those stewards keep their record, the stewards of other batches judge it afresh"}}
}

// whyUnreachable: AutoNAT says peers cannot dial this node. It still computes (it pulls
// leases over its own connections), but it is no steward or result holder, and without a
// relay reservation peers cannot reach it at all.
func whyUnreachable(f *WhyFacts) []WhyReason {
	if f.Reachability != "private" {
		return nil
	}
	reason := "peers outside this network cannot dial this node (it is behind a NAT or a firewall): it still takes tasks, but holds no results and stewards no batches"
	if f.Relays == 0 {
		reason += "; it has no relay reservation yet, so peers cannot reach it at all"
	}
	return []WhyReason{{Code: "unreachable", Reason: reason,
		Fix: "forward the listen port (TCP and UDP 4501 by default) to this machine, or turn on UPnP on the router and `allforone config set nat.port_map true`"}}
}

func whyIncompatible(f *WhyFacts) []WhyReason {
	if len(f.Incompatible) == 0 {
		return nil
	}
	return []WhyReason{{Code: "incompatible", Reason: fmt.Sprintf("%d peers run a version this node cannot work with: %s", len(f.Incompatible), strings.Join(f.Incompatible, ", ")),
		Fix: "run the same release as the swarm: `allforone version` here and on a peer"}}
}

// whyDataLost: the datastore had lost data when the node started; it fetches what its peers
// have (node/repair.go: resync).
func whyDataLost(f *WhyFacts) []WhyReason {
	if f.DataLoss == nil {
		return nil
	}
	fix := "nothing to do while it has peers: it is fetching the running batches and steward state again, and the results it held come back from their other holders"
	if f.DataLoss.Resynced {
		fix = "nothing to do: it fetched the running batches and steward state again from its peers, and the results it held come back from their other holders"
	}
	if f.DataLoss.Reason != "reset" {
		fix += "; a log that loses synced writes points at the disk: check it, and run `allforone repair` while the daemon is stopped"
	}
	return []WhyReason{{Code: "data_lost", Reason: "this node's datastore lost data before this start: " + f.DataLoss.Summary(), Fix: fix}}
}

// Pause is one preference that keeps the node from starting tasks now.
type Pause struct {
	Pref   string `json:"pref"`   // the config key, e.g. "schedule"
	Reason string `json:"reason"` // what is the case
	Fix    string `json:"fix"`    // what the volunteer can do about it
}

// suspendingPrefs are the preferences whose pause suspends running tasks. A full disk
// only stops new tasks: the running ones may finish.
var suspendingPrefs = map[string]bool{"schedule": true, "cpu_busy_percent": true, "run_on_battery": true}

// Suspends reports whether this pause suspends the tasks running now, not only new ones.
func (p Pause) Suspends() bool { return suspendingPrefs[p.Pref] }
