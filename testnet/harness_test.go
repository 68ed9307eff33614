package testnet

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// allforoneBinary builds cmd/allforone once per test run.
func allforoneBinary(tb testing.TB) string {
	tb.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "allforone-testnet-bin")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "allforone")
		out, err := exec.Command("go", "build", "-o", binPath, "allforone/cmd/allforone").CombinedOutput()
		if err != nil {
			binErr = errors.New(string(out))
		}
	})
	if binErr != nil {
		tb.Fatalf("build allforone: %v", binErr)
	}
	return binPath
}

func startHarness(tb testing.TB, cfg HarnessConfig) *Harness {
	tb.Helper()
	cfg.Binary = allforoneBinary(tb)
	if cfg.Dir == "" {
		cfg.Dir = tb.TempDir()
	}
	h, err := StartHarness(tb.Context(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := h.Close(); err != nil {
			tb.Errorf("close harness: %v", err)
		}
	})
	return h
}

func TestHarnessProcessesFormASwarmAndSurviveKill(t *testing.T) {
	h := startHarness(t, HarnessConfig{N: 4})
	ctx := deadline(t, 60*time.Second)
	if err := h.WaitAllKnown(ctx); err != nil {
		t.Fatal(err)
	}
	before := h.Proc(2).PeerID
	h.Kill(2) // SIGKILL: no graceful close, a stale api file stays behind
	if h.Proc(2).Running() {
		t.Fatal("node 2 still running after kill")
	}
	if err := h.Start(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if got := h.Proc(2).PeerID; got != before {
		t.Fatalf("peer ID changed across kill and restart: %s -> %s", before, got)
	}
	if err := h.WaitAllKnown(ctx); err != nil {
		t.Fatal(err)
	}
	// A graceful stop exits 0 and removes the api file.
	if err := h.Stop(3, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(h.Proc(3).Dir, "api")); !os.IsNotExist(err) {
		t.Errorf("api file left behind after a graceful stop: %v", err)
	}
}

func TestHarnessPrivateSwarm(t *testing.T) {
	h := startHarness(t, HarnessConfig{N: 3, Private: true})
	ctx := deadline(t, 60*time.Second)
	if err := h.WaitAllKnown(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := h.Proc(1).Client()
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.ID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !info.Private {
		t.Fatal("node of a --private testnet does not report a private swarm")
	}
}
