package testnet

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"allforone/node"
	"allforone/tasks"
)

// RunConfig says where and how a scenario runs.
type RunConfig struct {
	// Binary is the allforone executable: every node is an `allforone daemon` process and a
	// kill is SIGKILL. Empty: the nodes run in this process (a Cluster), where a kill is a
	// graceful stop.
	Binary string
	// Dir holds the nodes' data dirs (node-00, ...) and their logs.
	Dir string
	// Log receives progress lines for a person; nil: none.
	Log io.Writer
	// Logger is the log of in-process nodes; nil discards it.
	Logger *slog.Logger
	// Tick is how often the runner looks at the batch; default 250ms.
	Tick time.Duration
}

// RunScenario starts sc's swarm, submits its batch, plays its timeline of faults while the
// batch runs, heals what is still broken, waits for every result to have K live holders
// (at most sc.Settle) and reports. An error means the run itself could not be carried out
// (nodes did not start, the batch could not be submitted); lost tasks are in the report.
func RunScenario(ctx context.Context, sc *Scenario, cfg RunConfig) (*Report, error) {
	if err := sc.Validate(); err != nil {
		return nil, err
	}
	if cfg.Tick <= 0 {
		cfg.Tick = 250 * time.Millisecond
	}
	r := &runner{sc: sc, cfg: cfg, rng: rand.New(rand.NewPCG(sc.Seed, 0x5ce7a110)),
		killed: map[int]bool{}, restarting: map[int]bool{}}
	r.rep = &Report{Scenario: sc.Name, Processes: cfg.Binary != "", Nodes: sc.Nodes, Private: sc.Private,
		Module: sc.Batch.Module, Redundancy: int(sc.Batch.Redundancy), Replication: int(sc.Batch.Replication),
		BatchIDs: []string{}, Events: []EventRecord{}}
	for _, e := range sc.Timeline {
		r.events = append(r.events, &eventState{ev: e, next: e.At.Time})
	}
	kind := "in-process nodes"
	if cfg.Binary != "" {
		kind = "daemon processes"
	}
	r.logf("scenario %s: starting %d %s on loopback (data in %s)", sc.Name, sc.Nodes, kind, cfg.Dir)
	started := time.Now()
	sw, err := startSwarm(ctx, sc, cfg.Binary, cfg.Dir, cfg.Logger)
	if err != nil {
		return nil, err
	}
	r.sw = sw
	defer sw.Close()
	r.rep.StartSeconds = time.Since(started).Seconds()
	wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	err = sw.waitAllKnown(wctx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("the nodes did not all find each other: %w (logs in %s)", err, cfg.Dir)
	}
	r.rep.ConnectivitySeconds = time.Since(started).Seconds()
	r.logf("swarm connected in %.1fs (every node up after %.1fs): every node knows every other", r.rep.ConnectivitySeconds, r.rep.StartSeconds)
	if sc.TaskDelay > 0 {
		for i := range sc.Nodes {
			if err := sw.slow(ctx, i, sc.TaskDelay.D()); err != nil {
				return nil, err
			}
		}
	}
	if err := r.submit(ctx, 0); err != nil {
		return nil, err
	}
	err = r.loop(ctx)
	r.wg.Wait() // restarts in flight
	if err != nil {
		return nil, err
	}
	r.finish(ctx)
	return r.rep, ctx.Err()
}

// runner is one scenario run. The loop goroutine owns everything but the fields under mu,
// which restarts running in their own goroutines update.
type runner struct {
	sc  *Scenario
	cfg RunConfig
	sw  swarm
	rng *rand.Rand
	rep *Report

	start   time.Time // the first submission
	batches []*batchRun
	samples []sample
	events  []*eventState
	later   []scheduled // restarts, heals and speed-ups due at a time
	last    node.BatchStatus
	split   bool // a partition is in force
	doneMax int  // tasks accepted so far, every batch: never decreases
	lastLog time.Time

	mu         sync.Mutex
	killed     map[int]bool // killed by the scenario and still down
	restarting map[int]bool
	health     health // scenario_health.go: nodes up, restart times, CPU
	worstUp    sample // the sample with the smallest share of the expected nodes up
	wg         sync.WaitGroup
}

type batchRun struct {
	id        string
	submitter int
	total     int
	status    node.BatchStatus
	finished  bool
	at, end   time.Duration
}

type eventState struct {
	ev    Event
	next  time.Duration // when a time trigger (or a repetition) is due
	fired int
	over  bool
}

type scheduled struct {
	at time.Duration
	do func(ctx context.Context, now time.Duration)
}

