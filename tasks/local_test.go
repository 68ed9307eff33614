package tasks

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"allforone/tasks/examples"
	"allforone/tasks/wasmtest"
)

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRunLocalDirMixed runs the primes example over a folder where most inputs make it
// misbehave: bad input, too much output, too much time, too much memory. Each fails alone
// with its own reason; the good ones succeed.
func TestRunLocalDirMixed(t *testing.T) {
	skipGoModulesInShort(t)
	dir := t.TempDir()
	module := filepath.Join(dir, "primes.wasm")
	if err := os.WriteFile(module, examples.Primes(), 0o644); err != nil {
		t.Fatal(err)
	}
	in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	writeFiles(t, in, map[string]string{
		"a-small":      "0 100",
		"b-bad-input":  "hello",
		"c-big-output": "0 100000",              // "9592\n" is over the 4-byte limit
		"d-slow":       "0 100000000000",        // minutes of sieving
		"e-memory":     "0 4611686018427387904", // a 2 GiB sieve of small primes
		"f-ok":         "100 200",
		".hidden":      "not a task",
	})
	writeFiles(t, out, map[string]string{"b-bad-input": "stale output of an earlier run"})
	e := newTestExecutor(t, ExecutorConfig{Slots: 2})
	var reports []TaskReport
	started := 0
	limits := Limits{MemoryPages: 1024, Timeout: time.Second, MaxOutputBytes: 4}
	opts := LocalOptions{Executor: e, OutDir: out, OnStart: func(n int) { started = n }, OnDone: func(r TaskReport) { reports = append(reports, r) }}
	sum, err := RunLocalDir(t.Context(), opts, module, in, limits)
	if err != nil {
		t.Fatalf("RunLocalDir: %v", err)
	}
	if sum.Tasks != 6 || sum.Succeeded != 2 || sum.Failed != 4 || len(reports) != 6 || started != 6 {
		t.Fatalf("summary %+v with %d reports, want 6 tasks, 2 succeeded, 4 failed", sum, len(reports))
	}
	for name, want := range map[string]string{"a-small": "25\n", "f-ok": "21\n"} {
		got, err := os.ReadFile(filepath.Join(out, name))
		if err != nil || string(got) != want {
			t.Errorf("%s: got %q, %v; want %q", name, got, err, want)
		}
	}
	wantKinds := map[string]string{"b-bad-input": "exit", "c-big-output": "output", "d-slow": "timeout", "e-memory": "memory"}
	for _, f := range sum.Failures {
		if wantKinds[f.Task] != f.Kind {
			t.Errorf("%s failed as %q (%s), want %q", f.Task, f.Kind, f.Error, wantKinds[f.Task])
		}
		if _, err := os.Stat(filepath.Join(out, f.Task)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s failed but has an output file", f.Task)
		}
		t.Logf("%s: %s: %s", f.Task, f.Kind, f.Error)
	}
	if f := sum.Failures[0]; f.Task != "b-bad-input" || f.ExitCode == nil || *f.ExitCode != 2 || !strings.Contains(f.Error, "want two numbers") {
		t.Errorf("bad input failure %+v: want exit code 2 and the program's complaint", f)
	}
}

func TestRunLocalDirBadSetup(t *testing.T) {
	dir := t.TempDir()
	e := newTestExecutor(t, ExecutorConfig{Slots: 1})
	junk := filepath.Join(dir, "junk.wasm")
	writeFiles(t, dir, map[string]string{"junk.wasm": "not wasm"})
	writeFiles(t, filepath.Join(dir, "in"), map[string]string{"x": "1"})
	good := filepath.Join(dir, "echo.wasm")
	if err := os.WriteFile(good, wasmtest.Echo(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, module, in, out, says string
	}{
		{"invalid module", junk, filepath.Join(dir, "in"), filepath.Join(dir, "out"), "not valid WebAssembly"},
		{"missing module", filepath.Join(dir, "nope.wasm"), filepath.Join(dir, "in"), filepath.Join(dir, "out"), "nope.wasm"},
		{"missing inputs", good, filepath.Join(dir, "nope"), filepath.Join(dir, "out"), "inputs folder"},
		{"empty inputs", good, filepath.Join(dir, "out"), filepath.Join(dir, "out2"), "no files"},
		{"out is in", good, filepath.Join(dir, "in"), filepath.Join(dir, "in"), "overwrite inputs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.MkdirAll(filepath.Join(dir, "out"), 0o755)
			_, err := RunLocalDir(t.Context(), LocalOptions{Executor: e, OutDir: tc.out}, tc.module, tc.in, Limits{})
			if !errors.Is(err, ErrBadRun) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("got %v, want ErrBadRun saying %q", err, tc.says)
			}
		})
	}
}

// TestRunLocalMissingBlob: a task whose input blob is missing fails alone, with a clear
// reason, and the others run.
func TestRunLocalMissingBlob(t *testing.T) {
	e := newTestExecutor(t, ExecutorConfig{Slots: 2})
	store := NewBlobStore(newMapStore())
	m := testManifest()
	m.Module = BlobRef{CID: ContentID(wasmtest.Echo()), Size: uint64(len(wasmtest.Echo()))}
	tasks := func(yield func(localTask) bool) {
		for task := range m.Tasks(m.Module.CID) {
			in := task.Input
			if !yield(localTask{index: task.Index, name: "t" + string(rune('0'+task.Index)), input: func(ctx context.Context) ([]byte, error) {
				return ResolveInput(ctx, store, in)
			}}) {
				return
			}
		}
	}
	out := t.TempDir()
	sum, err := runLocal(t.Context(), LocalOptions{Executor: e, OutDir: out},
		localBatch{module: wasmtest.Echo(), total: m.NumTasks(), tasks: tasks})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Failed != 1 || sum.Succeeded != m.NumTasks()-1 {
		t.Fatalf("summary %+v: want only the blob task to fail", sum)
	}
	f := sum.Failures[0]
	if f.Index != 0 || f.Kind != "input" || !strings.Contains(f.Error, "blob not found") {
		t.Errorf("failure %+v: want task 0 failing on its missing input blob", f)
	}
	if got, _ := os.ReadFile(filepath.Join(out, "t2")); string(got) != "n=10\n" {
		t.Errorf("range task output %q", got)
	}
}

func TestRunLocalCancel(t *testing.T) {
	dir := t.TempDir()
	module := filepath.Join(dir, "loop.wasm")
	if err := os.WriteFile(module, wasmtest.Loop(), 0o644); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, n := range []string{"1", "2", "3", "4", "5"} {
		files[n] = ""
	}
	writeFiles(t, filepath.Join(dir, "in"), files)
	e := newTestExecutor(t, ExecutorConfig{Slots: 1})
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		waitFor(t, func() bool { return len(e.slots) == 1 })
		cancel()
	}()
	sum, err := RunLocalDir(ctx, LocalOptions{Executor: e, OutDir: filepath.Join(dir, "out")}, module, filepath.Join(dir, "in"), Limits{Timeout: time.Minute})
	if !errors.Is(err, context.Canceled) || sum == nil || sum.NotRun != 5 || sum.Failed != 0 {
		t.Fatalf("got %+v, %v; want 5 tasks not run and context.Canceled", sum, err)
	}
}
