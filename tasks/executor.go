package tasks

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// Executor defaults, used for zero fields of ExecutorConfig.
const (
	DefaultMaxMemory          = 1 << 30          // 1 GiB per task
	DefaultMaxCompiledModules = 8                // compiled modules kept in memory
	DefaultExecutorTimeout    = 10 * time.Minute // per-task wall time cap
)

// ExecutorConfig is the volunteer's side of the sandbox: how many tasks run at once and the
// caps every task's limits are clamped to. Zero fields take the documented defaults.
type ExecutorConfig struct {
	// CacheDir holds wazero's on-disk compilation cache (<data>/wazero-cache), so a module
	// compiles once per node, across restarts. Empty: compile results stay in memory only.
	CacheDir string
	// Slots is how many tasks run in parallel. Default: runtime.NumCPU().
	Slots int
	// MaxMemoryBytes caps a task's linear memory (rounded down to 64 KiB pages).
	// Default: DefaultMaxMemory (1 GiB); at most 4 GiB.
	MaxMemoryBytes uint64
	// MaxTimeout caps a task's wall time. Default: DefaultExecutorTimeout (10 minutes).
	MaxTimeout time.Duration
	// MaxOutputBytes caps a task's stdout. Default: MaxOutputLimit (64 MiB).
	MaxOutputBytes uint64
	// MaxCompiledModules bounds the in-memory cache of compiled modules (least recently
	// used goes first). Default: DefaultMaxCompiledModules.
	MaxCompiledModules int
	// Logger receives debug logs about compilation. Default: discard.
	Logger *slog.Logger

	// NoTerminationChecks turns off wazero's checks on every loop back-edge and function
	// entry that let a time limit (and Close) stop a running module; they cost 14-27x on
	// CPU-bound tasks. Only a runner process sets it (package tasks/runner): its parent
	// enforces the time limits from outside by killing the process. In a process that must
	// survive its tasks, an endless loop would then run forever.
	NoTerminationChecks bool
}

// withDefaults fills zero fields and checks the others.
func (c ExecutorConfig) withDefaults() (ExecutorConfig, error) {
	if c.Slots == 0 {
		c.Slots = runtime.NumCPU()
	}
	if c.MaxMemoryBytes == 0 {
		c.MaxMemoryBytes = DefaultMaxMemory
	}
	if c.MaxTimeout == 0 {
		c.MaxTimeout = DefaultExecutorTimeout
	}
	if c.MaxOutputBytes == 0 {
		c.MaxOutputBytes = MaxOutputLimit
	}
	if c.MaxCompiledModules == 0 {
		c.MaxCompiledModules = DefaultMaxCompiledModules
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case c.Slots < 0:
		return c, fmt.Errorf("executor: slots %d: must be at least 1", c.Slots)
	case c.MaxMemoryBytes < PageSize || c.MaxMemoryBytes > MaxMemoryPages*PageSize:
		return c, fmt.Errorf("executor: max memory %d bytes: must be 64 KiB to 4 GiB", c.MaxMemoryBytes)
	case c.MaxTimeout < 0:
		return c, fmt.Errorf("executor: max timeout %s: must be positive", c.MaxTimeout)
	case c.MaxCompiledModules < 0:
		return c, fmt.Errorf("executor: max compiled modules %d: must be at least 1", c.MaxCompiledModules)
	}
	return c, nil
}

// Job is one task run: which module, what input, and the limits from the manifest.
type Job struct {
	ModuleID cid.Cid           // content ID of the module
	Module   []byte            // the module's bytes; may be nil if this executor compiled it already
	Input    []byte            // stdin
	Args     []string          // argv[1:]; argv[0] is "task"
	Env      map[string]string // the whole environment
	Limits   Limits            // the task's limits; zero fields mean the node's caps
	Seed     [32]byte          // seed of the task's random source, usually TaskSeed(task ID)
	// StderrCopy, when set, also gets every write the task makes to stderr, as it makes
	// it (a runner streams them to its node). Result.Stderr keeps the tail either way.
	StderrCopy io.Writer
}

// Result is what a task run produced. After a failure only Stderr, Duration and Limits are
// set.
type Result struct {
	Output   []byte        // stdout, on success
	Stderr   []byte        // the last 4 KiB of stderr
	Duration time.Duration // wall time of instantiation and run
	Limits   Limits        // the limits the task ran under (job limits clamped to the caps)
}

// Executor runs WebAssembly tasks in wazero's sandbox with WASI preview 1: input on stdin,
// output on stdout, exit code 0 for success; no file system, no network, no host
// environment, a fixed clock and seeded randomness. It caches compiled modules and runs at
// most Slots tasks at once. It is safe for concurrent use.
type Executor struct {
	cfg   ExecutorConfig
	log   *slog.Logger
	rt    wazero.Runtime
	cache wazero.CompilationCache // nil without CacheDir
	slots chan struct{}

	stop    context.Context // canceled by Close: stops running tasks
	cancel  context.CancelFunc
	running sync.WaitGroup

	mu      sync.Mutex // guards closed, modules and lru
	closed  bool
	modules map[string]*compiled // by CID key
	lru     *list.List           // of *compiled, most recent first
}

