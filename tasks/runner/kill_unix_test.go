//go:build unix

package runner

import (
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"allforone/tasks"
	"allforone/tasks/wasmtest"
)

// TestPoolWallCap: a task whose runner gets no CPU (here: stopped from outside) is
// stopped at its wall-time cap, not at its CPU-time limit.
func TestPoolWallCap(t *testing.T) {
	p := newTestPool(t, Config{Slots: 1, WallFactor: 3})
	loop := wasmtest.Loop()
	if err := p.Compile(t.Context(), tasks.ContentID(loop), loop); err != nil {
		t.Fatal(err)
	}
	pids := p.Pids()
	if len(pids) != 1 {
		t.Fatalf("%d runners, want 1", len(pids))
	}
	errc := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := p.Run(t.Context(), job(loop, nil, tasks.Limits{Timeout: 200 * time.Millisecond}))
		errc <- err
	}()
	// Stop the runner as the machine's owner would starve it: no CPU time, wall time on.
	if err := syscall.Kill(pids[0], syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	err := <-errc
	took := time.Since(start)
	if !errors.Is(err, tasks.ErrTimeout) || !strings.Contains(err.Error(), "wall time") {
		t.Fatalf("got %v, want a timeout at the wall-time cap", err)
	}
	if took < 600*time.Millisecond {
		t.Errorf("stopped after %s, before its wall cap of 600ms", took)
	}
	t.Logf("%v (%s)", err, took.Round(time.Millisecond))
}

// TestPoolRunnerKilled: a runner killed from outside (kill -9) fails only its task, and the
// next task runs in a fresh runner.
func TestPoolRunnerKilled(t *testing.T) {
	p := newTestPool(t, Config{Slots: 1})
	loop := wasmtest.Loop()
	errc := make(chan error, 1)
	go func() {
		_, err := p.Run(t.Context(), job(loop, nil, tasks.Limits{Timeout: time.Minute}))
		errc <- err
	}()
	var pid int
	waitFor(t, func() bool {
		if pids := p.Pids(); len(pids) == 1 {
			pid = pids[0]
		}
		return pid != 0
	})
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := <-errc
	if !errors.Is(err, tasks.ErrCrashed) || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("got %v, want ErrCrashed saying the runner was killed", err)
	}
	res, err := p.Run(t.Context(), job(wasmtest.Echo(), []byte("next"), tasks.Limits{}))
	if err != nil || string(res.Output) != "next" {
		t.Fatalf("next task: %q, %v", res.Output, err)
	}
	if pids := p.Pids(); len(pids) != 1 || pids[0] == pid {
		t.Errorf("runners %v after the kill of %d, want one fresh runner", pids, pid)
	}
}