func (r *runner) logf(format string, args ...any) {
	if r.cfg.Log != nil {
		fmt.Fprintf(r.cfg.Log, format+"\n", args...)
	}
}

func (r *runner) now() time.Duration { return time.Since(r.start) }

func (r *runner) current() *batchRun { return r.batches[len(r.batches)-1] }

// submit submits the batch's round-th copy from its submitter, or from another running
// node when the submitter is down.
func (r *runner) submit(ctx context.Context, round int) error {
	req, err := r.sc.request(round)
	if err != nil {
		return err
	}
	// Under churn a submission can find its stewards restarting: like a user, try again
	// (from a node that is up) a few times before giving up.
	var res node.SubmitResult
	from := r.sc.Batch.Submitter
	for attempt := 1; ; attempt++ {
		if !r.up(from) {
			from = r.observer()
		}
		c, err := r.sw.client(from)
		if err != nil {
			return err
		}
		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		res, err = c.Submit(sctx, req)
		cancel()
		if err == nil {
			break
		}
		if attempt == 5 || ctx.Err() != nil {
			return fmt.Errorf("submit from node %d (attempt %d): %w", from, attempt, err)
		}
		r.logf("submit from node-%d failed (attempt %d, trying again in 2s): %v", from, attempt, err)
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
	}
	if round == 0 {
		r.start = time.Now()
		r.noteCPU()
	}
	r.batches = append(r.batches, &batchRun{id: res.BatchID, submitter: from, total: res.Tasks, at: r.now()})
	r.rep.BatchIDs = append(r.rep.BatchIDs, res.BatchID)
	r.logf("node-%d submitted batch %s: %d %s tasks, each run by %d peers (R), each result kept by %d (K)",
		from, short(res.BatchID), res.Tasks, r.sc.Batch.Module, req.Redundancy, req.Replication)
	return nil
}

// up reports whether node i runs and is not being restarted.
func (r *runner) up(i int) bool {
	r.mu.Lock()
	restarting := r.restarting[i]
	r.mu.Unlock()
	return !restarting && r.sw.running(i)
}

// observer is the node the runner asks about the batch: the submitter while it runs, else
// the first running node.
func (r *runner) observer() int {
	if r.up(r.sc.Batch.Submitter) {
		return r.sc.Batch.Submitter
	}
	for i := range r.sc.Nodes {
		if r.up(i) {
			return i
		}
	}
	return r.sc.Batch.Submitter
}

