package node

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"

	"allforone/node/internal/store"
	"allforone/tasks"
	"allforone/tasks/steward"
	"allforone/tasks/wasmtest"
)

// crashEnv names the data dir for TestCrashAfterSubmits, which runs in a child process.
const crashEnv = "ALLFORONE_TEST_CRASH_DATA"

// TestCrashAfterSubmits is a helper, not a test: in a child process it submits three
// batches on a lone node, prints their IDs and exits without closing anything, like a
// killed daemon (pebble's log holds the batches, no sst does).
func TestCrashAfterSubmits(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("helper for TestLostLogTailIsDetected")
	}
	cfg := TestConfig(dir)
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	n.draining.Store(true)
	for i := range 3 {
		fmt.Println("batch", submitEcho(t, t.Context(), n, int64(2+i)))
	}
	os.Exit(0)
}

// A node killed after three submissions, whose newest log is then cut (truncated, or
// overwritten with garbage) inside the third batch's manifest, starts with two batches and
// says so: the log, Health and why name what was lost.
func TestLostLogTailIsDetected(t *testing.T) {
	for _, damage := range []string{"truncate", "garbage"} {
		t.Run(damage, func(t *testing.T) {
			cfg := TestConfig(filepath.Join(t.TempDir(), "n"))
			if _, err := Init(cfg, ""); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			out, err := crashChild(ctx, cfg.DataDir)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, l := range strings.Split(out, "\n") {
				if id, ok := strings.CutPrefix(l, "batch "); ok {
					ids = append(ids, id)
				}
			}
			if len(ids) != 3 {
				t.Fatalf("the child printed %q", out)
			}
			logs := storeFiles(t, cfg.DataDir, ".log")
			if len(logs) == 0 {
				t.Fatal("no log file")
			}
			wal := logs[len(logs)-1]
			b, err := os.ReadFile(wal)
			if err != nil {
				t.Fatal(err)
			}
			cut := bytes.Index(b, []byte(store.BatchPrefix+ids[2]))
			if cut < 0 {
				t.Fatalf("the third batch is not in the newest log %s", wal)
			}
			if damage == "truncate" {
				err = os.Truncate(wal, int64(cut))
			} else {
				garble(t, wal, int64(cut), 3)
			}
			if err != nil {
				t.Fatal(err)
			}

			var buf syncBuffer
			n, err := startLogged(t, cfg, &buf)
			if err != nil {
				t.Fatal(err)
			}
			loss := n.DataLost()
			if loss == nil || loss.Reason != "log" || loss.Kept >= loss.Synced || loss.Before.Batches != 3 || loss.After.Batches != 2 {
				t.Fatalf("DataLost: %+v", loss)
			}
			if n.getBatch(mustCID(t, ids[2])) != nil || n.getBatch(mustCID(t, ids[1])) == nil {
				t.Fatal("the batches known after the cut are not the first two")
			}
			l := buf.String()
			for _, want := range []string{"datastore lost data", "log ended early", "batches 3 -> 2"} {
				if !strings.Contains(l, want) {
					t.Errorf("the log does not say %q:\n%s", want, l)
				}
			}
			if n.Health().DataLoss == nil || !slices.Contains(whyCodes(n.Why()), "data_lost") {
				t.Error("Health or why do not report the loss")
			}
			// The next start does not report it again once a sync point is recorded.
			if err := n.Close(); err != nil {
				t.Fatal(err)
			}
			n2, err := startLogged(t, cfg, &buf)
			if err != nil {
				t.Fatal(err)
			}
			if l := n2.DataLost(); l != nil {
				t.Fatalf("a clean restart reports a loss: %+v", l)
			}
		})
	}
}

// crashChild runs TestCrashAfterSubmits on dataDir in a child process.
func crashChild(ctx context.Context, dataDir string) (string, error) {
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCrashAfterSubmits$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+dataDir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("crash child: %w: %s", err, out)
	}
	return string(out), nil
}

