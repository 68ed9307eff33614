package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"allforone/node/internal/sandbox"
	"allforone/node/internal/store"
	"allforone/protocol"
	"allforone/protocol/pb"
	"allforone/tasks"
	"allforone/tasks/runner"
	"allforone/tasks/steward"
)

// The worker: while it has free slots it pulls leases from the primary steward of a batch
// with work, runs the tasks in the sandbox and sends back signed result records with their
// outputs. A fast node comes back for more sooner, so it does more.

const (
	idleRetry        = 500 * time.Millisecond // how long a worker with nothing to do waits
	maxBatchBackoff  = 30 * time.Second       // the longest wait before asking a failing batch again
	refusedRetry     = time.Minute            // how long a distrusted worker waits before asking again
	maxRedirects     = protocol.MaxRedirects
	maxCompleteBatch = 64
)

// TestHooks change a node's worker for tests: a slow machine, a lying one.
type TestHooks struct {
	// TaskDelay is added to every task this node runs.
	TaskDelay time.Duration
	// CorruptOutput, when set, replaces every output before it is signed.
	CorruptOutput func(task int, out []byte) []byte
	// TaskGate, when set, is called after each task ran and before its result is
	// recorded; a test blocks in it to hold a worker (and its leases) at a point of its
	// choosing instead of relying on how fast machines are. It must return once ctx ends.
	TaskGate func(ctx context.Context, task int)
}

// WithTestHooks installs test hooks.
func WithTestHooks(h TestHooks) Option {
	return func(n *Node) {
		n.hooks = h
		n.extraDelay.Store(int64(h.TaskDelay))
	}
}

// SetTaskDelay makes every task this node runs take d longer: a slow machine, for tests
// and testnets.
func (n *Node) SetTaskDelay(d time.Duration) { n.extraDelay.Store(int64(d)) }

func (n *Node) taskDelay() time.Duration { return time.Duration(n.extraDelay.Load()) }

// wakeWorker tells the work loop that there may be new work.
func (n *Node) wakeWorker() {
	select {
	case n.workWake <- struct{}{}:
	default:
	}
}

func (n *Node) workLoop(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for ctx.Err() == nil {
		free := cap(n.slots) - len(n.slots)
		var b *batch
		if free > 0 && n.pauseReason() == "" && !n.draining.Load() {
			b = n.nextRunnable(time.Now())
		}
		if b == nil {
			timer.Reset(idleRetry)
			select {
			case <-ctx.Done():
				return
			case <-n.workWake:
			case <-n.slotFreed:
			case <-timer.C:
			}
			continue
		}
		steward, leases, err := n.requestLeases(ctx, b, free)
		b.mu.Lock()
		switch {
		case err != nil:
			n.logs.worker.Debug("lease request", "batch", b.id.String(), "err", err)
			// Back off further each time: a batch whose stewards or blobs cannot be
			// reached must not eat the time of the batches that can.
			b.backoff = min(max(2*b.backoff, idleRetry), maxBatchBackoff)
			b.retryAt = time.Now().Add(b.backoff)
		case leases.GetRefused() != "":
			// This steward distrusts us: say so (why) and ask again only now and then.
			b.refused, b.refusedAt = leases.GetRefused(), time.Now()
			b.retryAt = time.Now().Add(refusedRetry)
		case leases.GetDone():
			b.workDone = true
			b.waitingLine = ""
		case len(leases.GetLeases()) > 0:
			b.backoff, b.refused = 0, ""
			b.waitingLine, b.waitingLineAt = leases.GetWaiting(), time.Now()
		case len(leases.GetLeases()) == 0:
			b.waitingLine, b.waitingLineAt = leases.GetWaiting(), time.Now()
			b.retryAt = time.Now().Add(time.Duration(max(leases.GetRetryAfterMs(), 50)) * time.Millisecond)
		}
		b.mu.Unlock()
		n.metrics.Leased.Add(float64(len(leases.GetLeases())))
		for _, l := range leases.GetLeases() {
			b.hold(int(l.GetTask()))
			n.slots <- struct{}{}
			ok := n.goLoop("task", func(context.Context) {
				n.runLease(n.workCtx, b, int(l.GetTask()), steward)
				<-n.slots
				select {
				case n.slotFreed <- struct{}{}:
				default:
				}
			})
			if !ok {
				<-n.slots
				b.unhold(int(l.GetTask()))
			}
		}
	}
}

