package runner

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ipfs/go-cid"

	"allforone/tasks"
)

// Run runs one task in a runner: it waits for a free slot (or ctx), sends the job (and
// the module, if the runner has not compiled it), and watches the runner until it answers.
// The task's Limits.Timeout is a CPU-time limit, with a wall-time cap of WallFactor times
// it; the module's compilation runs under the compile budget. Failures are *TaskError
// values as from tasks.Executor, plus ErrCompileBudget and ErrCrashed; a module refused
// for its compile budget is refused again at once. A canceled ctx kills the runner and
// returns ctx's error; a closed pool ErrClosed; no runner ErrRunnerUnavailable.
func (p *Pool) Run(ctx context.Context, job tasks.Job) (tasks.Result, error) {
	if err := p.enter(); err != nil {
		return tasks.Result{}, err
	}
	defer p.wg.Done()
	limits := p.Clamp(job.Limits)
	if err := p.refusedErr(job.ModuleID); err != nil {
		return tasks.Result{Limits: limits}, err
	}
	s, err := p.acquire(ctx)
	if err != nil {
		return tasks.Result{Limits: limits}, err
	}
	defer p.release(s)
	if err := p.waitResumed(ctx); err != nil {
		return tasks.Result{Limits: limits}, err
	}
	w := &watch{p: p, pr: s.proc, job: job, limits: limits, start: time.Now()}
	res, err := w.run(ctx)
	res.Limits = limits
	return res, err
}

// Compile compiles a module in a runner ahead of its tasks, under the compile budget.
// Other runners compile it from the on-disk cache when their first task needs it.
func (p *Pool) Compile(ctx context.Context, id cid.Cid, module []byte) error {
	if err := p.enter(); err != nil {
		return err
	}
	defer p.wg.Done()
	if err := p.refusedErr(id); err != nil {
		return err
	}
	s, err := p.acquire(ctx)
	if err != nil {
		return err
	}
	defer p.release(s)
	if err := p.waitResumed(ctx); err != nil {
		return err
	}
	w := &watch{p: p, pr: s.proc, job: tasks.Job{ModuleID: id, Module: module}, start: time.Now()}
	_, err = w.run(ctx)
	return err
}

// waitResumed waits while the pool is suspended.
func (p *Pool) waitResumed(ctx context.Context) error {
	susp, resumed := p.isSuspended()
	if !susp {
		return nil
	}
	select {
	case <-resumed:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-p.stop:
		return tasks.ErrClosed
	}
}

// watch is one conversation with a runner: a job (or a compile alone, when limits is
// zero) and the limits it runs under.
type watch struct {
	p      *Pool
	pr     *proc
	job    tasks.Job
	limits tasks.Limits
	start  time.Time

	compiling bool
	unlock    func()        // releases the module's compile lock; nil when not held
	left      time.Duration // how far the nearest limit was at the last check
	cpu0      time.Duration // the runner's CPU time when the phase began
	rss0      uint64        // the runner's resident memory when the phase began
	active    time.Duration // wall time of the phase, not counting suspension
	last      time.Time
	stderr    tailBuffer
}

func (w *watch) compileOnly() bool { return w.limits == (tasks.Limits{}) }

func (w *watch) run(ctx context.Context) (tasks.Result, error) {
	defer w.unlockCompile()
	if w.compileOnly() {
		if err := w.sendModule(ctx); err != nil {
			return tasks.Result{}, err
		}
	} else {
		if err := w.pr.send(msgJob, encodeJob(w.job, w.limits)); err != nil {
			return tasks.Result{}, w.crashed(err)
		}
		w.phase(false)
	}
	gap := w.p.cfg.PollInterval
	tick := time.NewTimer(gap)
	defer tick.Stop()
	for {
		select {
		case f, ok := <-w.pr.frames:
			if !ok {
				<-w.pr.dead
				return tasks.Result{}, w.crashed(nil)
			}
			if f.typ == msgNeed {
				if err := w.sendModule(ctx); err != nil {
					return tasks.Result{}, err
				}
				continue
			}
			res, err, done := w.handle(f)
			if done {
				return res, err
			}
		case <-ctx.Done():
			w.pr.kill()
			return tasks.Result{}, fmt.Errorf("task canceled after %s: %w", time.Since(w.start).Round(time.Millisecond), context.Cause(ctx))
		case <-w.p.stop:
			w.pr.kill()
			return tasks.Result{}, tasks.ErrClosed
		case now := <-tick.C:
			if err := w.check(now); err != nil {
				w.pr.kill()
				return tasks.Result{Stderr: w.stderr.bytes(), Duration: time.Since(w.start)}, err
			}
			gap = nextPoll(gap, w.left, w.p.cfg.PollInterval)
			tick.Reset(gap)
		}
	}
}

