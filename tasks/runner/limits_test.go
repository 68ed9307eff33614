package runner

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"allforone/tasks"
	"allforone/tasks/wasmtest"
)

// TestPoolHostile is the hostile-module suite of package tasks, through runners: every
// module fails with its kind and a message that says why, and the pool still works after.
func TestPoolHostile(t *testing.T) {
	// The wall-time cap far away (30 s): on a busy machine a loop may get less than its
	// 300 ms of CPU time in 3 s, and its verdict here is the CPU-time limit (the cap has
	// TestPoolWallCap).
	p := newTestPool(t, Config{Slots: 2, MaxMemoryBytes: 256 << 20, WallFactor: 100})
	limits := tasks.Limits{MemoryPages: 256, Timeout: 300 * time.Millisecond, MaxOutputBytes: 64 << 10} // 16 MiB
	for _, tc := range []struct {
		name   string
		module []byte
		kind   error
		want   string // in the message
	}{
		{"not wasm", []byte("#!/bin/sh\nrm -rf /\n"), tasks.ErrInvalidModule, "not valid WebAssembly"},
		{"empty", []byte{}, tasks.ErrInvalidModule, "not valid WebAssembly"},
		{"trap", wasmtest.Trap(), tasks.ErrTrap, "unreachable"},
		{"loop", wasmtest.Loop(), tasks.ErrTimeout, "time limit of 300ms of CPU time"},
		{"start section loop", wasmtest.StartLoop(), tasks.ErrTimeout, "time limit"},
		{"memory bomb", wasmtest.MemoryBomb(), tasks.ErrMemoryLimit, "memory limit of 16 MiB"},
		{"memory filler", wasmtest.MemoryFiller(), tasks.ErrMemoryLimit, "memory limit of 16 MiB"},
		{"big initial memory", wasmtest.BigMemory(1024), tasks.ErrMemoryLimit, "initial memory of 64 MiB is over the task's memory limit of 16 MiB"},
		{"output flood", wasmtest.OutputFlood(), tasks.ErrOutputTooLarge, "output limit of 65536 bytes"},
		{"exit code", wasmtest.Exit(3), tasks.ErrExitCode, "exited with code 3"},
		{"threads", wasmtest.SharedMemory(), tasks.ErrInvalidModule, "refuses them because they make results nondeterministic"},
		{"foreign import", wasmtest.ForeignImport(), tasks.ErrInvalidModule, "env.host_time"},
		{"unknown wasi function", wasmtest.UnknownWASI(), tasks.ErrInvalidModule, "sock_open_anything"},
		{"no _start", wasmtest.NoStart(), tasks.ErrInvalidModule, "_start"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := p.Run(t.Context(), job(tc.module, nil, limits))
			took := time.Since(start)
			if !errors.Is(err, tc.kind) {
				t.Fatalf("got error %v, want kind %v", err, tc.kind)
			}
			var te *tasks.TaskError
			if !errors.As(err, &te) {
				t.Fatalf("error %T is not a *TaskError", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("message %q does not say %q", err, tc.want)
			}
			if tc.kind == tasks.ErrTimeout && took < limits.Timeout {
				t.Errorf("stopped after %s, before its limit of %s", took, limits.Timeout)
			}
			t.Logf("%s: %v (%s)", tc.name, err, took.Round(time.Millisecond))
		})
	}
	res, err := p.Run(t.Context(), job(wasmtest.Echo(), []byte("still here"), limits))
	if err != nil || string(res.Output) != "still here" {
		t.Fatalf("after hostile modules: %q, %v", res.Output, err)
	}
}

// TestPoolUnavailable: a runner binary that is missing (an upgrade replaced it) is
// reported with what to do and tried again after a backoff; once the binary is back,
// tasks run again.
func TestPoolUnavailable(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir() + "/allforone"
	p := newTestPool(t, Config{Slots: 1, Binary: bin})
	echo := job(wasmtest.Echo(), []byte("x"), tasks.Limits{})
	_, err = p.Run(t.Context(), echo)
	if !errors.Is(err, ErrRunnerUnavailable) || !strings.Contains(err.Error(), "restart the daemon") {
		t.Fatalf("missing binary: got %v, want ErrRunnerUnavailable saying to restart the daemon", err)
	}
	if h := p.Health(); !strings.Contains(h, bin) {
		t.Errorf("health %q does not name the binary", h)
	}
	if _, err := p.Run(t.Context(), echo); !errors.Is(err, ErrRunnerUnavailable) || !strings.Contains(err.Error(), "next try in") {
		t.Fatalf("during the backoff: got %v, want the same error with the next try", err)
	}
	if err := os.Symlink(self, bin); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := p.Run(t.Context(), echo)
		if err == nil {
			if string(res.Output) != "x" {
				t.Fatalf("output %q", res.Output)
			}
			break
		}
		if !errors.Is(err, ErrRunnerUnavailable) || time.Now().After(deadline) {
			t.Fatalf("after the binary came back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if h := p.Health(); h != "" {
		t.Errorf("health after a start: %q, want empty", h)
	}
}

// waitFor polls cond until it holds or a 10 s deadline passes.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}
