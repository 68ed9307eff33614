package tasks

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"allforone/tasks/wasmtest"
)

func newTestExecutor(t testing.TB, cfg ExecutorConfig) *Executor {
	t.Helper()
	if cfg.CacheDir == "" {
		cfg.CacheDir = testCacheDir
	}
	e, err := NewExecutor(cfg)
	if err != nil {
		t.Fatalf("NewExecutor: %v", err)
	}
	t.Cleanup(func() {
		if err := e.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return e
}

func job(module, input []byte, limits Limits) Job {
	return Job{ModuleID: ContentID(module), Module: module, Input: input, Limits: limits}
}

func TestExecutorEcho(t *testing.T) {
	e := newTestExecutor(t, ExecutorConfig{Slots: 2})
	in := bytes.Repeat([]byte("hello sandbox "), 10000) // more than one read chunk
	res, err := e.Run(t.Context(), job(wasmtest.Echo(), in, Limits{}))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !bytes.Equal(res.Output, in) {
		t.Fatalf("output: got %d bytes, want the %d input bytes", len(res.Output), len(in))
	}
	if res.Limits != e.Caps() {
		t.Errorf("limits: got %+v, want the caps %+v", res.Limits, e.Caps())
	}
}

func TestExecutorHostile(t *testing.T) {
	e := newTestExecutor(t, ExecutorConfig{Slots: 2, MaxMemoryBytes: 256 << 20})
	limits := Limits{MemoryPages: 256, Timeout: 300 * time.Millisecond, MaxOutputBytes: 64 << 10} // 16 MiB
	for _, tc := range []struct {
		name   string
		module []byte
		kind   error
		want   string // in the message
	}{
		{"not wasm", []byte("#!/bin/sh\nrm -rf /\n"), ErrInvalidModule, "not valid WebAssembly"},
		{"empty", []byte{}, ErrInvalidModule, "not valid WebAssembly"},
		{"trap", wasmtest.Trap(), ErrTrap, "unreachable"},
		{"loop", wasmtest.Loop(), ErrTimeout, "time limit of 300ms"},
		{"start section loop", wasmtest.StartLoop(), ErrTimeout, "time limit"},
		{"memory bomb", wasmtest.MemoryBomb(), ErrMemoryLimit, "memory limit of 16 MiB"},
		{"big initial memory", wasmtest.BigMemory(1024), ErrMemoryLimit, "initial memory of 64 MiB is over the task's memory limit of 16 MiB"},
		{"initial memory over the node cap", wasmtest.BigMemory(8192), ErrMemoryLimit, "node's memory cap of 256 MiB"},
		{"output flood", wasmtest.OutputFlood(), ErrOutputTooLarge, "output limit of 65536 bytes"},
		{"exit code", wasmtest.Exit(3), ErrExitCode, "exited with code 3"},
		{"threads", wasmtest.SharedMemory(), ErrInvalidModule, "refuses them because they make results nondeterministic"},
		{"foreign import", wasmtest.ForeignImport(), ErrInvalidModule, "env.host_time"},
		{"unknown wasi function", wasmtest.UnknownWASI(), ErrInvalidModule, "sock_open_anything"},
		{"no _start", wasmtest.NoStart(), ErrInvalidModule, "_start"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := limits
			if tc.kind != ErrTimeout {
				l.Timeout = time.Minute // a busy machine must not turn another failure into a timeout
			}
			start := time.Now()
			_, err := e.Run(t.Context(), job(tc.module, nil, l))
			took := time.Since(start)
			if !errors.Is(err, tc.kind) {
				t.Fatalf("got error %v, want kind %v", err, tc.kind)
			}
			var te *TaskError
			if !errors.As(err, &te) {
				t.Fatalf("error %T is not a *TaskError", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("message %q does not say %q", err, tc.want)
			}
			// Stopped at the limit, not run on: the margin is wide for a busy machine.
			if tc.kind == ErrTimeout && (took < limits.Timeout || took > limits.Timeout+5*time.Second) {
				t.Errorf("stopped after %s, want %s plus a margin", took, limits.Timeout)
			}
			t.Logf("%s: %v (%s)", tc.name, err, took.Round(time.Millisecond))
		})
	}
	// The executor is still fine after all of that.
	res, err := e.Run(t.Context(), job(wasmtest.Echo(), []byte("still here"), limits))
	if err != nil || string(res.Output) != "still here" {
		t.Fatalf("after hostile modules: %q, %v", res.Output, err)
	}
}

func TestExecutorProbeSeesNothingReal(t *testing.T) {
	e := newTestExecutor(t, ExecutorConfig{Slots: 1})
	probe := wasmtest.Probe()
	run := func(seed byte, env map[string]string) []byte {
		t.Helper()
		j := job(probe, nil, Limits{})
		j.Seed[0] = seed
		j.Env = env
		res, err := e.Run(t.Context(), j)
		if err != nil {
			t.Fatalf("probe: %v", err)
		}
		if len(res.Output) != wasmtest.ProbeSize {
			t.Fatalf("probe wrote %d bytes, want %d", len(res.Output), wasmtest.ProbeSize)
		}
		return res.Output
	}
	out := run(1, nil)
	le := binary.LittleEndian
	wall := time.Unix(0, int64(le.Uint64(out[0:8])))
	if now := time.Now(); wall.After(now.Add(-24*time.Hour)) && wall.Before(now.Add(24*time.Hour)) {
		t.Errorf("wall clock %s is the real time", wall)
	}
	if got := le.Uint32(out[16:20]); got != 0 {
		t.Errorf("environment has %d variables, want none", got)
	}
	if errno := le.Uint32(out[24:28]); errno == 0 {
		t.Errorf("opening etc/passwd succeeded")
	}
	if argc := le.Uint32(out[28:32]); argc != 1 {
		t.Errorf("argc %d, want 1 (argv[0] only)", argc)
	}
	if again := run(1, nil); !bytes.Equal(again, out) {
		t.Errorf("two runs with the same seed differ:\n%x\n%x", out, again)
	}
	other := run(2, map[string]string{"A": "1", "B": "2"})
	if bytes.Equal(other[32:40], out[32:40]) {
		t.Errorf("random bytes do not depend on the seed")
	}
	if got := le.Uint32(other[16:20]); got != 2 {
		t.Errorf("environment has %d variables, want the 2 from the job", got)
	}
	if !bytes.Equal(other[0:16], out[0:16]) {
		t.Errorf("clocks differ between runs: %x vs %x", other[0:16], out[0:16])
	}
}

func TestExecutorParallelSlots(t *testing.T) {
	e := newTestExecutor(t, ExecutorConfig{Slots: 3})
	loop := wasmtest.Loop()
	if err := e.Compile(t.Context(), ContentID(loop), loop); err != nil {
		t.Fatal(err)
	}
	const n = 6
	limits := Limits{Timeout: 100 * time.Millisecond}
	start := time.Now()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			j := job(loop, nil, limits)
			j.Module = nil // compiled already
			if _, err := e.Run(t.Context(), j); !errors.Is(err, ErrTimeout) {
				t.Errorf("got %v, want a timeout", err)
			}
		})
	}
	wg.Wait()
	// 6 tasks of 100 ms on 3 slots take two rounds: at least 200 ms.
	if took := time.Since(start); took < 2*limits.Timeout {
		t.Errorf("%d tasks on 3 slots took %s: slots are not enforced", n, took)
	}
}

