package testnet

import (
	"context"
	"strings"
	"time"

	"allforone/node"
)

// settlePoll is how often the runner counts holders while the swarm repairs.
const settlePoll = 500 * time.Millisecond

// finish heals what is still broken, waits for every result to have K live holders, checks
// that the results can be fetched, and fills in the report.
func (r *runner) finish(ctx context.Context) {
	rep := r.rep
	r.fillHealth(r.now()) // over the work, before the settling below
	for _, b := range r.batches {
		rep.TasksTotal += b.total
		rep.BatchSeconds = max(rep.BatchSeconds, b.end.Seconds())
	}
	if r.split {
		r.heal(ctx, r.now(), "the end of the run")
	}
	k := r.sc.Batch.Replication
	settled := time.Now()
	deadline := settled.Add(r.sc.Settle.D())
	// Healed means connected again: nodes that restarted late find the others first.
	wctx, cancel := context.WithDeadline(ctx, deadline)
	if err := r.sw.waitAllKnown(wctx); err != nil {
		r.note("the swarm was not whole again within %s of the end: %v", r.sc.Settle.D(), err)
	}
	cancel()
	finished := true
	for _, b := range r.batches {
		finished = finished && b.finished
	}
	for {
		r.sample(ctx, r.now())
		rep.TasksLost, rep.UnderReplicated = 0, 0
		rep.LostTasks, rep.UnderReplicatedTasks = nil, nil
		for bi, b := range r.batches {
			for t, holders := range r.holders(ctx, b) {
				ref := TaskRef{Batch: bi, Task: t, Holders: holders}
				switch {
				case len(holders) == 0:
					rep.TasksLost++
					rep.LostTasks = appendCapped(rep.LostTasks, ref)
				case len(holders) < int(k):
					rep.UnderReplicated++
					rep.UnderReplicatedTasks = appendCapped(rep.UnderReplicatedTasks, ref)
				}
			}
		}
		if rep.TasksLost+rep.UnderReplicated == 0 || !finished || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(settlePoll):
		}
	}
	rep.SettleSeconds = time.Since(settled).Seconds()
	r.logf("after the faults: %d tasks lost, %d results with fewer than %d live holders (%.1fs to settle)",
		rep.TasksLost, rep.UnderReplicated, k, rep.SettleSeconds)

	obs := r.observer()
	var stats taskTally
	for bi, b := range r.batches {
		rep.TasksCompleted += b.status.Done
		rep.TasksFailed += b.status.Failed
		rep.Unfetchable += r.unfetchable(ctx, obs, b)
		var problems []*TaskRef
		for _, refs := range [][]TaskRef{rep.LostTasks, rep.UnderReplicatedTasks} {
			for i := range refs {
				if refs[i].Batch == bi {
					problems = append(problems, &refs[i])
				}
			}
		}
		v, ok := r.stewardView(ctx, b, problems)
		if !ok {
			r.note("no steward of batch %s answered with its task counts: executions not counted", short(b.id))
			continue
		}
		t := tally(v.Redundancy, v.Tasks)
		stats.executions += t.executions
		stats.duplicates += t.duplicates
		stats.rerun += t.rerun
		stats.lost += t.lost
	}
	rep.Executions, rep.DuplicateExecutions = stats.executions, stats.duplicates
	rep.TasksRunMoreThanOnce, rep.LostLeases = stats.rerun, stats.lost
	if stats.executions > 0 {
		rep.DuplicateShare = float64(stats.duplicates) / float64(stats.executions)
	}
	if rep.BatchSeconds > 0 {
		rep.TasksPerSecond = float64(rep.TasksCompleted) / rep.BatchSeconds
	}
	r.memory()
	for i := range rep.Events {
		e := &rep.Events[i]
		if !e.Fault {
			continue
		}
		if d, ok := recoveryAfter(r.samples, time.Duration(e.Seconds*float64(time.Second)), int(k)); ok {
			s := d.Seconds()
			e.RecoverySeconds = &s
		}
	}
	rep.summarizeRecovery()
	rep.Throughput = series(r.samples)
	rep.OK = rep.TasksLost == 0 && rep.UnderReplicated == 0 && rep.Unfetchable == 0
	if r.sc.MinUpShare > 0 && rep.UpShareMin < r.sc.MinUpShare {
		rep.OK = false
		w := r.worstUp
		r.note("at %.1fs only %d of the %d nodes no fault held down were up, %.0f%% (want %.0f%%): %s",
			w.T.Seconds(), w.Live, w.Expected, 100*rep.UpShareMin, 100*r.sc.MinUpShare, strings.Join(w.Late, ", "))
	}
}

// holders lists, for each task of b, the running nodes that hold its result.
func (r *runner) holders(ctx context.Context, b *batchRun) [][]int {
	out := make([][]int, b.total)
	for _, i := range r.upNodes() {
		held, err := r.held(ctx, i, b.id)
		if err != nil {
			continue
		}
		for _, t := range held {
			if t >= 0 && t < len(out) {
				out[t] = append(out[t], i)
			}
		}
	}
	return out
}

// maxTaskRefs bounds the tasks a report names.
const maxTaskRefs = 100

func appendCapped(refs []TaskRef, ref TaskRef) []TaskRef {
	if len(refs) >= maxTaskRefs {
		return refs
	}
	return append(refs, ref)
}

// unfetchable is how many of b's results node obs cannot fetch from the swarm.
func (r *runner) unfetchable(ctx context.Context, obs int, b *batchRun) int {
	c, err := r.sw.client(obs)
	if err != nil {
		return b.total
	}
	fctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	fr, err := c.Fetch(fctx, b.id)
	if err != nil {
		r.note("fetch batch %s on node-%d: %v", short(b.id), obs, err)
		return b.total
	}
	return len(fr.Missing)
}

// stewardView asks b's stewards (the last primary first) for their view of every task, and
// fills in which nodes they believe hold the problem tasks' results.
func (r *runner) stewardView(ctx context.Context, b *batchRun, problems []*TaskRef) (node.TestingTasks, bool) {
	tasks := make([]int, len(problems))
	for i, p := range problems {
		tasks[i] = p.Task
	}
	order := []int{r.index(b.status.Steward)}
	order = append(order, r.upNodes()...)
	for _, i := range order {
		if i < 0 || !r.up(i) {
			continue
		}
		c, err := r.sw.client(i)
		if err != nil {
			continue
		}
		tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		v, err := c.StewardTasks(tctx, b.id, tasks...)
		cancel()
		if err != nil {
			continue
		}
		for _, p := range problems {
			if p.Task >= len(v.Tasks) {
				continue
			}
			p.StewardHolders = []int{}
			for _, id := range v.Tasks[p.Task].HolderIDs {
				p.StewardHolders = append(p.StewardHolders, r.index(id))
			}
		}
		return v, true
	}
	return node.TestingTasks{}, false
}

// memory records the daemons' proportional set size (processes on Linux only).
func (r *runner) memory() {
	var sum, most float64
	n := 0
	for _, i := range r.upNodes() {
		if m, ok := r.sw.pssMiB(i); ok {
			sum += m
			most = max(most, m)
			n++
		}
	}
	if n > 0 {
		r.rep.MemoryPSSMiB, r.rep.MemoryPSSMaxMiB = sum/float64(n), most
	}
}
