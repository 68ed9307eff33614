package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"allforone/node"
	"allforone/tasks"
	"allforone/tasks/runner"

	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v3"
	"golang.org/x/term"
)

// Flags of `allforone run`.
const (
	flagLocal     = "local"
	flagModule    = "module"
	flagInputs    = "inputs"
	flagManifest  = "manifest"
	flagOut       = "out"
	flagTimeout   = "timeout"
	flagMemory    = "memory"
	flagMaxOutput = "max-output"
	flagSlots     = "slots"
	flagPriority  = "priority"
	flagCompile   = "compile-budget"
)

func runCmd() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "run a batch of WebAssembly tasks on this machine",
		UsageText: "allforone run --local --module task.wasm --inputs DIR --out DIR\nallforone run --local --manifest batch.json --out DIR",
		Description: "Runs each task in the sandbox (WASI preview 1: input on stdin, output on stdout, no\n" +
			"file system, no network, a fixed clock) and writes each output to --out under the task's\n" +
			"name. With --inputs, every file of DIR is one task named like the file. With --manifest,\n" +
			"the batch file (JSON, see tasks/README.md) gives the module, the inputs and the limits;\n" +
			"--timeout, --memory and --max-output, when given, cap the batch's limits.\n" +
			"Tasks run in runner processes (this binary, re-executed) at full speed; a task's time\n" +
			"limit counts the CPU time it uses, and its wall time is capped at 10 times that.\n" +
			"Exit code 0 when every task succeeded, 1 when some failed (listed with their reason),\n" +
			"2 for bad flags or files.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: flagLocal, Usage: "run on this machine, without the swarm (required for now)", Sources: env(flagLocal)},
			&cli.StringFlag{Name: flagModule, Usage: "the task module, a WASI preview 1 `FILE` (.wasm)", Sources: env(flagModule)},
			&cli.StringFlag{Name: flagInputs, Usage: "`DIR` with one input file per task", Sources: env(flagInputs)},
			&cli.StringFlag{Name: flagManifest, Usage: "batch `FILE` (JSON) instead of --module and --inputs", Sources: env(flagManifest)},
			inputsRootFlag(),
			&cli.StringFlag{Name: flagOut, Usage: "`DIR` for the outputs, created if missing", Sources: env(flagOut)},
			&cli.DurationFlag{Name: flagTimeout, Usage: "CPU-time limit per task (its wall time is capped at 10x this)", Value: tasks.DefaultTaskTimeout, Sources: env(flagTimeout)},
			&cli.Uint32Flag{Name: flagMemory, Usage: "memory limit per task in MB (MiB), at most 4096", Value: tasks.DefaultTaskMemoryMiB, Sources: env(flagMemory)},
			&cli.Uint64Flag{Name: flagMaxOutput, Usage: "output (stdout) limit per task in bytes, at most 64 MiB", Value: tasks.DefaultTaskMaxOutput, Sources: env(flagMaxOutput)},
			&cli.IntFlag{Name: flagSlots, Usage: "tasks run in parallel (default: the number of CPUs)", Value: runtime.NumCPU(), Sources: env(flagSlots)},
			&cli.StringFlag{Name: flagPriority, Usage: "OS priority of the tasks: normal, or idle (only CPU time nobody else wants)", Value: "normal", Sources: env(flagPriority)},
			&cli.DurationFlag{Name: flagCompile, Usage: "CPU time compiling the module may take", Value: runner.DefaultCompileCPU, Sources: env(flagCompile)},
		},
		Action: runAction,
	}
}

