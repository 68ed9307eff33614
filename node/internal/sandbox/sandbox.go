// Package sandbox is the node's side of running tasks: the runner pool it starts (tasks
// run in runner processes of package tasks/runner at idle OS priority, under limits enforced
// from outside), and the pause (pause.go). While a preference pauses work (schedule, CPU
// busy, battery) the runners are suspended rather than their work discarded; the worker
// keeps renewing the leases of suspended tasks and hands a task back only if the pause
// outlasts its lease.
package sandbox

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"allforone/tasks"
	"allforone/tasks/runner"
)

// Sandbox runs tasks: satisfied by *runner.Pool (what a node uses) and by the in-process
// *tasks.Executor.
type Sandbox interface {
	Run(ctx context.Context, job tasks.Job) (tasks.Result, error)
	Suspend() error // tasks.ErrNoSuspend where running tasks cannot be suspended
	Resume() error
	Close(ctx context.Context) error
}

// CacheDir holds the runners' compiled modules in a data dir, shared by the daemon and
// `allforone run --local`. It is not <data>/wazero-cache itself, where in-process
// executors of older versions kept code compiled with termination checks: wazero's cache
// does not tell the two apart.
func CacheDir(dataDir string) string {
	return filepath.Join(dataDir, "wazero-cache", "runner")
}

// Config is what the runner pool is started with.
type Config struct {
	DataDir         string
	Slots           int           // tasks at once
	MaxTaskMemoryMB int           // per task
	IdlePriority    bool          // run tasks at the lowest OS priority
	CompileBudget   time.Duration // CPU time a module may take to compile
	CompileMemoryMB int           // memory a compilation may take
	Log             *slog.Logger
}

// New starts the runner pool.
func New(cfg Config) (Sandbox, error) {
	p, err := runner.New(runner.Config{
		CacheDir:       CacheDir(cfg.DataDir),
		Slots:          cfg.Slots,
		MaxMemoryBytes: uint64(cfg.MaxTaskMemoryMB) << 20,
		IdlePriority:   cfg.IdlePriority,
		CompileCPU:     cfg.CompileBudget,
		CompileMemory:  uint64(cfg.CompileMemoryMB) << 20,
		Logger:         cfg.Log,
	})
	if err != nil {
		return nil, fmt.Errorf("task runners: %w", err)
	}
	return p, nil
}

// Health says why s's task runners cannot start ("" when they can, or s cannot tell).
func Health(s Sandbox) string {
	if h, ok := s.(interface{ Health() string }); ok {
		return h.Health()
	}
	return ""
}

// CPUTime is the CPU time s's runners used (0 when s cannot tell).
func CPUTime(s Sandbox) time.Duration {
	if c, ok := s.(interface{ CPUTime() time.Duration }); ok {
		return c.CPUTime()
	}
	return 0
}

// Pids lists the process IDs of s's live task runners (none when s has no processes).
func Pids(s Sandbox) []int {
	if p, ok := s.(interface{ Pids() []int }); ok {
		return p.Pids()
	}
	return nil
}