// nextRunnable picks a batch that may have work, rotating among them.
func (n *Node) nextRunnable(now time.Time) *batch {
	all := n.listBatches()
	if len(all) == 0 {
		return nil
	}
	n.rr++
	for k := range all {
		b := all[(n.rr+k)%len(all)]
		stewardDone := n.stewardDone(b)
		b.mu.Lock()
		ok := !b.workDone && b.refusedModule == "" && now.After(b.retryAt) && now.Before(b.m.Deadline) && !stewardDone &&
			n.fitsMemory(b.m.Limits.MemoryPages) // operator.go: a task that needs more memory than allowed would fail here
		b.mu.Unlock()
		if ok {
			return b
		}
	}
	return nil
}

// stewardCall sends a steward request to the primary steward of b, following redirects
// and handing the batch to a steward that does not know it (protocol.StewardClient); a
// request to this node is handled in-process. It returns who answered.
func (n *Node) stewardCall(ctx context.Context, b *batch, req *pb.StewardRequest) (peer.ID, *pb.StewardResponse, error) {
	return n.stewardClient.ToPrimary(ctx, n.route(b), req)
}

func (n *Node) requestLeases(ctx context.Context, b *batch, free int) (peer.ID, *pb.LeaseGrant, error) {
	return n.requestLeasesWith(ctx, b, free, true)
}

// requestLeasesWith asks b's steward for up to free leases, saying this node's memory cap
// and, with holding, the tasks it holds (a decline, with free 0, says nothing of them).
func (n *Node) requestLeasesWith(ctx context.Context, b *batch, free int, holding bool) (peer.ID, *pb.LeaseGrant, error) {
	lr := &pb.LeaseRequest{Max: uint32(free), HoldingSet: holding, MemoryMb: uint32(n.cfg.MaxTaskMemoryMB)}
	b.mu.Lock()
	for t := range b.holding {
		if holding {
			lr.Holding = append(lr.Holding, uint32(t))
		}
	}
	b.mu.Unlock()
	from, g, err := n.stewardClient.Lease(ctx, n.route(b), lr)
	if err != nil {
		return from, nil, err
	}
	return from, g, nil
}

// runLease runs one leased task and reports it, renewing the lease while it runs.
func (n *Node) runLease(ctx context.Context, b *batch, task int, steward peer.ID) {
	rctx, stopRenew := context.WithCancel(ctx)
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		n.renewWhileRunning(rctx, b, task)
	}()
	rec, out, note, err := n.execute(ctx, b, task, steward)
	stopRenew()
	<-renewed
	if err != nil {
		b.mu.Lock()
		b.backoff = min(max(2*b.backoff, idleRetry), maxBatchBackoff)
		b.retryAt = time.Now().Add(b.backoff)
		b.mu.Unlock()
		// Not the task's fault (a blob could not be fetched, the node is closing): hand the
		// lease back so another peer runs it now.
		n.logs.worker.Debug("task not run", "batch", b.id.String(), "task", task, "err", err)
		n.metrics.Returned.Inc()
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n.stewardClient.Return(rctx, n.route(b), []uint32{uint32(task)})
		b.unhold(task)
		return
	}
	n.queueCompletion(b, completion{rec: rec, out: out, note: note})
}

