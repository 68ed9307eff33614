package tasks

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestExecutorGoProbe runs a Go program that tries to escape the sandbox: read a file, list
// the root, read the environment and the clock, dial the network, sleep a second (which
// passes at once on the fake clock). It gets
// nothing real, and two runs print the same bytes.
func TestExecutorGoProbe(t *testing.T) {
	skipGoModulesInShort(t)
	module, err := os.ReadFile("testdata/goprobe.wasm")
	if err != nil {
		t.Fatal(err)
	}
	e := newTestExecutor(t, ExecutorConfig{Slots: 2})
	if err := e.Compile(t.Context(), ContentID(module), module); err != nil {
		t.Fatal(err)
	}
	j := job(module, nil, Limits{Timeout: 60 * time.Second})
	start := time.Now()
	j.Seed = TaskSeed(TaskID(ContentID([]byte("batch")), 0))
	first, err := e.Run(t.Context(), j)
	if err != nil {
		t.Fatalf("probe: %v", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("probe took %s: a sleep should not block in real time", took)
	}
	got := map[string]string{}
	for line := range strings.Lines(string(first.Output)) {
		k, v, _ := strings.Cut(strings.TrimSuffix(line, "\n"), ": ")
		got[k] = v
	}
	t.Logf("probe saw:\n%s", first.Output)
	for key, bad := range map[string]func(string) bool{
		"open":    func(v string) bool { return v == "<nil>" },
		"readdir": func(v string) bool { return v == "<nil>" },
		"home":    func(v string) bool { return v != `""` },
		"environ": func(v string) bool { return v != "" },
		"args":    func(v string) bool { return v != "task" },
		"now":     func(v string) bool { return !strings.HasPrefix(v, "2022-01-01T") }, // wazero's fixed epoch
		"dial":    func(v string) bool { return v == "<nil>" },
		"slept":   func(v string) bool { return v != "true" },
		"random":  func(v string) bool { return len(v) != 16 },
	} {
		if v, ok := got[key]; !ok || bad(v) {
			t.Errorf("%s: got %q", key, v)
		}
	}
	second, err := e.Run(t.Context(), j)
	if err != nil {
		t.Fatalf("probe again: %v", err)
	}
	if string(second.Output) != string(first.Output) {
		t.Errorf("two runs of the probe differ:\n%s\n%s", first.Output, second.Output)
	}
	j.Seed[0] ^= 1
	third, err := e.Run(t.Context(), j)
	if err != nil {
		t.Fatal(err)
	}
	if string(third.Output) == string(first.Output) {
		t.Errorf("another seed gave the same random bytes")
	}
}
