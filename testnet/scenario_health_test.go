package testnet

import (
	"slices"
	"testing"
	"time"
)

// upSwarm is a swarm whose nodes are up or not as the test says; nothing else is used.
type upSwarm struct {
	swarm
	up []bool
}

func (s upSwarm) running(i int) bool { return s.up[i] }

// The census counts held-down nodes and restarts within their allowance as not expected,
// and names the expected nodes that are not up: a slow restart and a node that exited.
func TestCensusNamesTheLateNodes(t *testing.T) {
	now := time.Now()
	sw := upSwarm{up: []bool{true, false, false, false, false, true}}
	r := &runner{sc: &Scenario{Nodes: 6}, sw: sw, killed: map[int]bool{}, restarting: map[int]bool{}}
	r.killed[1] = true // held down: not restarted yet
	r.killed[2], r.restarting[2] = true, true
	r.health.restarting(2, now.Add(-time.Second)) // within the allowance
	r.killed[3], r.restarting[3] = true, true
	r.health.restarting(3, now.Add(-restartAllowance-2*time.Second)) // late
	// node 4 exited on its own; nodes 0 and 5 are up
	live, expected, late := r.census(now)
	if live != 2 || expected != 4 {
		t.Errorf("live %d of %d expected, want 2 of 4", live, expected)
	}
	want := []string{"node-3 restarting for 7.0s", "node-4 exited"}
	if !slices.Equal(late, want) {
		t.Errorf("late = %q, want %q", late, want)
	}
	// The restart of node 3 ends: it is up and no longer late.
	sw.up[3] = true
	r.health.restarted(3, true, 8*time.Second)
	delete(r.restarting, 3)
	delete(r.killed, 3)
	if live, expected, late = r.census(now); live != 3 || expected != 4 || len(late) != 1 {
		t.Errorf("after the restart: live %d of %d, late %q; want 3 of 4, node-4 late", live, expected, late)
	}
}
