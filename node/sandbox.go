package node

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"allforone/tasks"
	"allforone/tasks/runner"
)

// The node's sandbox: tasks run in runner processes (package tasks/runner) at idle OS
// priority, under limits enforced from outside. While a preference pauses work (schedule,
// CPU busy, battery) the runners are suspended rather than their work discarded; the
// worker keeps renewing the leases of suspended tasks and hands a task back only if the
// pause outlasts its lease.

// sandbox runs tasks: satisfied by *runner.Pool (what a node uses) and by the in-process
// *tasks.Executor.
type sandbox interface {
	Run(ctx context.Context, job tasks.Job) (tasks.Result, error)
	Suspend() error // tasks.ErrNoSuspend where running tasks cannot be suspended
	Resume() error
	Close(ctx context.Context) error
}

// runnerCacheDir holds the runners' compiled modules. It is not <data>/wazero-cache itself,
// where in-process executors of older versions kept code compiled with termination checks:
// wazero's cache does not tell the two apart.
func runnerCacheDir(dataDir string) string {
	return filepath.Join(dataDir, "wazero-cache", "runner")
}

// RunnerCacheDir is the runners' compilation cache in a data dir, shared by the daemon and
// `allforone run --local`.
func RunnerCacheDir(dataDir string) string { return runnerCacheDir(dataDir) }

func (n *Node) newSandbox() (sandbox, error) {
	p, err := runner.New(runner.Config{
		CacheDir:       runnerCacheDir(n.cfg.DataDir),
		Slots:          n.cfg.Slots,
		MaxMemoryBytes: uint64(n.cfg.MaxTaskMemoryMB) << 20,
		IdlePriority:   n.cfg.TaskPriority != PriorityNormal,
		CompileCPU:     time.Duration(n.cfg.CompileBudget),
		CompileMemory:  uint64(n.cfg.CompileMemoryMB) << 20,
		Logger:         n.logs.sandbox,
	})
	if err != nil {
		return nil, fmt.Errorf("task runners: %w", err)
	}
	return p, nil
}

// runnerHealth says why task runners cannot start ("" when they can).
func (n *Node) runnerHealth() string {
	if h, ok := n.exec.(interface{ Health() string }); ok {
		return h.Health()
	}
	return ""
}

// runnerCPU is the CPU time the node's runners used: part of the node's own use when it
// measures how busy the machine is.
func (n *Node) runnerCPU() time.Duration {
	if c, ok := n.exec.(interface{ CPUTime() time.Duration }); ok {
		return c.CPUTime()
	}
	return 0
}

// RunnerPids lists the process IDs of the node's live task runners.
func (n *Node) RunnerPids() []int {
	if p, ok := n.exec.(interface{ Pids() []int }); ok {
		return p.Pids()
	}
	return nil
}

// pauseState is the node's suspension of its running tasks.
type pauseState struct {
	mu        sync.Mutex
	since     time.Time // when the running tasks were suspended; zero while they run
	wake      chan struct{}
	noSuspend bool // the sandbox cannot suspend: tasks go on (logged once)
}

// errPausedTooLong is why a suspended task is handed back.
var errPausedTooLong = errors.New("work was paused for longer than the task's lease: the task is handed back for another peer")

// suspendReason is the first suspending preference that pauses work now, or "".
func (n *Node) suspendReason() string {
	for _, p := range n.pauses() {
		if p.Suspends() {
			return p.Pref + ": " + p.Reason
		}
	}
	return ""
}

// wakePause makes the pause loop look at the preferences now.
func (n *Node) wakePause() {
	select {
	case n.pauseWake() <- struct{}{}:
	default:
	}
}

func (n *Node) pauseWake() chan struct{} {
	s := &n.op.pause
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.wake == nil {
		s.wake = make(chan struct{}, 1)
	}
	return s.wake
}

// pauseLoop suspends the runners while a suspending preference pauses work and resumes
// them when it no longer does. It resumes them when the node stops, so Close can end them.
func (n *Node) pauseLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	wake := n.pauseWake()
	s := &n.op.pause
	defer func() {
		_ = n.exec.Resume() // stopping the node kills the runners either way
	}()
	for {
		why := n.suspendReason()
		s.mu.Lock()
		suspended := !s.since.IsZero()
		s.mu.Unlock()
		switch {
		case why != "" && !suspended:
			err := n.exec.Suspend()
			s.mu.Lock()
			if err == nil {
				s.since = time.Now()
			} else if !s.noSuspend {
				s.noSuspend = true
				n.logs.sandbox.Info("running tasks cannot be suspended here: they finish, and no new ones start while paused", "err", err)
			}
			s.mu.Unlock()
			if err == nil {
				n.logs.sandbox.Info("running tasks suspended", "because", why)
			}
		case why == "" && suspended:
			if err := n.exec.Resume(); err != nil {
				n.logs.sandbox.Warn("resume task runners", "err", err)
			}
			s.mu.Lock()
			s.since = time.Time{}
			s.mu.Unlock()
			n.logs.sandbox.Info("running tasks resumed")
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-t.C:
		}
	}
}

// pausedFor is how long running tasks have been suspended (0 when they are not).
func (n *Node) pausedFor() time.Duration {
	s := &n.op.pause
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.since.IsZero() {
		return 0
	}
	return time.Since(s.since)
}

// pauseGuard returns a context for a task's run that ends (with errPausedTooLong) once
// the node's tasks have been suspended for longer than lease: then the task is handed
// back. stop releases the guard.
func (n *Node) pauseGuard(ctx context.Context, lease time.Duration) (context.Context, func()) {
	gctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(max(lease/20, 50*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-gctx.Done():
				return
			case <-t.C:
				if n.pausedFor() > lease {
					cancel(errPausedTooLong)
					return
				}
			}
		}
	})
	return gctx, func() { close(done); wg.Wait(); cancel(nil) }
}
