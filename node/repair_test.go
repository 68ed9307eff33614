package node

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"allforone/node/internal/store"
	"allforone/tasks/wasmtest"
)

// A holder that restarts with its store keeps the copies the others confirmed it holds:
// they ask it for its store's incarnation, not again for every result. A restart whose
// store lost writes changes the incarnation, and then it is asked for everything again.
func TestRepairKeepsConfirmationsAcrossARestartWithTheSameStore(t *testing.T) {
	a, b := newTestNode(t), newTestNode(t)
	cfgX := TestConfig(filepath.Join(t.TempDir(), "x"))
	x := startTestNode(t, cfgX, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	connect := func(n *Node) { connectNodes(t, n, a); connectNodes(t, n, b) }
	connectNodes(t, b, a)
	connect(x)
	id := submitTasks(t, ctx, a, "echo", wasmtest.Echo(), 12, 3)
	deadlineFor(t, ctx, "every node to hold the 12 results", func() bool {
		return a.HeldResults(id) == 12 && b.HeldResults(id) == 12 && x.HeldResults(id) == 12
	})

	// a's repair, driven by hand (its own loop keeps its own state).
	rs := newRepairState()
	round := func() (needed int) {
		v := a.liveView()
		a.recheck(ctx, rs, v)
		_, needed = a.pushHeld(ctx, rs, v, false)
		return needed
	}
	round()
	if needed := round(); needed != 0 || len(rs.confirmed[x.id]) != 12 {
		t.Fatalf("after a round a still needs %d copies confirmed; x confirmed for %d of 12", needed, len(rs.confirmed[x.id]))
	}
	inc := rs.inc[x.id]
	if inc == 0 || inc != x.durable.Incarnation() {
		t.Fatalf("x's incarnation as a saw it: %d; x's: %d", inc, x.durable.Incarnation())
	}

	restart := func() *Node {
		t.Helper()
		if err := x.Close(); err != nil {
			t.Fatal(err)
		}
		n, err := New(cfgX)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		connect(n)
		deadlineFor(t, ctx, "a to see x back", func() bool { return a.live(n.id) })
		rs.left(n.id) // what a's loop does when x leaves
		return n
	}
	x = restart()
	if x.durable.Incarnation() != inc {
		t.Fatalf("a restart changed the store's incarnation: %d -> %d", inc, x.durable.Incarnation())
	}
	if needed := round(); needed != 0 || len(rs.confirmed[x.id]) != 12 || rs.recheck[x.id] {
		t.Fatalf("after x restarted with its store: a needs %d copies confirmed; x confirmed for %d of 12 (recheck %v)",
			needed, len(rs.confirmed[x.id]), rs.recheck[x.id])
	}

	// Writes synced before the stop are missing at the next start: the store lost data.
	rec, err := store.ReadSynced(cfgX.DataDir)
	if err != nil || rec == nil {
		t.Fatalf("sync record: %v %v", rec, err)
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	rec.Seq += 1000
	if err := store.WriteSynced(cfgX.DataDir, rec); err != nil {
		t.Fatal(err)
	}
	x = restart()
	if x.DataLost() == nil || x.durable.Incarnation() == inc {
		t.Fatalf("after a loss: DataLost %+v, incarnation %d (was %d)", x.DataLost(), x.durable.Incarnation(), inc)
	}
	if needed := round(); needed != 12 || len(rs.confirmed[x.id]) != 12 || rs.inc[x.id] != x.durable.Incarnation() {
		t.Fatalf("after x lost data: a asked for %d copies (want 12); x confirmed for %d of 12 under incarnation %d (x's: %d)",
			needed, len(rs.confirmed[x.id]), rs.inc[x.id], x.durable.Incarnation())
	}
}
