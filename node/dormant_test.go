package node

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"allforone/node/internal/store"
	"allforone/tasks/wasmtest"
)

// A finished batch whose results have fewer than K holders on record is not left dormant:
// its steward restarts with its state loaded (it still has stores to make), and once a
// third node holds every result the state's digest goes to disk and the next start leaves
// it dormant.
func TestFinishedBatchShortOfHoldersStaysLoaded(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cfgs, nodes := startNodesWithConfigs(t, 2)
	connectNodes(t, nodes[1], nodes[0])
	id := submitTasks(t, ctx, nodes[0], "echo", wasmtest.Echo(), 6, 3)
	deadlineFor(t, ctx, "both nodes to hold the 6 results and steward a finished batch", func() bool {
		for _, n := range nodes {
			b := n.getBatch(id)
			if n.HeldResults(id) != 6 || b == nil || !n.stewardDone(b) {
				return false
			}
		}
		return true
	})
	marker := func(n *Node) []byte {
		raw, err := n.ds.Get(ctx, store.StewardMarker(id))
		if err != nil {
			t.Fatalf("the steward marker: %v", err)
		}
		return raw
	}
	if raw := marker(nodes[0]); len(raw) != 0 {
		t.Fatalf("with 2 of 3 holders the marker holds %d bytes, want it plain", len(raw))
	}
	restart := func(i int) *Node {
		t.Helper()
		if err := nodes[i].Close(); err != nil {
			t.Fatal(err)
		}
		n, err := New(cfgs[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		nodes[i] = n
		return n
	}
	n := restart(0)
	if b := n.getBatch(id); n.stewardOf(b) == nil || b.dormant.Load() {
		t.Fatalf("a finished batch short of holders came back dormant")
	}
	connectNodes(t, n, nodes[1])

	third := startTestNode(t, TestConfig(filepath.Join(t.TempDir(), "n")), nil)
	connectNodes(t, third, nodes[0])
	connectNodes(t, third, nodes[1])
	deadlineFor(t, ctx, "the third node to hold every result and node 0 to write the digest", func() bool {
		return third.HeldResults(id) == 6 && validDigest(marker(nodes[0]), nodes[0].getBatch(id))
	})
	n = restart(0)
	if b := n.getBatch(id); n.stewardOf(b) != nil || !b.dormant.Load() || !n.stewardDone(b) {
		var m dto.Metric
		for _, r := range []string{"role", "request", "digest", "copy", "pull", "status", "results", "reverify"} {
			n.metrics.StewardWakes.WithLabelValues(r).Write(&m)
			t.Logf("wakes %s: %v", r, m.GetCounter().GetValue())
		}
		t.Fatalf("with every result on 3 holders the batch came back loaded (%v), want dormant", n.stewardOf(b) != nil)
	}
	// Its other stewards crash for good (the test grace is 0): node 0, now primary, loads
	// the state so that whoever takes their place gets it.
	connectNodes(t, n, nodes[1])
	connectNodes(t, n, third)
	// Node 0 must know them as members, not only be connected: a peer it never learnt to
	// be a steward (identify not done when it crashed) held no role in its view.
	deadlineFor(t, ctx, "node 0 to see both other stewards", func() bool {
		known := n.liveView().KnownClosest(id, 3)
		return n.live(nodes[1].id) && n.live(third.id) && slices.Contains(known, nodes[1].id) && slices.Contains(known, third.id)
	})
	b := n.getBatch(id)
	loadedBefore := n.stewardOf(b) != nil // a digest that differed wakes it too
	for _, o := range []*Node{nodes[1], third} {
		o.fail(errors.New("test: a crash (a failed node hands nothing off)"))
		o.Close()
	}
	deadlineFor(t, ctx, "node 0 to load the state once its other stewards are gone", func() bool { return n.stewardOf(b) != nil })
	wakes := func(reason string) float64 {
		var m dto.Metric
		n.metrics.StewardWakes.WithLabelValues(reason).Write(&m)
		return m.GetCounter().GetValue()
	}
	// A steward that is still there may have asked node 0 for its vote on a new primary
	// epoch before it crashed: that loads the state too (steward_fence.go).
	if got := wakes("members") + wakes("vote"); !loadedBefore && got != 1 {
		t.Errorf("node 0 loaded the state %v times for its lost stewards (%v for a vote), want once", got, wakes("vote"))
	}
	if _, err := n.Status(ctx, id); err != nil {
		t.Fatalf("status of the batch: %v", err)
	}
}

// startNodesWithConfigs starts n nodes, each on a data dir of its own, and returns their
// configurations too, so a test can start one again on its data.
func startNodesWithConfigs(t *testing.T, n int) ([]Config, []*Node) {
	t.Helper()
	cfgs, nodes := make([]Config, n), make([]*Node, n)
	for i := range nodes {
		cfgs[i] = TestConfig(filepath.Join(t.TempDir(), "n"))
		nodes[i] = startTestNode(t, cfgs[i], nil)
	}
	return cfgs, nodes
}
