// Package runner runs tasks in runner processes: the allforone binary re-executed, one
// process per slot, each running wazero without per-loop termination checks (they cost
// 14-27x on CPU-bound tasks). The pool enforces the limits from outside: it kills a runner
// (SIGKILL, TerminateProcess) whose task passes its CPU-time limit, its wall-time cap, its
// memory cap, or its module's compile budget, and starts a fresh one for the next task. A
// runner that crashes fails its task alone. Runners can run at idle OS priority and be
// suspended (SIGSTOP) while the volunteer's preferences pause work.
//
// The pipe protocol is in frame.go; the runner side in child.go; the limits in watch.go.
package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"

	"allforone/tasks"
)

// Pool defaults, used for zero fields of Config.
const (
	DefaultWallFactor       = 10               // wall-time cap = 10x the CPU-time limit
	DefaultCompileCPU       = 60 * time.Second // compile budget: CPU time per module
	DefaultCompileMemory    = 2 << 30          // compile budget: runner memory while compiling
	DefaultMemoryOverhead   = 256 << 20        // runner memory allowed beyond the task's limit
	DefaultStartTimeout     = 30 * time.Second
	DefaultPollInterval     = 5 * time.Millisecond
	maxStartBackoff         = time.Minute
	firstStartBackoff       = time.Second
	defaultCompiledInRunner = 8
)

// Config configures a Pool. Zero fields take the documented defaults.
type Config struct {
	// Binary is the executable started as a runner: the allforone binary, or a test binary
	// whose TestMain calls MainIfRunner. Default: os.Executable().
	Binary string
	// CacheDir is the runners' shared on-disk compilation cache. It must not be the cache
	// of an in-process Executor: wazero keys cached code by module and CPU, not by whether
	// it has termination checks. Empty: each runner compiles in memory only.
	CacheDir string
	// Slots is how many runners (and so tasks) run at once. Default runtime.NumCPU().
	Slots int
	// MaxMemoryBytes, MaxTimeout and MaxOutputBytes cap every task's limits, as in
	// tasks.ExecutorConfig. MaxTimeout caps the CPU-time limit.
	MaxMemoryBytes uint64
	MaxTimeout     time.Duration
	MaxOutputBytes uint64
	// MaxCompiledModules bounds each runner's in-memory cache of compiled modules. Default 8.
	MaxCompiledModules int
	// WallFactor sets the wall-time cap of a task: WallFactor times its CPU-time limit, not
	// counting time suspended. Where the OS gives no CPU time of another process (macOS,
	// the BSDs) the limit itself counts wall time. Default 10.
	WallFactor int
	// CompileCPU is the compile budget's CPU time for one module (with a wall cap of
	// WallFactor times it). Default 60s.
	CompileCPU time.Duration
	// CompileMemory is the compile budget's memory: how much the runner's resident memory
	// may grow while it compiles a module (Linux). Default 2 GiB.
	CompileMemory uint64
	// MemoryOverhead is how much more than its task's memory limit a runner's resident
	// memory may grow while it runs the task (the instance, the output buffer of up to 64
	// MiB, Go's allocations) before it is killed; watched on Linux. A runner that stays
	// resident for more than half of it between tasks (compiled modules of earlier
	// batches) is replaced by a fresh one. Default 256 MiB.
	MemoryOverhead uint64
	// IdlePriority starts runners at the lowest OS priority: nice 19 and SCHED_IDLE on
	// Linux, nice 19 on macOS, IDLE_PRIORITY_CLASS on Windows. A daemon sets it; a local
	// run, whose user waits for it, does not by default.
	IdlePriority bool
	// StartTimeout bounds a runner's start. Default 30s.
	StartTimeout time.Duration
	// PollInterval is the shortest time between two reads of a running task's CPU time
	// and memory. Default 5ms. The first read comes after it; then the gap doubles up to
	// 20x PollInterval (100 ms by default) and shrinks again as a limit nears (half of what
	// is left of it): a task that runs for a minute costs its node about 600 reads of
	// /proc instead of 12,000, and none stops much past its limit.
	PollInterval time.Duration
	// Logger receives runner starts and kills. Default: discard.
	Logger *slog.Logger
}