// execute fetches what the task needs, runs it and signs the record; after a failure the
// note says what happened.
func (n *Node) execute(ctx context.Context, b *batch, task int, steward peer.ID) (rec tasks.ResultRecord, out []byte, note *tasks.FailureNote, err error) {
	m := b.m
	module, err := n.fetchBlob(ctx, m.Module.CID, m.Module.Size, steward, m.Submitter)
	if err != nil {
		return rec, nil, nil, err
	}
	in, err := m.Input(task)
	if err != nil {
		return rec, nil, nil, err
	}
	input, err := tasks.ResolveInput(ctx, blobFetcher{n, [2]peer.ID{steward, m.Submitter}}, in)
	if err != nil {
		return rec, nil, nil, err
	}
	taskID := tasks.TaskID(b.id, task)
	n.taskStarted(b, task)
	finished := false
	defer func() {
		if !finished {
			n.taskAbandoned(b, task)
		}
	}()
	start := time.Now()
	runCtx, stopGuard := n.op.pause.Guard(ctx, leaseDuration(m)) // a pause that outlasts the lease hands it back
	res, runErr := n.exec.Run(runCtx, tasks.Job{
		ModuleID: m.Module.CID, Module: module, Input: input, Args: m.Args, Env: m.Env,
		Limits: m.Limits, Seed: tasks.TaskSeed(taskID),
	})
	stopGuard()
	if d := n.taskDelay(); d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
		}
	}
	if n.hooks.TaskGate != nil {
		n.hooks.TaskGate(ctx, task)
	}
	if ctx.Err() != nil || errors.Is(runErr, tasks.ErrClosed) {
		return rec, nil, nil, fmt.Errorf("node closing: %w", errors.Join(ctx.Err(), runErr))
	}
	if errors.Is(runErr, sandbox.ErrPausedTooLong) || errors.Is(runErr, runner.ErrRunnerUnavailable) {
		return rec, nil, nil, fmt.Errorf("task not run: %w", runErr) // not the task's fault: hand it back
	}
	if errors.Is(runErr, tasks.ErrCompileBudget) {
		b.refuse(runErr) // take no more of its tasks; status and why say so
	}
	rec = tasks.ResultRecord{Batch: b.id, Task: task, Finished: time.Now(), Duration: time.Since(start)}
	if runErr != nil {
		rec.Error = tasks.RecordError(runErr)
		fn := tasks.NoteOf(runErr, res.Stderr)
		note = &fn
		n.logs.worker.Debug("task failed", "batch", b.id.String(), "task", task, "kind", rec.Error, "err", runErr)
		n.metrics.TasksFailed.Inc()
	} else {
		out = res.Output
		if n.hooks.CorruptOutput != nil {
			out = n.hooks.CorruptOutput(task, out)
		}
		rec.Output, rec.OutputSize = tasks.ContentID(out), uint64(len(out))
		// Keep the output: if the steward dies before the result reaches its holders,
		// the next steward fetches it from here.
		if _, err := n.blobs.Put(ctx, out); err != nil {
			return rec, nil, nil, err
		}
		n.metrics.TasksRun.Inc()
	}
	n.metrics.ExecSeconds.Observe(res.Duration.Seconds())
	if err := rec.Sign(n.sk); err != nil {
		return rec, nil, nil, err
	}
	n.taskFinished(b, task, rec)
	finished = true
	return rec, out, note, nil
}

// blobFetcher fetches task input blobs with the steward and submitter as first hints.
type blobFetcher struct {
	n     *Node
	hints [2]peer.ID
}

func (f blobFetcher) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	return f.n.fetchBlob(ctx, c, 0, f.hints[:]...)
}

// renewWhileRunning renews the lease on a task every third of its duration until ctx ends,
// so a slow download of a large module does not let the lease lapse.
func (n *Node) renewWhileRunning(ctx context.Context, b *batch, task int) {
	t := time.NewTicker(leaseDuration(b.m) / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := n.stewardClient.Renew(ctx, n.route(b), []uint32{uint32(task)}); err != nil {
				n.logs.worker.Debug("lease renewal", "batch", b.id.String(), "task", task, "err", err)
			}
		}
	}
}

// taskStarted, taskAbandoned and taskFinished keep the activity record
// (operator.Record): what the dashboard and `allforone why` show.
func (n *Node) taskStarted(b *batch, task int) {
	n.op.act.Started(b.id.String(), b.m.Name, task, time.Now())
}

// taskAbandoned forgets a task that started but produced no result (the node is closing).
func (n *Node) taskAbandoned(b *batch, task int) { n.op.act.Abandoned(b.id.String(), task) }

func (n *Node) taskFinished(b *batch, task int, rec tasks.ResultRecord) {
	r := RecentResult{BatchID: b.id.String(), Name: b.m.Name, Task: task, OK: rec.OK(), Error: rec.Error,
		OutputSize: rec.OutputSize, Seconds: rec.Duration.Seconds(), Finished: rec.Finished}
	if rec.OK() {
		r.Output = rec.Output.String()
		// Remember the output for garbage collection; a lost key only leaves a blob behind.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		n.ds.Put(ctx, store.RanKey(b.id, task), rec.Output.Bytes())
		cancel()
	}
	n.op.act.Finished(r)
}

// The sandbox (node/internal/sandbox): the runner pool and the pause.

