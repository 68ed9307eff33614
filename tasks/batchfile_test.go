package tasks

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"allforone/tasks/examples"
	"allforone/tasks/examples/mandel"
)

func writeBatch(t *testing.T, dir, json string) string {
	t.Helper()
	p := filepath.Join(dir, "batch.json")
	if err := os.WriteFile(p, []byte(json), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadBatchFile(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, filepath.Join(dir, "in"), map[string]string{"b.txt": "2", "a.txt": "1", ".skip": "x"})
	spec, err := LoadBatchFile(writeBatch(t, dir, `{
		"name": "demo",
		"module": "task.wasm",
		"inputs": ["in/a.txt", {"inline": "hello"}, {"range": {"start": 5, "end": 7, "prefix": "n="}}],
		"range": {"start": 0, "end": 3},
		"args": ["-x"],
		"env": {"K": "V"},
		"limits": {"memory_mb": 64, "timeout": "2s", "max_output_bytes": 1000},
		"redundancy": 3, "replication": 4,
		"deadline": "1h",
		"output_ext": ".out"
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if spec.ModulePath != filepath.Join(dir, "task.wasm") || spec.Redundancy != 3 || spec.Replication != 4 || spec.MaxReplicas != 5 {
		t.Errorf("spec %+v", spec)
	}
	if spec.Limits != (Limits{MemoryPages: 64 * 16, Timeout: 2 * time.Second, MaxOutputBytes: 1000}) {
		t.Errorf("limits %+v", spec.Limits)
	}
	var names []string
	for i := 0; spec.TaskName(i) != ""; i++ {
		names = append(names, spec.TaskName(i))
	}
	if got := strings.Join(names, " "); got != "a.txt inline-1 5 6 0 1 2" {
		t.Errorf("task names %q", got)
	}

	folder, err := LoadBatchFile(writeBatch(t, dir, `{"module": "m.wasm", "inputs": "in"}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(folder.Inputs) != 2 || filepath.Base(folder.Inputs[0].File) != "a.txt" || folder.Redundancy != DefaultRedundancy {
		t.Errorf("folder inputs %+v", folder)
	}
}

func TestLoadBatchFileErrors(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, filepath.Join(dir, "x"), map[string]string{"same": "1"})
	writeFiles(t, filepath.Join(dir, "y"), map[string]string{"same": "2", "7": "3"})
	for _, tc := range []struct{ name, json, says string }{
		{"not json", `module: x`, "not a valid batch file"},
		{"typo", `{"module": "m.wasm", "redundnacy": 2, "range": {"end": 1}}`, `unknown field "redundnacy"`},
		{"no module", `{"range": {"end": 1}}`, `"module" is missing`},
		{"no inputs", `{"module": "m.wasm"}`, "no inputs"},
		{"empty range", `{"module": "m.wasm", "range": {"start": 3, "end": 3}}`, "range [3, 3) is empty"},
		{"bad timeout", `{"module": "m.wasm", "range": {"end": 1}, "limits": {"timeout": "soon"}}`, `"limits.timeout" "soon"`},
		{"huge memory", `{"module": "m.wasm", "range": {"end": 1}, "limits": {"memory_mb": 5000}}`, "at most 4096"},
		{"bad item", `{"module": "m.wasm", "inputs": [{"inline": "a", "file": "b"}]}`, "exactly one"},
		{"dup names", `{"module": "m.wasm", "inputs": ["x/same", "y/same"]}`, `both write the output "same"`},
		{"name clash with range", `{"module": "m.wasm", "inputs": ["y/7"], "range": {"end": 10}}`, "same output name as a range task"},
		{"missing folder", `{"module": "m.wasm", "inputs": "nope"}`, "inputs folder"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadBatchFile(writeBatch(t, dir, tc.json))
			if err == nil || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("got %v, want an error saying %q", err, tc.says)
			}
		})
	}
	// Validation happens when the manifest is built: R=0 is refused with the manifest's words.
	if err := os.WriteFile(filepath.Join(dir, "m.wasm"), examples.Pi(), 0o644); err != nil {
		t.Fatal(err)
	}
	spec, err := LoadBatchFile(writeBatch(t, dir, `{"module": "m.wasm", "range": {"end": 1}, "redundancy": 0}`))
	if err != nil {
		t.Fatal(err)
	}
	e := newTestExecutor(t, ExecutorConfig{Slots: 1})
	_, err = RunLocalBatch(t.Context(), LocalOptions{Executor: e, OutDir: filepath.Join(dir, "out")}, spec)
	if err == nil || !strings.Contains(err.Error(), "redundancy R=0: must be at least 1") {
		t.Fatalf("R=0: got %v", err)
	}
}

// TestRunLocalBatchMandelbrot renders an image as one range input, assembles the tiles and
// compares with a native rendering.
func TestRunLocalBatchMandelbrot(t *testing.T) {
	skipGoModulesInShort(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "mandelbrot.wasm"), examples.Mandelbrot(), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := mandel.Spec{Width: 192, Height: 128, Tile: 64, Iter: 150, X: -0.5, Scale: 3}
	batch, err := LoadBatchFile(writeBatch(t, dir, `{
		"name": "mandelbrot", "module": "mandelbrot.wasm", "output_ext": ".png",
		"range": {"start": 0, "end": 6, "prefix": "`+spec.Prefix()+`"},
		"limits": {"timeout": "30s"}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	e := newTestExecutor(t, ExecutorConfig{Slots: 2})
	out := filepath.Join(dir, "out")
	sum, err := RunLocalBatch(t.Context(), LocalOptions{Executor: e, OutDir: out}, batch)
	if err != nil || sum.Failed != 0 || sum.Succeeded != 6 {
		t.Fatalf("run: %+v, %v", sum, err)
	}
	img, err := mandel.Assemble(spec, func(i int) ([]byte, error) {
		return os.ReadFile(filepath.Join(out, batch.TaskName(i)+".png"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(img.Pix, mandel.RenderImage(spec).Pix) {
		t.Fatal("the assembled tiles differ from the native rendering")
	}
}

// TestRunLocalBatchSeeded: pi without a seed draws from the sandbox's random source, which is
// seeded per task: two local runs agree, and two tasks differ.
func TestRunLocalBatchSeeded(t *testing.T) {
	skipGoModulesInShort(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pi.wasm"), examples.Pi(), 0o644); err != nil {
		t.Fatal(err)
	}
	batch, err := LoadBatchFile(writeBatch(t, dir, `{"module": "pi.wasm", "inputs": [{"inline": "samples=20000"}, {"inline": "samples=20000"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	e := newTestExecutor(t, ExecutorConfig{Slots: 2})
	var runs [2][2][]byte
	for r := range 2 {
		out := filepath.Join(dir, "out", string(rune('a'+r)))
		if sum, err := RunLocalBatch(t.Context(), LocalOptions{Executor: e, OutDir: out}, batch); err != nil || sum.Failed != 0 {
			t.Fatalf("run %d: %+v %v", r, sum, err)
		}
		for i := range 2 {
			b, err := os.ReadFile(filepath.Join(out, batch.TaskName(i)))
			if err != nil {
				t.Fatal(err)
			}
			runs[r][i] = b
		}
	}
	if !bytes.Equal(runs[0][0], runs[1][0]) || !bytes.Equal(runs[0][1], runs[1][1]) {
		t.Errorf("two local runs differ: %q vs %q", runs[0], runs[1])
	}
	if bytes.Equal(runs[0][0], runs[0][1]) {
		t.Errorf("two tasks with the same input got the same random stream: %q", runs[0][0])
	}
}
