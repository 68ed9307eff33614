package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// `testnet simulate` runs a small simulated swarm and reports it as JSON; a lost task would
// exit 1.
func TestCLISimulate(t *testing.T) {
	r := runCLI(t, "testnet", "simulate", "--nodes", "50", "--batches", "2", "--tasks", "20", "--seed", "3", "--json")
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	var rep struct {
		Nodes      int     `json:"nodes"`
		Batches    int     `json:"batches"`
		TasksTotal int     `json:"tasks_total"`
		TasksLost  int     `json:"tasks_lost"`
		MaxPrim    int     `json:"max_primaries"`
		LeaseP99   float64 `json:"lease_p99_ms"`
		PerTask    float64 `json:"messages_per_task"`
		PerNode    int64   `json:"memory_per_node_bytes"`
		Events     int64   `json:"events"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("--json output: %v\n%s", err, r.stdout)
	}
	if rep.Nodes != 50 || rep.Batches != 2 || rep.TasksTotal != 40 || rep.TasksLost != 0 || rep.MaxPrim < 1 ||
		rep.LeaseP99 <= 0 || rep.PerTask <= 0 || rep.Events <= 0 {
		t.Errorf("report %+v: want 50 nodes, 2 batches, 40 tasks, none lost, a primary, lease times, messages and events", rep)
	}
}

// Bad input exits 2 with what to give instead, from a flag or its environment twin.
func TestCLISimulateBadInput(t *testing.T) {
	r := runCLI(t, "testnet", "simulate", "--nodes", "5")
	if r.code != 2 || !strings.Contains(r.stderr, "give 10 to") {
		t.Errorf("--nodes 5: exit %d, stderr %q; want 2 and the range", r.code, r.stderr)
	}
	r = runCLIEnv(t, []string{envName("churn") + "=0.9"}, "testnet", "simulate", "--nodes", "50")
	if r.code != 2 || !strings.Contains(r.stderr, "churn") {
		t.Errorf("%s=0.9: exit %d, stderr %q; want 2 and what churn takes", envName("churn"), r.code, r.stderr)
	}
}