// BenchmarkSyncPoint compares a recorded sync point with the bare fsync of the log that
// the node made at the same places before.
func BenchmarkSyncPoint(b *testing.B) {
	cfg := TestConfig(filepath.Join(b.TempDir(), "n"))
	if _, err := Init(cfg, ""); err != nil {
		b.Fatal(err)
	}
	n, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := n.Start(b.Context()); err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	b.Run("log fsync only", func(b *testing.B) {
		for b.Loop() {
			n.ds.Put(b.Context(), datastore.NewKey("/bench"), []byte("x"))
			if err := n.ds.Sync(b.Context(), datastore.NewKey("/")); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, now := range []bool{false, true} {
		name := "recorded sync point, record at most once a second"
		if now {
			name = "recorded sync point, record written at once"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				n.ds.Put(b.Context(), datastore.NewKey("/bench"), []byte("x"))
				if err := n.durable.Sync(b.Context(), now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// acceptedHere counts the accepted tasks in n's steward state of batch id (-1 without one).
func acceptedHere(n *Node, id cid.Cid) int {
	b := n.getBatch(id)
	if b == nil {
		return -1
	}
	l := n.stewardOf(b)
	if l == nil {
		return -1
	}
	k := 0
	err := l.inspect(context.Background(), func(s *steward.Steward) {
		for i := range s.State().NumTasks() {
			if _, ok := s.State().Task(i).Accepted(); ok {
				k++
			}
		}
	})
	if err != nil {
		return -1
	}
	return k
}

// A steward and holder whose datastore is replaced by an empty one (repair --move-aside)
// gets back from its peer what it lost: the running batch, the steward state (accepted
// tasks) and the results it held. Two nodes on loopback, K = 2: each is steward and holder
// of everything.
func TestResetNodeGetsStateAndResultsBack(t *testing.T) {
	a := newTestNode(t)
	cfgB := TestConfig(filepath.Join(t.TempDir(), "b"))
	b := startTestNode(t, cfgB, nil)
	connectNodes(t, b, a)
	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancel()
	a.SetTaskDelay(100 * time.Millisecond)
	b.SetTaskDelay(100 * time.Millisecond)
	res, err := a.Submit(ctx, SubmitRequest{Name: "resync", Module: wasmtest.Echo(),
		Inputs:      []SubmitInput{{Range: &tasks.Range{Start: 0, End: 40, Prefix: []byte("t")}}},
		MemoryPages: 16, TimeoutMS: 60_000, MaxOutputBytes: 1 << 10, Redundancy: 1, Replication: 2})
	if err != nil {
		t.Fatal(err)
	}
	id := mustCID(t, res.BatchID)
	deadlineFor(t, ctx, "some accepted tasks", func() bool { return acceptedHere(a, id) >= 3 })
	a.draining.Store(true) // no new leases: the batch stays running with what it has
	b.draining.Store(true)
	var accepted int
	deadlineFor(t, ctx, "the running tasks to finish and both copies to agree", func() bool {
		accepted = acceptedHere(a, id)
		st, err := a.Status(ctx, id)
		return err == nil && st.Running == 0 && acceptedHere(b, id) == accepted &&
			a.HeldResults(id) == accepted && b.HeldResults(id) == accepted
	})
	if accepted == 40 {
		t.Fatal("every task finished: the test needs a running batch")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	backup, err := MoveDatastoreAside(cfgB.DataDir, time.Now())
	if err != nil {
		t.Fatal(err)
	}

	b2, err := New(cfgB)
	if err != nil {
		t.Fatal(err)
	}
	b2.draining.Store(true) // nor does the new run compute: what it has comes from a
	if err := b2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b2.Close() })
	if l := b2.DataLost(); l == nil || l.Reason != "reset" || l.Backup != backup || l.Before.Results != accepted {
		t.Fatalf("DataLost after the reset: %+v (want %d results before)", l, accepted)
	}
	connectNodes(t, b2, a)
	deadlineFor(t, ctx, "the steward state back", func() bool { return acceptedHere(b2, id) == accepted })
	deadlineFor(t, ctx, "the held results back", func() bool { return b2.HeldResults(id) == accepted })
	deadlineFor(t, ctx, "the resync to finish", func() bool { l := b2.DataLost(); return l != nil && l.Resynced })
}