func TestExecutorNotCompiled(t *testing.T) {
	e := newTestExecutor(t, ExecutorConfig{Slots: 1})
	j := job(wasmtest.Echo(), nil, Limits{})
	j.Module = nil
	if _, err := e.Run(t.Context(), j); !errors.Is(err, ErrNotCompiled) {
		t.Fatalf("got %v, want ErrNotCompiled", err)
	}
	j = job(wasmtest.Echo(), nil, Limits{})
	j.ModuleID = ContentID([]byte("something else"))
	if _, err := e.Run(t.Context(), j); !errors.Is(err, ErrInvalidModule) || !strings.Contains(err.Error(), "hash") {
		t.Fatalf("module not matching its ID: got %v, want ErrInvalidModule about the hash", err)
	}
	// Wrong bytes for an ID do not stop the right bytes from working later.
	wrong := job(wasmtest.Echo(), []byte("x"), Limits{})
	wrong.Module = wasmtest.Trap()
	if _, err := e.Run(t.Context(), wrong); !errors.Is(err, ErrInvalidModule) {
		t.Fatalf("wrong bytes: got %v", err)
	}
	if res, err := e.Run(t.Context(), job(wasmtest.Echo(), []byte("x"), Limits{})); err != nil || string(res.Output) != "x" {
		t.Fatalf("right bytes after wrong ones: %q, %v", res.Output, err)
	}
}

