package tasks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"
)

// errOutputFlood is the cancel cause when a task passes its output limit.
var errOutputFlood = errors.New("output limit exceeded")

// run instantiates and runs one task under limits. The module config deliberately sets no
// file system, no network, no host environment, and neither WithSysWalltime nor
// WithSysNanotime nor WithSysNanosleep: wazero's defaults are a fake clock that starts at a
// fixed instant and advances 1 ms per reading, and sleeps that return at once.
func (e *Executor) run(ctx context.Context, code wazero.CompiledModule, job Job, limits Limits) (Result, error) {
	// The task's context ends on its time limit, on an output flood, on the caller's
	// cancellation and on Close. CloseOnContextDone turns each into a prompt module exit.
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stopOnClose := context.AfterFunc(e.stop, func() { cancel(ErrClosed) })
	defer stopOnClose()
	runCtx, cancelTimeout := context.WithTimeout(runCtx, limits.Timeout)
	defer cancelTimeout()

	mem := &memoryLimiter{limit: limits.MemoryBytes()}
	runCtx = experimental.WithMemoryAllocator(runCtx, mem)
	stdout := &cappedBuffer{limit: limits.MaxOutputBytes, onExceed: func() { cancel(errOutputFlood) }}
	stderr := &tailBuffer{max: stderrTail}
	var stderrW io.Writer = stderr
	if job.StderrCopy != nil {
		stderrW = io.MultiWriter(stderr, job.StderrCopy)
	}

	cfg := wazero.NewModuleConfig().
		WithName("").         // anonymous: many instances of one module may run at once
		WithStartFunctions(). // _start is called below, after the memory check
		WithArgs(append([]string{"task"}, job.Args...)...).
		WithStdin(bytes.NewReader(job.Input)).
		WithStdout(stdout).
		WithStderr(stderrW).
		WithRandSource(rand.NewChaCha8(job.Seed))
	for _, k := range slices.Sorted(maps.Keys(job.Env)) {
		cfg = cfg.WithEnv(k, job.Env[k])
	}

	start := time.Now()
	mod, err := e.rt.InstantiateModule(runCtx, code, cfg)
	if err == nil {
		if mem.over.Load() {
			err = errInitialMemory
		} else {
			_, err = mod.ExportedFunction("_start").Call(runCtx)
		}
		_ = mod.Close(context.WithoutCancel(ctx)) // frees the instance; the result is already in hand
	}
	res := Result{Output: stdout.bytes(), Stderr: stderr.bytes(), Duration: time.Since(start), Limits: limits}
	var exit *sys.ExitError
	if err == nil || (errors.As(err, &exit) && exit.ExitCode() == 0) {
		if !stdout.exceeded.Load() {
			return res, nil
		}
		err = errOutputFlood // the module ignored the failed write and exited 0
	}
	failed := Result{Stderr: res.Stderr, Duration: res.Duration, Limits: limits}
	return failed, e.classify(ctx, runCtx, err, limits, res, mem, stdout)
}

// errInitialMemory reports a module whose declared initial memory is over the task's limit.
var errInitialMemory = errors.New("initial memory over the limit")

// classify turns a failed run into the error a user reads.
func (e *Executor) classify(ctx, runCtx context.Context, err error, limits Limits, res Result, mem *memoryLimiter, stdout *cappedBuffer) error {
	te := &TaskError{Stderr: res.Stderr, Err: err}
	var exit *sys.ExitError
	exited := errors.As(err, &exit)
	if exited {
		te.ExitCode = exit.ExitCode()
	}
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("task canceled after %s: %w", res.Duration.Round(time.Millisecond), context.Cause(ctx))
	case context.Cause(runCtx) == ErrClosed:
		return ErrClosed
	case stdout.exceeded.Load():
		te.Kind, te.Err = ErrOutputTooLarge, nil
		te.Detail = fmt.Sprintf("task wrote more than its output limit of %d bytes to stdout and was stopped", limits.MaxOutputBytes)
	case mem.over.Load() || mem.refused.Load():
		te.Kind = ErrMemoryLimit
		te.Detail = fmt.Sprintf("task needed more than its memory limit of %s", formatBytes(limits.MemoryBytes()))
		if exited && te.ExitCode != sys.ExitCodeDeadlineExceeded && te.ExitCode != sys.ExitCodeContextCanceled {
			te.Detail += fmt.Sprintf(" and exited with code %d", te.ExitCode)
		}
	case errors.Is(context.Cause(runCtx), context.DeadlineExceeded) && (!exited || te.ExitCode == sys.ExitCodeDeadlineExceeded):
		te.Kind, te.Err, te.ExitCode = ErrTimeout, nil, 0
		te.Detail = fmt.Sprintf("task ran past its time limit of %s and was stopped", limits.Timeout)
	case exited:
		te.Kind = ErrExitCode
		te.Detail = fmt.Sprintf("task exited with code %d", te.ExitCode)
	default:
		te.Kind = ErrTrap
		te.Detail = "task trapped: " + firstLine(err.Error())
		if isInstantiateError(err) {
			te.Kind = ErrInvalidModule
			te.Detail = "module cannot be instantiated: " + firstLine(err.Error())
		}
	}
	return te
}

// isInstantiateError recognises link errors (an import the sandbox lacks), which are the
// module's fault rather than a trap.
func isInstantiateError(err error) bool {
	s := err.Error()
	return strings.Contains(s, "is not exported in module") || strings.Contains(s, "import func[") ||
		strings.Contains(s, "not instantiated")
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// formatBytes prints n in the largest binary unit that divides it, e.g. "64 MiB".
func formatBytes(n uint64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