// NewExecutor builds an executor: a wazero runtime with the compiler engine (where the
// platform has one), WebAssembly 2.0 core features without threads, modules closed when
// their context ends, and the WASI preview 1 host module. It starts no goroutines; Close releases it.
func NewExecutor(cfg ExecutorConfig) (*Executor, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	rc := wazero.NewRuntimeConfig().
		// WebAssembly 2.0 without the experimental threads proposal: no shared memory, no
		// atomics, so a task is single-threaded and deterministic.
		WithCoreFeatures(api.CoreFeaturesV2).
		// The runtime allows the WebAssembly maximum; each instance gets its own limit
		// (the task's, at most the node's cap) from a memory allocator, so one compiled
		// module serves tasks with different limits. See memoryLimiter.
		WithMemoryLimitPages(MaxMemoryPages).
		WithCloseOnContextDone(!cfg.NoTerminationChecks)
	var cache wazero.CompilationCache
	if cfg.CacheDir != "" {
		if cache, err = wazero.NewCompilationCacheWithDir(cfg.CacheDir); err != nil {
			return nil, fmt.Errorf("executor: compilation cache in %s: %w", cfg.CacheDir, err)
		}
		rc = rc.WithCompilationCache(cache)
	}
	bg := context.Background()
	rt := wazero.NewRuntimeWithConfig(bg, rc)
	if _, err := wasi_snapshot_preview1.Instantiate(bg, rt); err != nil {
		_ = rt.Close(bg)
		return nil, fmt.Errorf("executor: instantiate WASI: %w", err)
	}
	stop, cancel := context.WithCancel(bg)
	return &Executor{
		cfg:     cfg,
		log:     cfg.Logger.With("sub", "executor"),
		rt:      rt,
		cache:   cache,
		slots:   make(chan struct{}, cfg.Slots),
		stop:    stop,
		cancel:  cancel,
		modules: make(map[string]*compiled),
		lru:     list.New(),
	}, nil
}

// Suspend is not possible for tasks that run inside this process: it returns
// ErrNoSuspend, and running tasks go on. The runner pool (tasks/runner) can suspend.
func (e *Executor) Suspend() error { return ErrNoSuspend }

// Resume does nothing: see Suspend.
func (e *Executor) Resume() error { return nil }

// Slots is the number of tasks the executor runs at once.
func (e *Executor) Slots() int { return e.cfg.Slots }

// Caps are the node's limits that every task's limits are clamped to.
func (e *Executor) Caps() Limits {
	return Limits{
		MemoryPages:    uint32(e.cfg.MaxMemoryBytes / PageSize),
		Timeout:        e.cfg.MaxTimeout,
		MaxOutputBytes: e.cfg.MaxOutputBytes,
	}
}

// Clamp returns l with every field at most the node's cap, and zero fields set to the cap.
func (e *Executor) Clamp(l Limits) Limits {
	caps := e.Caps()
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

// Compile compiles and checks a module ahead of its tasks (Run compiles on first use too).
// An unusable module gives a *TaskError of kind ErrInvalidModule.
func (e *Executor) Compile(ctx context.Context, id cid.Cid, module []byte) error {
	if err := e.enter(); err != nil {
		return err
	}
	defer e.running.Done()
	c, err := e.acquire(ctx, id, module)
	if err != nil {
		return err
	}
	e.release(c)
	return nil
}

// enter registers a call, unless the executor is closed.
func (e *Executor) enter() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	e.running.Add(1)
	return nil
}

// Run runs one task: it waits for a free slot (or ctx), instantiates the module with the
// job's input, args, env, limits and seed, runs its _start, and returns its stdout. A task
// that fails returns a *TaskError (check its kind with errors.Is: ErrInvalidModule,
// ErrTimeout, ErrMemoryLimit, ErrOutputTooLarge, ErrTrap, ErrExitCode). A canceled ctx
// returns ctx's error; a closed executor ErrClosed.
func (e *Executor) Run(ctx context.Context, job Job) (Result, error) {
	if err := e.enter(); err != nil {
		return Result{}, err
	}
	defer e.running.Done()
	c, err := e.acquire(ctx, job.ModuleID, job.Module)
	if err != nil {
		return Result{}, err
	}
	defer e.release(c)
	limits := e.Clamp(job.Limits)
	if c.memPages > limits.MemoryPages {
		return Result{}, &TaskError{Kind: ErrMemoryLimit, Detail: fmt.Sprintf("module's initial memory of %s is over the task's memory limit of %s",
			formatBytes(uint64(c.memPages)*PageSize), formatBytes(limits.MemoryBytes()))}
	}

	select {
	case e.slots <- struct{}{}:
		defer func() { <-e.slots }()
	case <-ctx.Done():
		return Result{}, ctx.Err()
	case <-e.stop.Done():
		return Result{}, ErrClosed
	}
	return e.run(ctx, c.mod, job, limits)
}

// Close stops running tasks, waits for them (or ctx), and releases the runtime and its
// compiled modules. It is idempotent; calls after the first return nil.
func (e *Executor) Close(ctx context.Context) error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	e.mu.Unlock()
	e.cancel()

	done := make(chan struct{})
	go func() { e.running.Wait(); close(done) }()
	var errs []error
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("executor: close: tasks still stopping: %w", ctx.Err()))
	}
	if err := e.rt.Close(context.Background()); err != nil {
		errs = append(errs, fmt.Errorf("executor: close runtime: %w", err))
	}
	if e.cache != nil {
		if err := e.cache.Close(context.Background()); err != nil {
			errs = append(errs, fmt.Errorf("executor: close compilation cache: %w", err))
		}
	}
	return errors.Join(errs...)
}
