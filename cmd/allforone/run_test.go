package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"allforone/tasks/examples"
	"allforone/tasks/examples/mandel"
	"allforone/tasks/wasmtest"
)

// runFixture writes modules and an inputs folder mixing good and hostile inputs for primes.
func runFixture(t *testing.T) (dir string) {
	t.Helper()
	dir = t.TempDir()
	files := map[string][]byte{
		"primes.wasm":      examples.Primes(),
		"flood.wasm":       wasmtest.OutputFlood(),
		"junk.wasm":        []byte("MZ\x90\x00 not WebAssembly"),
		"in/a-small":       []byte("0 100"),
		"in/b-bad-input":   []byte("hello"),
		"in/c-slow":        []byte("0 100000000000"),
		"in/d-memory-bomb": []byte("0 4611686018427387904"),
		"in/e-ok":          []byte("100 200"),
		"good/1":           []byte("0 10"),
		"good/2":           []byte("10 20"),
	}
	for name, b := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if b != nil {
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

func TestRunLocalCLIMixed(t *testing.T) {
	dir := runFixture(t)
	data := filepath.Join(dir, "data")
	r := runCLI(t, "--data", data, "--json", "run", "--local", "--module", filepath.Join(dir, "primes.wasm"),
		"--inputs", filepath.Join(dir, "in"), "--out", filepath.Join(dir, "out"), "--timeout", "1s", "--memory", "64", "--slots", "2")
	if r.code != exitFailure {
		t.Fatalf("exit %d, want %d (some tasks failed); stderr: %s", r.code, exitFailure, r.stderr)
	}
	var sum struct {
		Tasks, Failed, Succeeded int
		Seconds                  float64
		Failures                 []struct{ Task, Kind, Error string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, r.stdout)
	}
	if sum.Tasks != 5 || sum.Failed != 3 || sum.Succeeded != 2 || sum.Seconds <= 0 {
		t.Fatalf("summary %+v", sum)
	}
	want := map[string]string{"b-bad-input": "exit", "c-slow": "timeout", "d-memory-bomb": "memory"}
	for _, f := range sum.Failures {
		if want[f.Task] != f.Kind || f.Error == "" {
			t.Errorf("failure %+v, want kind %q with a reason", f, want[f.Task])
		}
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "out", "e-ok")); string(got) != "21\n" {
		t.Errorf("e-ok output %q", got)
	}
	if !strings.Contains(r.stderr, "3 of 5 tasks failed") {
		t.Errorf("stderr %q does not sum up the failures", r.stderr)
	}
	if _, err := os.Stat(filepath.Join(data, "wazero-cache")); err != nil {
		t.Errorf("no compilation cache in the data dir: %v", err)
	}
}

func TestRunLocalCLIText(t *testing.T) {
	dir := runFixture(t)
	r := runCLI(t, "--data", filepath.Join(dir, "data"), "run", "--local", "--module", filepath.Join(dir, "primes.wasm"),
		"--inputs", filepath.Join(dir, "good"), "--out", filepath.Join(dir, "out"))
	if r.code != exitOK || !strings.Contains(r.stdout, "2 of 2 tasks succeeded, 0 failed") {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stderr, "tasks") && strings.Contains(r.stderr, "%") {
		t.Errorf("progress bar drawn although stdout is not a terminal: %q", r.stderr)
	}

	// A hostile module: every task floods stdout and is stopped at the limit.
	r = runCLI(t, "--data", filepath.Join(dir, "data"), "run", "--local", "--module", filepath.Join(dir, "flood.wasm"),
		"--inputs", filepath.Join(dir, "good"), "--out", filepath.Join(dir, "out2"), "--max-output", "1000")
	if r.code != exitFailure || strings.Count(r.stdout, "FAIL") != 2 || !strings.Contains(r.stdout, "output limit of 1000 bytes") {
		t.Fatalf("flood: exit %d, stdout %q", r.code, r.stdout)
	}
}

func TestRunLocalCLIManifest(t *testing.T) {
	dir := runFixture(t)
	if err := os.WriteFile(filepath.Join(dir, "mandelbrot.wasm"), examples.Mandelbrot(), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := mandel.Spec{Width: 128, Height: 128, Tile: 64, Iter: 100, X: -0.5, Scale: 3}
	batch := `{"name": "m", "module": "mandelbrot.wasm", "output_ext": ".png",
		"range": {"start": 0, "end": 4, "prefix": "` + spec.Prefix() + `"}, "limits": {"timeout": "20s"}}`
	if err := os.WriteFile(filepath.Join(dir, "batch.json"), []byte(batch), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "tiles")
	r := runCLI(t, "--data", filepath.Join(dir, "data"), "--json", "run", "--local", "--manifest", filepath.Join(dir, "batch.json"), "--out", out)
	if r.code != exitOK {
		t.Fatalf("exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	if _, err := mandel.Assemble(spec, func(i int) ([]byte, error) {
		return os.ReadFile(filepath.Join(out, []string{"0", "1", "2", "3"}[i]+".png"))
	}); err != nil {
		t.Fatalf("tiles do not assemble: %v", err)
	}
}

func TestRunLocalCLIUsage(t *testing.T) {
	dir := runFixture(t)
	mod, in, out := filepath.Join(dir, "primes.wasm"), filepath.Join(dir, "good"), filepath.Join(dir, "out")
	if err := os.WriteFile(filepath.Join(dir, "bad.json"), []byte(`{"module": "primes.wasm", "range": {"end": 2}, "redundancy": 0}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		says string
	}{
		{"no --local", []string{"--module", mod, "--inputs", in, "--out", out}, "needs --local"},
		{"nothing to run", []string{"--local", "--out", out}, "say what to run"},
		{"both forms", []string{"--local", "--manifest", "x.json", "--module", mod, "--out", out}, "exclude each other"},
		{"no out", []string{"--local", "--module", mod, "--inputs", in}, "--out DIR is required"},
		{"memory", []string{"--local", "--module", mod, "--inputs", in, "--out", out, "--memory", "9000"}, "--memory 9000"},
		{"timeout", []string{"--local", "--module", mod, "--inputs", in, "--out", out, "--timeout", "soon"}, "timeout"},
		{"slots", []string{"--local", "--module", mod, "--inputs", in, "--out", out, "--slots", "0"}, "--slots 0"},
		{"not wasm", []string{"--local", "--module", filepath.Join(dir, "junk.wasm"), "--inputs", in, "--out", out}, "not valid WebAssembly"},
		{"missing inputs", []string{"--local", "--module", mod, "--inputs", filepath.Join(dir, "nope"), "--out", out}, "inputs folder"},
		{"missing manifest", []string{"--local", "--manifest", filepath.Join(dir, "nope.json"), "--out", out}, "nope.json"},
		{"invalid manifest", []string{"--local", "--manifest", filepath.Join(dir, "bad.json"), "--out", out}, "redundancy R=0: must be at least 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, append([]string{"--data", filepath.Join(dir, "data"), "run"}, tc.args...)...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tc.says) {
				t.Fatalf("exit %d, stderr %q; want exit %d saying %q", r.code, r.stderr, exitUsage, tc.says)
			}
		})
	}
}