func runAction(ctx context.Context, cmd *cli.Command) error {
	if !cmd.Bool(flagLocal) {
		return usagef("run needs --local: running a batch on the swarm is not available yet (see `allforone run --help`)")
	}
	limits, err := runLimits(cmd)
	if err != nil {
		return err
	}
	module, inputs, manifest := cmd.String(flagModule), cmd.String(flagInputs), cmd.String(flagManifest)
	var spec *tasks.BatchSpec
	switch {
	case manifest != "" && (module != "" || inputs != ""):
		return usagef("--manifest and --module/--inputs exclude each other: the batch file names the module and inputs")
	case manifest == "" && cmd.String(flagInputsRoot) != "":
		return usagef("--inputs-root applies to a batch file (--manifest): --module and --inputs name their files themselves")
	case manifest != "":
		if spec, err = tasks.LoadBatchFileUnder(manifest, cmd.String(flagInputsRoot)); err != nil {
			return usageError{err}
		}
	case module == "" || inputs == "":
		return usagef("say what to run: --module FILE and --inputs DIR, or --manifest FILE")
	}
	if cmd.String(flagOut) == "" {
		return usagef("--out DIR is required: each task's output is written there")
	}
	slots := cmd.Int(flagSlots)
	if slots < 1 || slots > 1024 {
		return usagef("--slots %d: use %s", slots, flagRanges[flagSlots])
	}
	prio := cmd.String(flagPriority)
	if prio != "normal" && prio != "idle" {
		return usagef("--priority %q: use normal or idle", prio)
	}
	if b := cmd.Duration(flagCompile); b < 100*time.Millisecond {
		return usagef("--compile-budget %s: use at least 100ms, e.g. 60s", b)
	}
	log, err := newLogger(cmd, os.Stderr)
	if err != nil {
		return err
	}

	caps := limits
	if spec != nil { // the batch's limits apply; flags given explicitly cap them
		caps = tasks.Limits{MemoryPages: tasks.MaxMemoryPages, Timeout: tasks.MaxTimeout, MaxOutputBytes: tasks.MaxOutputLimit}
		if cmd.IsSet(flagMemory) {
			caps.MemoryPages = limits.MemoryPages
		}
		if cmd.IsSet(flagTimeout) {
			caps.Timeout = limits.Timeout
		}
		if cmd.IsSet(flagMaxOutput) {
			caps.MaxOutputBytes = limits.MaxOutputBytes
		}
	}
	cacheDir := node.RunnerCacheDir(cmd.String(flagData))
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		log.Warn("no compilation cache: modules compile on every run", "dir", cacheDir, "err", err)
		cacheDir = ""
	}
	e, err := runner.New(runner.Config{
		CacheDir: cacheDir, Slots: slots, Logger: log, IdlePriority: prio == "idle", CompileCPU: cmd.Duration(flagCompile),
		MaxMemoryBytes: caps.MemoryBytes(), MaxTimeout: caps.Timeout, MaxOutputBytes: caps.MaxOutputBytes,
	})
	if err != nil {
		return err
	}
	defer e.Close(context.WithoutCancel(ctx))

	bar := newRunProgress(cmd)
	opts := tasks.LocalOptions{Executor: e, OutDir: cmd.String(flagOut), OnStart: bar.start, OnDone: bar.done}
	var sum *tasks.LocalSummary
	if spec != nil {
		sum, err = tasks.RunLocalBatch(ctx, opts, spec)
	} else {
		sum, err = tasks.RunLocalDir(ctx, opts, module, inputs, limits)
	}
	bar.finish()
	if errors.Is(err, tasks.ErrBadRun) {
		return usageError{err}
	}
	if sum == nil {
		return err
	}
	if perr := printRunSummary(cmd, sum); perr != nil {
		return perr
	}
	if err != nil {
		return err
	}
	if sum.Failed > 0 {
		return fmt.Errorf("%d of %d tasks failed", sum.Failed, sum.Tasks)
	}
	return nil
}

// runLimits reads --timeout, --memory and --max-output.
func runLimits(cmd *cli.Command) (tasks.Limits, error) {
	timeout, mem, out := cmd.Duration(flagTimeout), cmd.Uint32(flagMemory), cmd.Uint64(flagMaxOutput)
	if timeout < time.Millisecond || timeout > tasks.MaxTimeout {
		return tasks.Limits{}, usagef("--timeout %s: use 1ms to 24h, e.g. 30s", timeout)
	}
	if err := checkFlagRange(flagMemory, uint64(mem), 1, tasks.MaxMemoryPages/16); err != nil {
		return tasks.Limits{}, err
	}
	if err := checkFlagRange(flagMaxOutput, out, 1, tasks.MaxOutputLimit); err != nil {
		return tasks.Limits{}, err
	}
	return tasks.Limits{MemoryPages: mem * 16, Timeout: timeout.Truncate(time.Millisecond), MaxOutputBytes: out}, nil
}

func printRunSummary(cmd *cli.Command, sum *tasks.LocalSummary) error {
	return printOut(cmd, sum, func(p *printer) {
		for _, f := range sum.Failures {
			p.f("FAIL %s: %s", f.Task, f.Error)
		}
		if sum.Truncated {
			p.f("... and %d more failures", sum.Failed-len(sum.Failures))
		}
		p.f("%d of %d tasks succeeded, %d failed in %.2fs on %d slots; outputs in %s",
			sum.Succeeded, sum.Tasks, sum.Failed, sum.Seconds, sum.Slots, sum.OutDir)
		if sum.NotRun > 0 {
			p.f("%d tasks did not run", sum.NotRun)
		}
	})
}

// runProgress is a progress bar on stderr, shown only when stdout is a terminal and --json
// is off, so scripts and pipes see nothing but the summary.
type runProgress struct {
	on  bool
	w   io.Writer
	bar *progressbar.ProgressBar
}

func newRunProgress(cmd *cli.Command) *runProgress {
	on := !cmd.Bool(flagJSON) && cmd.Root().Writer == os.Stdout && term.IsTerminal(int(os.Stdout.Fd()))
	return &runProgress{on: on, w: os.Stderr}
}

func (r *runProgress) start(total int) {
	if !r.on || total <= 0 {
		return
	}
	r.bar = progressbar.NewOptions(total,
		progressbar.OptionSetWriter(r.w),
		progressbar.OptionSetDescription("tasks"),
		progressbar.OptionShowCount(),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionThrottle(100*time.Millisecond),
	)
}

func (r *runProgress) done(tasks.TaskReport) {
	if r.bar != nil {
		_ = r.bar.Add(1)
	}
}

func (r *runProgress) finish() {
	if r.bar != nil {
		_ = r.bar.Finish()
	}
}