func TestExecutorCancelAndClose(t *testing.T) {
	e, err := NewExecutor(ExecutorConfig{Slots: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := e.Run(ctx, job(wasmtest.Loop(), nil, Limits{Timeout: time.Minute}))
		errc <- err
	}()
	waitFor(t, func() bool { return len(e.slots) == 1 })
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled run: got %v, want context.Canceled", err)
	}

	go func() {
		_, err := e.Run(t.Context(), job(wasmtest.Loop(), nil, Limits{Timeout: time.Minute}))
		errc <- err
	}()
	waitFor(t, func() bool { return len(e.slots) == 1 })
	start := time.Now()
	if err := e.Close(t.Context()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("run during Close: got %v, want ErrClosed", err)
	}
	if took := time.Since(start); took > 10*time.Second { // the task alone would run a minute
		t.Errorf("Close took %s with a running task", took)
	}
	if err := e.Close(t.Context()); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := e.Run(t.Context(), job(wasmtest.Echo(), nil, Limits{})); !errors.Is(err, ErrClosed) {
		t.Errorf("Run after Close: got %v, want ErrClosed", err)
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
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}

func TestDeclaredMemoryPages(t *testing.T) {
	for _, tc := range []struct {
		name   string
		module []byte
		pages  uint32
		ok     bool
	}{
		{"one page", wasmtest.Echo(), 1, true},
		{"big", wasmtest.BigMemory(1024), 1024, true},
		{"no memory", wasmtest.Module{Types: []wasmtest.FuncType{{}}}.Encode(), 0, true},
		{"not wasm", []byte("hi"), 0, false},
		{"truncated", wasmtest.BigMemory(1024)[:20], 0, false},
	} {
		pages, ok := declaredMemoryPages(tc.module)
		if pages != tc.pages || ok != tc.ok {
			t.Errorf("%s: got %d, %v; want %d, %v", tc.name, pages, ok, tc.pages, tc.ok)
		}
	}
}

// TestExecutorMemoryStaysBounded runs many hostile tasks and checks that the process's heap
// does not grow with them: each task's memory and output die with the task.
func TestExecutorMemoryStaysBounded(t *testing.T) {
	e := newTestExecutor(t, ExecutorConfig{Slots: 2})
	limits := Limits{MemoryPages: 512, Timeout: 5 * time.Second, MaxOutputBytes: 1 << 20} // 32 MiB
	modules := [][]byte{wasmtest.MemoryBomb(), wasmtest.OutputFlood(), wasmtest.Trap(), wasmtest.BigMemory(600)}
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse
	}
	run := func() {
		var wg sync.WaitGroup
		for _, m := range modules {
			wg.Go(func() {
				if _, err := e.Run(t.Context(), job(m, nil, limits)); err == nil {
					t.Error("a hostile task succeeded")
				}
			})
		}
		wg.Wait()
	}
	run() // compile and warm up
	before := heap()
	for range 20 {
		run()
	}
	after := heap()
	t.Logf("heap in use: %d MiB before, %d MiB after 80 hostile tasks", before>>20, after>>20)
	if after > before+32<<20 {
		t.Errorf("heap grew from %d MiB to %d MiB", before>>20, after>>20)
	}
}
