package examples_test

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"allforone/tasks"
	"allforone/tasks/examples"
	"allforone/tasks/examples/internal/wasmbuild"
	"allforone/tasks/examples/mandel"
)

// skipInShort skips tests that compile the Go-built examples (a second or two each, about
// 20 s each under the race detector) or rebuild them, when -short is set.
func skipInShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("compiles Go-built modules: slow under -race; runs without -short")
	}
}

// exampleCases are one small input per example, with a check of its output.
var exampleCases = []struct {
	name  string
	input string
	check func(t *testing.T, out []byte)
}{
	{"mandelbrot", "w=256 h=256 tile=64 iter=200 i=5", func(t *testing.T, out []byte) {
		img, err := png.Decode(bytes.NewReader(out))
		if err != nil {
			t.Fatalf("not a PNG: %v", err)
		}
		if s := img.Bounds().Size(); s.X != 64 || s.Y != 64 {
			t.Fatalf("tile is %v, want 64x64", s)
		}
	}},
	{"primes", "0 1000000", func(t *testing.T, out []byte) {
		if string(out) != "78498\n" {
			t.Fatalf("got %q, want 78498", out)
		}
	}},
	{"pow", "data=hello bits=12", func(t *testing.T, out []byte) {
		if !strings.HasPrefix(string(out), "nonce=") || !strings.Contains(string(out), "hash=000") {
			t.Fatalf("got %q, want a nonce with a hash of 12 leading zero bits", out)
		}
	}},
	{"pi", "samples=200000", func(t *testing.T, out []byte) {
		if !strings.Contains(string(out), "pi=3.1") {
			t.Fatalf("got %q, want an estimate near 3.14", out)
		}
	}},
	{"cmandel", "256 256 100", func(t *testing.T, out []byte) {
		if string(out) != "pixels=65536 iterations=1370043 sum=16497618904212067371\n" {
			t.Fatalf("got %q, want the counts of the native build", out)
		}
	}},
}

// TestExamplesDeterministic runs every example twice on each of two executors (sharing an
// on-disk compilation cache, as two runs of one node would) and requires identical bytes.
func TestExamplesDeterministic(t *testing.T) {
	skipInShort(t)
	cache := t.TempDir()
	var first map[string][]byte
	for round := range 2 {
		e, err := tasks.NewExecutor(tasks.ExecutorConfig{Slots: 2, CacheDir: cache})
		if err != nil {
			t.Fatal(err)
		}
		outs := map[string][]byte{}
		for _, c := range exampleCases {
			module, ok := examples.Module(c.name)
			if !ok {
				t.Fatalf("no example %q", c.name)
			}
			id := tasks.ContentID(module)
			j := tasks.Job{ModuleID: id, Module: module, Input: []byte(c.input), Limits: tasks.Limits{Timeout: time.Minute}}
			j.Seed = tasks.TaskSeed(tasks.TaskID(id, 0))
			for run := range 2 {
				res, err := e.Run(t.Context(), j)
				if err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				c.check(t, res.Output)
				if prev, ok := outs[c.name]; ok && !bytes.Equal(prev, res.Output) {
					t.Fatalf("%s: run %d of executor %d differs from the first", c.name, run, round)
				}
				outs[c.name] = res.Output
			}
			if first != nil && !bytes.Equal(first[c.name], outs[c.name]) {
				t.Fatalf("%s: executor %d gives other bytes than executor 0", c.name, round)
			}
		}
		first = outs
		if err := e.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMandelbrotAssemble renders every tile of a small image in the sandbox and assembles
// them; the result must equal a native rendering, pixel for pixel.
func TestMandelbrotAssemble(t *testing.T) {
	skipInShort(t)
	e, err := tasks.NewExecutor(tasks.ExecutorConfig{Slots: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	module := examples.Mandelbrot()
	id := tasks.ContentID(module)
	spec := mandel.Spec{Width: 200, Height: 150, Tile: 64, Iter: 100, X: -0.5, Scale: 3}
	tiles := map[int][]byte{}
	for i := range spec.NumTiles() {
		s := spec
		s.Index = i
		res, err := e.Run(t.Context(), tasks.Job{ModuleID: id, Module: module, Input: []byte(s.String())})
		if err != nil {
			t.Fatalf("tile %d: %v", i, err)
		}
		tiles[i] = res.Output
	}
	img, err := mandel.Assemble(spec, func(i int) ([]byte, error) { return tiles[i], nil })
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(img.Pix, mandel.RenderImage(spec).Pix) {
		t.Fatal("the sandbox's tiles differ from the native rendering")
	}
	delete(tiles, 3)
	if _, err := mandel.Assemble(spec, func(i int) ([]byte, error) {
		if tiles[i] == nil {
			return nil, os.ErrNotExist
		}
		return tiles[i], nil
	}); err == nil || !strings.Contains(err.Error(), "tile 3") {
		t.Fatalf("assembling with a missing tile: got %v, want an error naming tile 3", err)
	}
}

// TestWasmUpToDate rebuilds one example and compares it with the committed module, when this
// Go is the version that built them (other versions give other bytes). Run go generate in
// tasks/examples after changing an example.
func TestWasmUpToDate(t *testing.T) {
	skipInShort(t)
	want, err := os.ReadFile(filepath.Join("wasm", wasmbuild.VersionFile))
	if err != nil {
		t.Fatal(err)
	}
	goTool := wasmbuild.ToolFromGOROOT()
	have, err := wasmbuild.GoVersion(goTool)
	if err != nil {
		t.Skipf("no go command: %v", err)
	}
	if have != strings.TrimSpace(string(want)) {
		t.Skipf("modules were built with %s, this is %s", strings.TrimSpace(string(want)), have)
	}
	for _, name := range examples.Names() {
		if name == "cmandel" {
			continue // C: TestCWasmUpToDate
		}
		out := filepath.Join(t.TempDir(), name+".wasm")
		if err := wasmbuild.Build(goTool, "./"+name, out); err != nil {
			t.Fatal(err)
		}
		built, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		committed, _ := examples.Module(name)
		if !bytes.Equal(built, committed) {
			t.Errorf("wasm/%s.wasm is stale: run `go generate ./tasks/examples` and commit the result", name)
		}
	}
}

// TestCWasmUpToDate rebuilds the C example with clang and compares it with the committed
// module, when clang is installed and is the version that built it. Run go generate in
// tasks/examples after changing cmandel/main.c.
func TestCWasmUpToDate(t *testing.T) {
	have, err := wasmbuild.ClangVersion()
	if err != nil {
		t.Skipf("no clang, so the C example's build is not checked (%v): apt-get install clang lld wasi-libc libclang-rt-dev-wasm32", err)
	}
	want, err := os.ReadFile(filepath.Join("wasm", wasmbuild.ClangVersionFile))
	if err != nil {
		t.Fatal(err)
	}
	if have != strings.TrimSpace(string(want)) {
		t.Skipf("wasm/cmandel.wasm was built with %s, this is %s", strings.TrimSpace(string(want)), have)
	}
	out := filepath.Join(t.TempDir(), "cmandel.wasm")
	if err := wasmbuild.BuildC("cmandel/main.c", out); err != nil {
		t.Fatalf("%v (is wasi-libc installed? apt-get install wasi-libc libclang-rt-dev-wasm32)", err)
	}
	built, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(built, examples.CMandel()) {
		t.Error("wasm/cmandel.wasm is stale: run `go generate ./tasks/examples` and commit the result")
	}
}