// handle acts on one frame from the runner; done says the conversation is over.
func (w *watch) handle(f frame) (tasks.Result, error, bool) {
	switch f.typ {
	case msgStderr:
		fs, _ := decodeFields(f.payload)
		w.stderr.write(fs.bytes(1))
	case msgCompiled:
		w.unlockCompile()
		fs, err := decodeFields(f.payload)
		if err != nil {
			w.pr.kill()
			return tasks.Result{}, fmt.Errorf("runner sent a bad compiled frame: %w", err), true
		}
		if cerr := fs.failure(nil); cerr != nil {
			if strings.HasSuffix(cerr.Error(), tasks.ErrNotCompiled.Error()) { // sent as text
				cerr = fmt.Errorf("module %s: %w: pass its bytes in Job.Module", w.job.ModuleID, tasks.ErrNotCompiled)
			}
			return tasks.Result{}, cerr, true
		}
		if w.compileOnly() {
			return tasks.Result{}, nil, true
		}
		w.phase(false)
	case msgResult:
		res, terr, err := decodeResult(f.payload)
		if err != nil {
			w.pr.kill()
			return tasks.Result{}, err, true
		}
		if terr != nil {
			res.Output = nil
		}
		return res, terr, true
	default:
		w.pr.kill()
		return tasks.Result{}, fmt.Errorf("runner sent an unexpected frame of type %d", f.typ), true
	}
	return tasks.Result{}, nil, false
}

// sendModule sends the job's module and starts the compile phase, once no other runner
// compiles it.
func (w *watch) sendModule(ctx context.Context) error {
	unlock, err := w.p.compileLock(ctx, w.job.ModuleID)
	if err != nil {
		w.pr.kill() // it waits for a module that will not come
		return err
	}
	w.unlock = unlock
	if err := w.p.refusedErr(w.job.ModuleID); err != nil {
		w.pr.kill() // another runner found it over the budget meanwhile
		return err
	}
	var b []byte
	b = appendBytes(b, 1, w.job.ModuleID.Bytes())
	if w.job.Module != nil {
		b = appendBytes(b, 2, w.job.Module)
	}
	w.phase(true)
	if err := w.pr.send(msgModule, b); err != nil {
		return w.crashed(err)
	}
	return nil
}

func (w *watch) unlockCompile() {
	if w.unlock != nil {
		w.unlock()
		w.unlock = nil
	}
}

// phase starts the compile or the run phase: their budgets count from here.
func (w *watch) phase(compiling bool) {
	w.compiling = compiling
	w.cpu0, _ = w.pr.cpu()
	w.rss0, _ = readRSS(w.pr.pid)
	w.active = 0
	w.last = time.Now()
}

// nextPoll is the gap before the next check: twice the last, at most 20x the shortest,
// at most half of what is left of the nearest limit (a runner spends at most about twice
// its wall time in CPU time: wazero runs a task on one thread, and the collector), never
// below the shortest.
func nextPoll(last, left, shortest time.Duration) time.Duration {
	return max(shortest, min(2*last, 20*shortest, left/2))
}

