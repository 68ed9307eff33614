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

	"allforone/node/internal/store"
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