func (r *runner) loop(ctx context.Context) error {
	tick := time.NewTicker(r.cfg.Tick)
	defer tick.Stop()
	for {
		now := r.now()
		r.sample(ctx, now)
		if b := r.current(); b.finished && now < r.sc.Duration.D() {
			if err := r.submit(ctx, len(r.batches)); err != nil {
				return err
			}
		}
		r.fireEvents(ctx, now)
		r.fireScheduled(ctx, now)
		if r.over() {
			return nil
		}
		if now > r.sc.Timeout.D() {
			r.note("the run timed out after %s with the batch unfinished or faults pending", r.sc.Timeout.D())
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func (r *runner) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.rep.Notes = append(r.rep.Notes, msg)
	r.logf("note: %s", msg)
}

// sample asks the observer for the current batch's status and records what it sees.
func (r *runner) sample(ctx context.Context, now time.Duration) {
	b := r.current()
	live, expected, late := r.census(time.Now())
	fresh, minRep := false, 0
	if c, err := r.sw.client(r.observer()); err == nil {
		sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		st, err := c.Status(sctx, b.id)
		cancel()
		if err == nil {
			fresh, minRep = true, st.MinReplicas
			r.last = st
			if st.Done >= b.status.Done || st.State != tasks.BatchRunning {
				b.status = st
			}
			if st.State != tasks.BatchRunning && !b.finished {
				b.finished, b.end = true, now
				r.logf("batch %s %s at %.1fs: %d/%d tasks accepted, %d failed", short(b.id), st.State, now.Seconds(), st.Done, st.Total, st.Failed)
			}
		}
	}
	done, total := 0, 0
	for _, x := range r.batches {
		done += x.status.Done
		total += x.total
	}
	r.doneMax = max(r.doneMax, done)
	r.samples = append(r.samples, sample{T: now, Done: r.doneMax, Total: total, Live: live,
		Expected: expected, Late: late, Active: !b.finished, MinReplicas: minRep, Fresh: fresh})
	if time.Since(r.lastLog) >= 2*time.Second {
		r.lastLog = time.Now()
		r.logf("[%5.1fs] %d/%d tasks accepted, %d running, %d/%d nodes up, steward %s", now.Seconds(),
			r.doneMax, total, r.last.Running, live, r.sc.Nodes, r.nodeName(r.last.Steward))
	}
}

// nodeName is "node-N" for a peer ID of the testnet.
func (r *runner) nodeName(peerID string) string {
	if i := r.index(peerID); i >= 0 {
		return fmt.Sprintf("node-%d", i)
	}
	return "?"
}

// index is the node index of a peer ID, or -1.
func (r *runner) index(peerID string) int {
	for i := range r.sc.Nodes {
		if peerID != "" && r.sw.peerID(i) == peerID {
			return i
		}
	}
	return -1
}

// progress is the share of the first batch's tasks accepted.
func (r *runner) progress() float64 {
	b := r.batches[0]
	return float64(b.status.Done) / float64(max(b.total, 1))
}

// allFinished reports whether every batch has finished and no more will be submitted.
func (r *runner) allFinished(now time.Duration) bool {
	return r.current().finished && now >= r.sc.Duration.D()
}

func (r *runner) fireEvents(ctx context.Context, now time.Duration) {
	for _, es := range r.events {
		if es.over {
			continue
		}
		e := es.ev
		due := now >= es.next
		if es.fired == 0 && e.At.IsShare {
			due = r.progress() >= e.At.Progress
		}
		if due {
			r.act(ctx, e, now)
			es.fired++
			es.next = now + e.Every.D()
			if e.Every == 0 {
				es.over = true
			}
		}
		switch {
		case es.over:
		case e.Every > 0 && e.Until != nil && e.Until.IsShare && r.progress() >= e.Until.Progress,
			e.Every > 0 && e.Until != nil && !e.Until.IsShare && now >= e.Until.Time,
			e.Every > 0 && e.Until == nil && r.allFinished(now):
			es.over = true
		case es.fired == 0 && e.At.IsShare && r.batches[0].finished:
			r.note("%s at %s never happened: the batch ended at %.0f%%", e.Action(), e.At, 100*r.progress())
			es.over = true
		}
	}
}

func (r *runner) fireScheduled(ctx context.Context, now time.Duration) {
	var keep []scheduled
	var due []scheduled
	for _, s := range r.later {
		if now >= s.at {
			due = append(due, s)
		} else {
			keep = append(keep, s)
		}
	}
	r.later = keep
	for _, s := range due {
		s.do(ctx, now)
	}
}

// over reports whether the run's active part is done: every batch finished, every event
// played, nothing scheduled and no node restarting.
func (r *runner) over() bool {
	if !r.allFinished(r.now()) || len(r.later) > 0 {
		return false
	}
	for _, es := range r.events {
		if !es.over {
			return false
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.restarting) == 0
}

// record adds an event to the report and the log.
func (r *runner) record(now time.Duration, kind, target string, nodes []int, note string) {
	r.rep.Events = append(r.rep.Events, EventRecord{Seconds: now.Seconds(), Kind: kind, Target: target,
		Nodes: nodes, Fault: isFault(kind), Note: note})
	var names []string
	for _, i := range nodes {
		names = append(names, fmt.Sprintf("node-%d", i))
	}
	line := fmt.Sprintf("[%5.1fs] %s %v", now.Seconds(), kind, names)
	if target != "" {
		line += " (" + target + ")"
	}
	if note != "" {
		line += ": " + note
	}
	r.logf("%s", line)
}

// restartLater schedules node restarts.
func (r *runner) restartLater(at time.Duration, nodes []int) {
	r.later = append(r.later, scheduled{at: at, do: func(ctx context.Context, now time.Duration) {
		r.restart(ctx, now, nodes, "")
	}})
}

// restart starts nodes again on their data dirs, each in its own goroutine.
func (r *runner) restart(ctx context.Context, now time.Duration, nodes []int, target string) {
	var todo []int
	began := time.Now()
	r.mu.Lock()
	for _, i := range nodes {
		if !r.restarting[i] && !r.sw.running(i) {
			r.restarting[i] = true
			r.health.restarting(i, began) // with the flag, so a census never sees one alone
			todo = append(todo, i)
		}
	}
	r.mu.Unlock()
	if len(todo) == 0 {
		return
	}
	r.record(now, KindRestart, target, todo, "")
	for _, i := range todo {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			err := r.sw.restart(ctx, i)
			r.mu.Lock()
			r.health.restarted(i, err == nil, time.Since(began))
			delete(r.restarting, i)
			if err == nil {
				delete(r.killed, i)
			}
			r.mu.Unlock()
			if err != nil && ctx.Err() == nil {
				r.logf("restart node-%d: %v", i, err)
			}
		}()
	}
}