// RunnerCacheDir is the runners' compilation cache in a data dir, shared by the daemon and
// `allforone run --local`.
func RunnerCacheDir(dataDir string) string { return sandbox.CacheDir(dataDir) }

func (n *Node) newSandbox() (sandbox.Sandbox, error) {
	return sandbox.New(sandbox.Config{DataDir: n.cfg.DataDir, Slots: n.cfg.Slots,
		MaxTaskMemoryMB: n.cfg.MaxTaskMemoryMB, IdlePriority: n.cfg.TaskPriority != PriorityNormal,
		CompileBudget: time.Duration(n.cfg.CompileBudget), CompileMemoryMB: n.cfg.CompileMemoryMB,
		Log: n.logs.sandbox})
}

// runnerCPU is the CPU time the node's runners used: part of the node's own use when it
// measures how busy the machine is.
func (n *Node) runnerCPU() time.Duration { return sandbox.CPUTime(n.exec) }

// RunnerPids lists the process IDs of the node's live task runners.
func (n *Node) RunnerPids() []int { return sandbox.Pids(n.exec) }

// pauseLoop suspends the runners while a suspending preference pauses work and resumes
// them when it no longer does. It resumes them when the node stops, so Close can end them.
func (n *Node) pauseLoop(ctx context.Context) {
	n.op.pause.Loop(ctx, n.exec, n.suspendReason, n.logs.sandbox)
}

// suspendReason is the first suspending preference that pauses work now, or "".
func (n *Node) suspendReason() string {
	for _, p := range n.pauses() {
		if p.Suspends() {
			return p.Pref + ": " + p.Reason
		}
	}
	return ""
}

// A graceful stop (SIGTERM, or Close on a running node) leaves nothing behind: the node
// stops taking leases, lets its running tasks finish for half of the shutdown budget and
// hands the rest back (the steward re-grants them at once), delivers the results it has,
// gives its steward state to the next stewards, and makes sure every result it holds has
// K copies on other peers. Then Close stops everything; the whole takes at most
// Config.ShutdownTimeout.

// drain runs the graceful part of Close.
func (n *Node) drain() {
	start := time.Now()
	budget := time.Duration(n.cfg.ShutdownTimeout)
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	n.draining.Store(true)
	n.wakeWorker()

	// Running tasks: finish if they can, else go back to the pool.
	running := len(n.slots)
	n.waitUntil(ctx, budget/2, func() bool { return len(n.slots) == 0 })
	n.workCancel()
	n.waitUntil(ctx, budget, func() bool { return len(n.slots) == 0 })
	// Finished work reaches its steward.
	n.waitUntil(ctx, budget, func() bool {
		for _, b := range n.listBatches() {
			b.mu.Lock()
			busy := b.sending || len(b.completions) > 0
			b.mu.Unlock()
			if busy {
				return false
			}
		}
		return true
	})
	// Steward roles: the next stewards get a full, current copy.
	handed := 0
	for _, b := range n.listBatches() {
		if l := n.stewardOf(b); l != nil && l.primary.Load() && ctx.Err() == nil {
			// Copies to every other steward, the pending stores, and the answer once done.
			if _, err := l.call(ctx, func(_ time.Time, r steward.ReqID) steward.Input { return steward.HandOff{Req: r} }); err == nil {
				handed++
			}
			// Then the primary lease goes: the next steward takes over without waiting
			// for it to run out (the votes that give it up go out as the loop stops).
			l.call(ctx, func(now time.Time, r steward.ReqID) steward.Input { return steward.Release{Req: r, Now: now} })
		}
	}
	// Results held here: K copies elsewhere, or this node keeps them (on disk) anyway.
	copies := n.handOffResults(ctx)
	n.logs.node.Info("graceful stop", "tasks_running", running, "steward_roles_handed_over", handed,
		"result_copies_made", copies, "seconds", time.Since(start).Seconds())
}

// waitUntil polls cond every 20ms for at most d (and until ctx ends).
func (n *Node) waitUntil(ctx context.Context, d time.Duration, cond func() bool) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// handOffResults gives every result this node holds to the K closest live peers other than
// itself that lack it (placement's HandOffTargets), and returns how many copies it made.
func (n *Node) handOffResults(ctx context.Context) int {
	made, _ := n.pushHeld(ctx, newRepairState(), n.liveView(), true)
	return made
}
