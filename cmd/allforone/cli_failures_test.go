package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"allforone/tasks/wasmtest"
)

// twoDaemons starts two daemons that know each other and returns their data dirs.
func twoDaemons(t *testing.T) (a, b string) {
	t.Helper()
	a = initNode(t)
	startDaemon(t, a)
	var id struct{ Addrs []string }
	if r := runCLI(t, "--data", a, "id", "--json"); json.Unmarshal([]byte(r.stdout), &id) != nil || len(id.Addrs) == 0 {
		t.Fatalf("id --json: %+v", r)
	}
	b = initNode(t, "--bootstrap", id.Addrs[0])
	startDaemon(t, b)
	for _, dir := range []string{a, b} {
		deadline := time.Now().Add(30 * time.Second)
		for {
			var peers []struct{}
			r := runCLI(t, "--data", dir, "peers", "--json")
			if json.Unmarshal([]byte(r.stdout), &peers) == nil && len(peers) >= 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s sees no peer after 30s: %+v", dir, r)
			}
			time.Sleep(100 * time.Millisecond) // polling interval
		}
	}
	return a, b
}

// writeTaskFiles writes module and n input files f0..f<n-1> under a temp dir.
func writeTaskFiles(t *testing.T, module []byte, n int) (modulePath, inputs string) {
	t.Helper()
	dir := t.TempDir()
	modulePath, inputs = filepath.Join(dir, "task.wasm"), filepath.Join(dir, "in")
	if err := os.MkdirAll(inputs, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(modulePath, module, 0o644); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := os.WriteFile(filepath.Join(inputs, fmt.Sprint("f", i)), []byte{byte('0' + i)}, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return modulePath, inputs
}

// Failed tasks through the built binary: submit --wait, status (text and --json) and
// results say for each failed task its kind, exit code and stderr (a few, then "and N
// more"), and a batch that cannot progress makes submit --wait warn at once and give up
// after --stall-timeout with the reason.
func TestCLIFailedTasksAndUnrunnableBatches(t *testing.T) {
	a, _ := twoDaemons(t)
	module, inputs := writeTaskFiles(t, wasmtest.Complain("parse: want two numbers\n", 3), 7)
	t0 := time.Now()
	r := runCLI(t, "--data", a, "submit", "--module", module, "--inputs", inputs, "--replicas", "2", "--keep", "1",
		"--wait", "--out", filepath.Join(t.TempDir(), "out"))
	line := "task 0 (f0): exit code 3: task exited with code 3 (stderr: parse: want two numbers) [2 of 2 executions]"
	if r.code != exitFailure || !strings.Contains(r.stdout, line) || !strings.Contains(r.stdout, "and 2 more") ||
		!strings.Contains(r.stderr, "7 of 7 tasks failed") || strings.Contains(r.stderr, "not accepted yet") {
		t.Fatalf("submit --wait of failing tasks: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	batch := strings.TrimSuffix(strings.Fields(r.stderr)[1], ":") // "batch <ID>: 7 tasks"
	t.Logf("submit --wait of failing tasks took %s", time.Since(t0).Round(time.Millisecond))
	r = runCLI(t, "--data", a, "--json", "status", batch)
	var st struct {
		State      string
		Executions int
		Failures   []struct {
			Task       int
			Name       string
			Kind       string
			ExitCode   *int `json:"exit_code"`
			Detail     string
			Stderr     string
			Executions int
		}
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &st) != nil {
		t.Fatalf("status --json: %+v", r)
	}
	if st.State != "failed" || len(st.Failures) != 7 || st.Executions != 14 {
		t.Fatalf("status --json: state %s, %d failures, %d executions; want failed, 7 and 14 (two per task)\n%s", st.State, len(st.Failures), st.Executions, r.stdout)
	}
	for i, f := range st.Failures {
		if f.Task != i || f.Name != fmt.Sprint("f", i) || f.Kind != "exit" || f.ExitCode == nil || *f.ExitCode != 3 ||
			f.Stderr != "parse: want two numbers\n" || f.Detail != "task exited with code 3" || f.Executions != 2 {
			t.Errorf("status --json failure %d: %+v", i, f)
		}
	}
	if r := runCLI(t, "--data", a, "status", batch); r.code != 0 || !strings.Contains(r.stdout, line) || !strings.Contains(r.stdout, "and 2 more") {
		t.Errorf("status text: %+v", r)
	}
	r = runCLI(t, "--data", a, "results", batch, "--out", filepath.Join(t.TempDir(), "res"))
	if r.code != exitFailure || !strings.Contains(r.stderr, "7 of 7 tasks failed") || !strings.Contains(r.stderr, line) ||
		!strings.Contains(r.stdout, "wrote 0 of 7 outputs") {
		t.Errorf("results of failed tasks: %+v", r)
	}

	// R=5 on two peers: 3 must agree. Accepted, but it cannot progress: say so, then give up.
	module, inputs = writeTaskFiles(t, wasmtest.Echo(), 2)
	start := time.Now()
	r = runCLI(t, "--data", a, "submit", "--module", module, "--inputs", inputs, "--replicas", "5", "--wait", "--stall-timeout", "2s")
	reason := "waiting: 2 peers can run it, R=5 needs 3 distinct peers to agree"
	if r.code != exitFailure || !strings.Contains(r.stderr, "warning: "+reason) || !strings.Contains(r.stderr, "cannot progress, and no task finished for 2s") ||
		!strings.Contains(r.stderr, "lower --replicas to 2 or less, or add peers") || !strings.Contains(r.stdout, reason) {
		t.Fatalf("submit --wait of an unrunnable batch: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	t.Logf("gave up after %s", time.Since(start).Round(time.Millisecond))
}