func (c Config) withDefaults() (Config, error) {
	if v, ok := os.LookupEnv(EnvVar); ok {
		// Started as a runner, yet here: its main (or TestMain) does not call MainIfRunner.
		// Starting runners from here would start this program again, and again.
		return c, fmt.Errorf("runner pool: this process was started as a task runner (%s=%s) but does not serve as one: call runner.MainIfRunner first thing in main, or in the TestMain of the package whose tests start nodes", EnvVar, v)
	}
	if c.Binary == "" {
		bin, err := os.Executable()
		if err != nil {
			return c, fmt.Errorf("runner pool: find this program's binary: %w", err)
		}
		c.Binary = bin
	}
	if c.Slots == 0 {
		c.Slots = runtime.NumCPU()
	}
	if c.MaxMemoryBytes == 0 {
		c.MaxMemoryBytes = tasks.DefaultMaxMemory
	}
	if c.MaxTimeout == 0 {
		c.MaxTimeout = tasks.DefaultExecutorTimeout
	}
	if c.MaxOutputBytes == 0 {
		c.MaxOutputBytes = tasks.MaxOutputLimit
	}
	if c.MaxCompiledModules == 0 {
		c.MaxCompiledModules = defaultCompiledInRunner
	}
	if c.WallFactor == 0 {
		c.WallFactor = DefaultWallFactor
	}
	if c.CompileCPU == 0 {
		c.CompileCPU = DefaultCompileCPU
	}
	if c.CompileMemory == 0 {
		c.CompileMemory = DefaultCompileMemory
	}
	if c.MemoryOverhead == 0 {
		c.MemoryOverhead = DefaultMemoryOverhead
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = DefaultStartTimeout
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case c.Slots < 1:
		return c, fmt.Errorf("runner pool: slots %d: must be at least 1", c.Slots)
	case c.MaxMemoryBytes < tasks.PageSize || c.MaxMemoryBytes > tasks.MaxMemoryPages*tasks.PageSize:
		return c, fmt.Errorf("runner pool: max memory %d bytes: must be 64 KiB to 4 GiB", c.MaxMemoryBytes)
	case c.MaxTimeout < 0 || c.CompileCPU < 0:
		return c, errors.New("runner pool: time limits must be positive")
	case c.WallFactor < 1:
		return c, fmt.Errorf("runner pool: wall factor %d: must be at least 1", c.WallFactor)
	}
	return c, nil
}

// slot is one runner's place; proc is nil until a runner is started (again).
type slot struct {
	proc *proc
}

// Pool runs tasks in runner processes, Slots at a time. It is safe for concurrent use.
// New starts nothing; runners start on first use; Close kills them.
type Pool struct {
	cfg Config
	log *slog.Logger
	sem chan struct{} // a token per slot in use

	stop   chan struct{} // closed by Close
	closed atomic.Bool
	wg     sync.WaitGroup // Runs in progress

	mu        sync.Mutex // guards the fields below
	free      []*slot    // slots not in use, the most recently used last (its runner is warm)
	live      map[*proc]bool
	deadCPU   time.Duration // CPU time of runners that have exited
	suspended bool
	resumed   chan struct{} // closed by Resume; replaced by Suspend
	refused   map[string]error
	compiling map[string]chan struct{} // a token per module being compiled (compileLock)
	startErr  error                    // the last failed start, nil after a success
	nextStart time.Time
	backoff   time.Duration
}

// New checks cfg and returns an idle pool.
func New(cfg Config) (*Pool, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	p := &Pool{cfg: cfg, log: cfg.Logger.With("sub", "runner"), sem: make(chan struct{}, cfg.Slots),
		stop: make(chan struct{}), live: map[*proc]bool{}, refused: map[string]error{}, compiling: map[string]chan struct{}{}, resumed: make(chan struct{})}
	close(p.resumed)
	for range cfg.Slots {
		p.free = append(p.free, &slot{})
	}
	return p, nil
}

// Slots is the number of tasks the pool runs at once.
func (p *Pool) Slots() int { return p.cfg.Slots }

// Caps are the limits every task's limits are clamped to.
func (p *Pool) Caps() tasks.Limits {
	return tasks.Limits{MemoryPages: uint32(p.cfg.MaxMemoryBytes / tasks.PageSize), Timeout: p.cfg.MaxTimeout, MaxOutputBytes: p.cfg.MaxOutputBytes}
}

// Clamp returns l with every field at most the pool's cap, and zero fields set to the cap.
func (p *Pool) Clamp(l tasks.Limits) tasks.Limits {
	caps := p.Caps()
	if l.MemoryPages == 0 || l.MemoryPages > caps.MemoryPages {
		l.MemoryPages = caps.MemoryPages
	}
	if l.Timeout <= 0 || l.Timeout > caps.Timeout {
		l.Timeout = caps.Timeout
	}
	if l.MaxOutputBytes == 0 || l.MaxOutputBytes > caps.MaxOutputBytes {
		l.MaxOutputBytes = caps.MaxOutputBytes
	}
	return l
}

// enter registers a call unless the pool is closed.
func (p *Pool) enter() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed.Load() {
		return tasks.ErrClosed
	}
	p.wg.Add(1)
	return nil
}

// acquire takes a free slot and makes sure it has a live runner.
func (p *Pool) acquire(ctx context.Context) (*slot, error) {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-p.stop:
		return nil, tasks.ErrClosed
	}
	p.mu.Lock()
	s := p.free[len(p.free)-1]
	p.free = p.free[:len(p.free)-1]
	p.mu.Unlock()
	if s.proc != nil && s.proc.alive() {
		return s, nil
	}
	p.forget(s)
	pr, err := p.start(ctx)
	if err != nil {
		p.putBack(s)
		return nil, err
	}
	s.proc = pr
	return s, nil
}

