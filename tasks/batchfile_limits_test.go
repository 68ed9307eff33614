package tasks

import (
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestRangeCountNeverOverflows(t *testing.T) {
	for _, tc := range []struct {
		r    Range
		want int64
	}{
		{Range{Start: 0, End: 10}, 10},
		{Range{Start: 5, End: 5}, 0},
		{Range{Start: 7, End: 3}, 0},
		{Range{Start: 0, End: math.MaxInt64}, math.MaxInt64},
		{Range{Start: math.MinInt64, End: math.MaxInt64}, math.MaxInt64},
		{Range{Start: -1, End: math.MaxInt64}, math.MaxInt64},
		{Range{Start: math.MinInt64, End: 0}, math.MaxInt64},
	} {
		if got := tc.r.Count(); got != tc.want {
			t.Errorf("%+v.Count() = %d, want %d", tc.r, got, tc.want)
		}
	}
	if got := AddTasks(math.MaxInt64-1, 5); got != math.MaxInt64 {
		t.Errorf("AddTasks past the top = %d, want MaxInt64", got)
	}
	m := Manifest{Inputs: []Input{RangeInput(Range{End: math.MaxInt64}), RangeInput(Range{End: math.MaxInt64})}}
	if got := m.NumTasks(); got != math.MaxInt {
		t.Errorf("NumTasks of two huge ranges = %d, want it saturated at MaxInt", got)
	}
}

// TestLoadBatchFileHugeRange: a range of 2^63 tasks is refused by arithmetic, with the
// task limit in the message, before anything per task is built (the heap stays flat).
func TestLoadBatchFileHugeRange(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ json, says string }{
		{`{"module": "m.wasm", "inputs": [{"range": {"start": 0, "end": 9223372036854775807}}]}`, "out of bounds"},
		{`{"module": "m.wasm", "range": {"start": -4611686018427387903, "end": 4611686018427387903}}`, "9223372036854775806 tasks is more than 1048576"},
		{`{"module": "m.wasm", "inputs": [{"range": {"start": -4611686018427387903, "end": 4611686018427387903}}], "range": {"start": -4611686018427387903, "end": 4611686018427387903}}`, "more than 1048576 tasks"},
		{`{"module": "m.wasm", "range": {"start": 0, "end": 10000000}}`, "10000000 tasks is more than 1048576"},
		{`{"module": "m.wasm", "inputs": [{"range": {"end": 1048576}}], "range": {"end": 1}}`, "1048577 tasks is more than 1048576"},
	} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := LoadBatchFile(writeBatch(t, dir, tc.json))
		runtime.ReadMemStats(&after)
		if err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: got %v, want an error saying %q", tc.json, err, tc.says)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 4<<20 {
			t.Errorf("%s: refusing it allocated %d bytes, want under 4 MiB", tc.json, grew)
		}
	}
	spec, err := LoadBatchFile(writeBatch(t, dir, `{"module": "m.wasm", "range": {"start": 0, "end": 1048576}}`))
	if err != nil || spec.NumTasks() != MaxTasks {
		t.Fatalf("a range of exactly MaxTasks: %v, %v", spec, err)
	}
}

