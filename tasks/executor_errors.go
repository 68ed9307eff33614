package tasks

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// Task failure kinds. Every error from Executor.Run that is the task's own fault is a
// *TaskError whose Kind is one of these; check them with errors.Is.
var (
	// ErrInvalidModule: the module is not WebAssembly, does not match its content ID,
	// imports something other than WASI preview 1, or has no _start function.
	ErrInvalidModule = errors.New("invalid module")
	// ErrTimeout: the task ran past its time limit and was stopped.
	ErrTimeout = errors.New("time limit exceeded")
	// ErrMemoryLimit: the task needed more linear memory than its limit.
	ErrMemoryLimit = errors.New("memory limit exceeded")
	// ErrOutputTooLarge: the task wrote more than its output limit to stdout and was stopped.
	ErrOutputTooLarge = errors.New("output limit exceeded")
	// ErrTrap: the module hit a WebAssembly trap (unreachable, out-of-bounds access,
	// division by zero, stack overflow, ...).
	ErrTrap = errors.New("module trapped")
	// ErrExitCode: the module exited with a non-zero exit code.
	ErrExitCode = errors.New("module exited with a non-zero code")
	// ErrCompileBudget: compiling the module took more CPU time or memory than the
	// volunteer's compile budget (a runner compiles under it, see tasks/runner). The
	// module is refused for every task of its batch on that node.
	ErrCompileBudget = errors.New("compile budget exceeded")
	// ErrCrashed: the runner process running the task died (it crashed, the operating
	// system killed it, or someone did): the task failed, the next one gets a fresh runner.
	ErrCrashed = errors.New("task runner died")
)

// Executor errors that are not the task's fault.
var (
	// ErrClosed: the executor is closed or closing.
	ErrClosed = errors.New("executor is closed")
	// ErrNotCompiled: Run got no module bytes for a module it has not compiled (or has
	// evicted from its cache): pass Job.Module.
	ErrNotCompiled = errors.New("module is not compiled")
	// ErrNoSuspend: this executor cannot suspend running tasks (they run inside this
	// process); they go on running.
	ErrNoSuspend = errors.New("running tasks cannot be suspended here")
)

// TaskError is a task's failure: its kind (one of the sentinels above), what happened in
// words, the exit code when there is one, and the tail of the task's stderr.
type TaskError struct {
	Kind     error  // ErrInvalidModule, ErrTimeout, ErrMemoryLimit, ErrOutputTooLarge, ErrTrap, ErrExitCode, ErrCompileBudget or ErrCrashed
	Detail   string // what happened, for a user
	ExitCode uint32 // the module's exit code, for ErrExitCode (and ErrMemoryLimit when it exited)
	Stderr   []byte // the last bytes the module wrote to stderr
	Err      error  // the underlying error, if any
}

// Error is Detail followed by the most telling line of stderr.
func (e *TaskError) Error() string {
	msg := e.Detail
	if line := stderrHint(e.Stderr); line != "" {
		msg += " (stderr: " + line + ")"
	}
	return msg
}

// Unwrap exposes Kind and the underlying error to errors.Is and errors.As.
func (e *TaskError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// stderrHint picks the line of stderr that best explains a failure: a Go panic or fatal
// error line if there is one, otherwise the last non-empty line, shortened to 200 bytes.
func stderrHint(stderr []byte) string {
	var last string
	for line := range bytes.Lines(stderr) {
		s := strings.TrimSpace(string(line))
		if strings.HasPrefix(s, "panic: ") || strings.HasPrefix(s, "fatal error: ") {
			last = s
			break
		}
		if s != "" {
			last = s
		}
	}
	if len(last) > 200 {
		last = last[:200] + "..."
	}
	return last
}

func invalidModule(format string, args ...any) *TaskError {
	return &TaskError{Kind: ErrInvalidModule, Detail: fmt.Sprintf(format, args...)}
}