// release gives a slot back; a killed or dead runner is forgotten (the next use starts
// one), and so is one that stays large: compiled modules of earlier batches add up, and a
// volunteer's idle runners should not hold hundreds of megabytes.
func (p *Pool) release(s *slot) {
	if s.proc != nil && s.proc.alive() {
		if rss, ok := readRSS(s.proc.pid); ok && rss > p.cfg.MemoryOverhead/2 {
			p.log.Debug("runner replaced: it stays large", "pid", s.proc.pid, "rss", rss)
			s.proc.kill()
		}
	}
	if s.proc != nil && !s.proc.alive() {
		p.forget(s)
	}
	p.putBack(s)
}

func (p *Pool) putBack(s *slot) {
	p.mu.Lock()
	p.free = append(p.free, s)
	p.mu.Unlock()
	<-p.sem
}

// forget drops a slot's dead runner, keeping its CPU time for CPUTime.
func (p *Pool) forget(s *slot) {
	if s.proc == nil {
		return
	}
	cpu, _ := s.proc.cpu()
	p.mu.Lock()
	if p.live[s.proc] {
		delete(p.live, s.proc)
		p.deadCPU += cpu
	}
	p.mu.Unlock()
	s.proc = nil
}

// start starts a runner, unless the last start failed less than a backoff ago.
func (p *Pool) start(ctx context.Context) (*proc, error) {
	p.mu.Lock()
	if p.startErr != nil && time.Now().Before(p.nextStart) {
		err := p.startErr
		wait := time.Until(p.nextStart).Round(100 * time.Millisecond)
		p.mu.Unlock()
		return nil, fmt.Errorf("%w (next try in %s): %w", ErrRunnerUnavailable, wait, err)
	}
	p.mu.Unlock()
	pr, err := startProc(ctx, &p.cfg)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		p.backoff = min(max(2*p.backoff, firstStartBackoff), maxStartBackoff)
		p.nextStart = time.Now().Add(p.backoff)
		p.startErr = fmt.Errorf("start %s: %w: the allforone binary may have been removed or replaced by another version (an upgrade?): restart the daemon so that it runs the binary now installed", p.cfg.Binary, err)
		p.log.Warn("runner did not start", "binary", p.cfg.Binary, "retry_in", p.backoff, "err", err)
		return nil, fmt.Errorf("%w: %w", ErrRunnerUnavailable, p.startErr)
	}
	if p.startErr != nil {
		p.log.Info("runner started again", "binary", p.cfg.Binary)
	}
	p.startErr, p.backoff = nil, 0
	p.live[pr] = true
	if p.suspended {
		p.stopProc(pr)
	}
	p.log.Debug("runner started", "pid", pr.pid)
	return pr, nil
}

// Health says why runners cannot start now ("" when they can), with what to do: `why`
// shows it.
func (p *Pool) Health() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.startErr == nil {
		return ""
	}
	return p.startErr.Error()
}

// CPUTime is the CPU time all of the pool's runners have used, live and exited: the node
// counts it as its own when it measures how busy the rest of the machine is.
func (p *Pool) CPUTime() time.Duration {
	p.mu.Lock()
	total := p.deadCPU
	procs := make([]*proc, 0, len(p.live))
	for pr := range p.live {
		procs = append(procs, pr)
	}
	p.mu.Unlock()
	for _, pr := range procs {
		if c, ok := pr.cpu(); ok {
			total += c
		}
	}
	return total
}

// Pids lists the live runners' process IDs.
func (p *Pool) Pids() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []int
	for pr := range p.live {
		if pr.alive() {
			out = append(out, pr.pid)
		}
	}
	return out
}

// refusedErr is the compile-budget error of a module this pool refused, or nil.
func (p *Pool) refusedErr(id cid.Cid) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refused[id.KeyString()]
}

func (p *Pool) refuse(id cid.Cid, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refused[id.KeyString()] = err
}

// compileLock lets one runner at a time compile a module: the others then load it from
// the shared on-disk cache (milliseconds instead of seconds for a Go-built module), and no
// runner replaces a cache file that another is reading (on Windows that fails the compile).
// It returns the unlock function.
func (p *Pool) compileLock(ctx context.Context, id cid.Cid) (func(), error) {
	p.mu.Lock()
	tok, ok := p.compiling[id.KeyString()]
	if !ok {
		tok = make(chan struct{}, 1)
		p.compiling[id.KeyString()] = tok
	}
	p.mu.Unlock()
	select {
	case tok <- struct{}{}:
		return func() { <-tok }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-p.stop:
		return nil, tasks.ErrClosed
	}
}

// Close kills every runner and waits for the calls in progress (or ctx). It is
// idempotent; calls after the first return nil.
func (p *Pool) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed.Swap(true) {
		p.mu.Unlock()
		return nil
	}
	close(p.stop)
	procs := make([]*proc, 0, len(p.live))
	for pr := range p.live {
		procs = append(procs, pr)
	}
	p.mu.Unlock()
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("runner pool: close: tasks still stopping: %w", ctx.Err())
	}
	// Runs have killed the runners of their tasks; the idle ones are killed here. A closed
	// stdin alone would do (the watchdog), but kill does not wait for the runner to notice.
	for _, pr := range procs {
		pr.kill()
	}
	return err
}