func TestBatchFileNameDefaultsToTheFileName(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "tiles 2.json")
	if err := os.WriteFile(p, []byte(`{"module": "m.wasm", "range": {"end": 2}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	spec, err := LoadBatchFile(p)
	if err != nil || spec.Name != "tiles 2" {
		t.Fatalf("name of a batch file without one: %q, %v; want %q", spec.Name, err, "tiles 2")
	}
	named, err := LoadBatchFile(writeBatch(t, dir, `{"name": "mine", "module": "m.wasm", "range": {"end": 2}}`))
	if err != nil || named.Name != "mine" {
		t.Fatalf("a batch file's own name: %q, %v", named.Name, err)
	}
}

func TestTaskNamesMatchTaskName(t *testing.T) {
	spec := &BatchSpec{Inputs: []BatchInput{
		{File: "/x/a.txt"}, {Inline: []byte("v")}, {Range: &Range{Start: 5, End: 8}}, {Inline: []byte("w")},
	}}
	var got []string
	for i, name := range spec.TaskNames() {
		if name != spec.TaskName(i) {
			t.Errorf("task %d: TaskNames says %q, TaskName %q", i, name, spec.TaskName(i))
		}
		got = append(got, name)
	}
	if s := strings.Join(got, " "); s != "a.txt inline-1 5 6 7 inline-5" || spec.TaskName(6) != "" {
		t.Errorf("names %q, past the end %q", s, spec.TaskName(6))
	}
}

// TestBatchFileStaysUnderItsFolder: a batch file may name files under its own folder only,
// unless the user names a wider root; absolute paths, ".." and symbolic links that lead
// outside are refused with the reason and what to do.
func TestBatchFileStaysUnderItsFolder(t *testing.T) {
	top := t.TempDir()
	dir := filepath.Join(top, "batch")
	writeFiles(t, filepath.Join(dir, "in"), map[string]string{"a.txt": "1", "m.wasm": "x"})
	writeFiles(t, filepath.Join(top, "secret"), map[string]string{"identity.key": "private", "m.wasm": "y"})
	secret := filepath.Join(top, "secret", "identity.key")
	link := func(name, target string) {
		t.Helper()
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Skipf("no symbolic links here: %v", err)
		}
	}
	link("key-link", secret)
	link("outside-folder", filepath.Join(top, "secret"))
	link("inside-link", filepath.Join(dir, "in", "a.txt"))
	writeFiles(t, filepath.Join(dir, "mixed"), map[string]string{"ok.txt": "1"})
	if err := os.Symlink(secret, filepath.Join(dir, "mixed", "key.txt")); err != nil {
		t.Fatal(err)
	}

	refused := []struct{ name, json, says string }{
		{"absolute input", `{"module": "in/m.wasm", "inputs": ["` + secret + `"]}`, "outside the batch file's folder"},
		{"dot-dot input", `{"module": "in/m.wasm", "inputs": [{"file": "../secret/identity.key"}]}`, `input "../secret/identity.key" is ` + secret},
		{"dot-dot module", `{"module": "../secret/m.wasm", "range": {"end": 1}}`, `module "../secret/m.wasm"`},
		{"absolute module", `{"module": "` + filepath.Join(top, "secret", "m.wasm") + `", "range": {"end": 1}}`, "outside"},
		{"symlink input", `{"module": "in/m.wasm", "inputs": ["key-link"]}`, "leads through a symbolic link to " + secret},
		{"symlinked folder", `{"module": "in/m.wasm", "inputs": "outside-folder"}`, "symbolic link"},
		{"symlink inside a folder", `{"module": "in/m.wasm", "inputs": "mixed"}`, "symbolic link"},
		{"dot-dot folder", `{"module": "in/m.wasm", "inputs": "../secret"}`, `inputs folder "../secret"`},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadBatchFile(writeBatch(t, dir, tc.json))
			if err == nil || !strings.Contains(err.Error(), tc.says) || !strings.Contains(err.Error(), "--inputs-root") {
				t.Fatalf("got %v, want a refusal saying %q and what to do (--inputs-root)", err, tc.says)
			}
			// With the wider root named, the same batch file is accepted.
			if _, err := LoadBatchFileUnder(filepath.Join(dir, "batch.json"), top); err != nil {
				t.Fatalf("under --inputs-root %s: %v", top, err)
			}
		})
	}
	// Inside, by name or through a link that stays inside: accepted.
	spec, err := LoadBatchFile(writeBatch(t, dir, `{"module": "in/m.wasm", "inputs": ["in/a.txt", "`+filepath.Join(dir, "in", "a.txt")+`", {"file": "in/../inside-link"}]}`))
	if err == nil || !strings.Contains(err.Error(), "both write the output") {
		t.Fatalf("inside paths: %v, %v (want only the duplicate-name error)", spec, err)
	}
	if _, err := LoadBatchFile(writeBatch(t, dir, `{"module": "in/m.wasm", "inputs": ["in/a.txt", "inside-link"]}`)); err != nil {
		t.Fatalf("files inside the folder, one through a link that stays inside: %v", err)
	}
	// A named root that is not a folder says so.
	if _, err := LoadBatchFileUnder(filepath.Join(dir, "batch.json"), secret); err == nil || !strings.Contains(err.Error(), "not a folder") {
		t.Fatalf("root that is a file: %v", err)
	}
	// A root narrower than the batch file's folder confines it further.
	if _, err := LoadBatchFileUnder(writeBatch(t, dir, `{"module": "in/m.wasm", "inputs": ["mixed/ok.txt"]}`), filepath.Join(dir, "in")); err == nil || !strings.Contains(err.Error(), "outside the inputs root") {
		t.Fatalf("narrow root: %v", err)
	}
}