// check reads the runner's CPU time and memory and returns the error of a passed limit.
func (w *watch) check(now time.Time) error {
	elapsed := now.Sub(w.last)
	w.last = now
	if susp, _ := w.p.isSuspended(); susp {
		return nil // stopped: neither CPU time nor the wall cap advance
	}
	w.active += elapsed
	cpu, ok := w.pr.cpu()
	used := cpu - w.cpu0
	if !ok {
		used = w.active // no CPU time from this OS: the limit counts wall time
	}
	// Memory counts what the runner grew by in this phase: modules it compiled for earlier
	// tasks are not this task's doing (and idle runners that grew are replaced, release).
	rss, rssOK := readRSS(w.pr.pid)
	grown := uint64(0)
	if rssOK && rss > w.rss0 {
		grown = rss - w.rss0
	}
	cfg := &w.p.cfg
	if w.compiling {
		budget := cfg.CompileCPU
		w.left = min(budget-used, time.Duration(cfg.WallFactor)*budget-w.active)
		var why string
		switch {
		case used > budget:
			why = fmt.Sprintf("took more than the compile budget of %s of CPU time", budget)
		case w.active > time.Duration(cfg.WallFactor)*budget:
			why = fmt.Sprintf("took more than %s of wall time (%dx the compile budget of %s)", time.Duration(cfg.WallFactor)*budget, cfg.WallFactor, budget)
		case grown > cfg.CompileMemory:
			why = fmt.Sprintf("needed more than the compile budget of %s of memory", mib(cfg.CompileMemory))
		default:
			return nil
		}
		err := &tasks.TaskError{Kind: tasks.ErrCompileBudget,
			Detail: fmt.Sprintf("compiling the module %s and was stopped: this node refuses the module for every task of its batch (a volunteer can raise the budget: compile_budget, compile_memory_mb)", why)}
		w.p.refuse(w.job.ModuleID, err)
		w.p.log.Warn("module refused", "module", w.job.ModuleID, "reason", why)
		return err
	}
	limit := w.limits.Timeout
	memCap := w.limits.MemoryBytes() + cfg.MemoryOverhead
	w.left = min(limit-used, time.Duration(cfg.WallFactor)*limit-w.active)
	switch {
	case used > limit && ok:
		return &tasks.TaskError{Kind: tasks.ErrTimeout, Stderr: w.stderr.bytes(),
			Detail: fmt.Sprintf("task used more than its time limit of %s of CPU time and was stopped", limit)}
	case used > limit:
		return &tasks.TaskError{Kind: tasks.ErrTimeout, Stderr: w.stderr.bytes(),
			Detail: fmt.Sprintf("task ran past its time limit of %s and was stopped", limit)}
	case w.active > time.Duration(cfg.WallFactor)*limit:
		return &tasks.TaskError{Kind: tasks.ErrTimeout, Stderr: w.stderr.bytes(),
			Detail: fmt.Sprintf("task ran for more than %s of wall time, its cap of %dx its CPU-time limit of %s, and was stopped (the machine may be very busy)", time.Duration(cfg.WallFactor)*limit, cfg.WallFactor, limit)}
	case grown > memCap:
		return &tasks.TaskError{Kind: tasks.ErrMemoryLimit, Stderr: w.stderr.bytes(),
			Detail: fmt.Sprintf("task's runner grew by %s, more than its memory limit of %s plus the runner's allowance of %s, and was stopped", mib(grown), mib(w.limits.MemoryBytes()), mib(cfg.MemoryOverhead))}
	}
	return nil
}

// crashed is the error of a runner that died (or whose pipe broke) under a task.
func (w *watch) crashed(sendErr error) error {
	if w.pr.alive() {
		w.pr.kill() // a broken pipe to a live runner: do not reuse it
	}
	err := errCrashed(w.pr, w.stderr.bytes())
	if sendErr != nil {
		err = fmt.Errorf("%w (%v)", err, sendErr)
	}
	return err
}

func mib(n uint64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// tailBuffer keeps the last 4 KiB of a task's stderr.
type tailBuffer struct{ buf []byte }

func (t *tailBuffer) write(b []byte) {
	t.buf = append(t.buf, b...)
	if over := len(t.buf) - 4<<10; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
}

func (t *tailBuffer) bytes() []byte { return append([]byte(nil), t.buf...) }
