package service

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// shell returns a Command that runs script with sh, or skips the test without one.
func shell(t *testing.T, script string) func(ctx context.Context) *exec.Cmd {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the supervisor tests use sh")
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	return func(ctx context.Context) *exec.Cmd { return exec.CommandContext(ctx, sh, "-c", script) }
}

func TestSuperviseRestartsAFailingDaemonUntilItSucceeds(t *testing.T) {
	dir := t.TempDir()
	count := filepath.Join(dir, "count")
	// Fails twice, then exits 0.
	script := `n=$(cat "` + count + `" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "` + count + `"; echo "run $n"; [ $n -ge 3 ]`
	log := filepath.Join(dir, "daemon.log")
	var said []string
	start := time.Now()
	err := Supervise(t.Context(), SuperviseOptions{
		Command:    shell(t, script),
		LogFile:    log,
		MinBackoff: 10 * time.Millisecond,
		MaxBackoff: 20 * time.Millisecond,
		Logf:       func(f string, a ...any) { said = append(said, f) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(count); strings.TrimSpace(string(b)) != "3" {
		t.Fatalf("ran %s times, want 3", b)
	}
	b, _ := os.ReadFile(log)
	for _, want := range []string{"run 1\n", "run 2\n", "run 3\n", "failed after", "starting it again in 10ms", "starting it again in 20ms", "exited successfully"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("log does not have %q:\n%s", want, b)
		}
	}
	if len(said) != 6 { // 3 starts, 2 failures, 1 success
		t.Errorf("Logf got %d messages, want 6: %q", len(said), said)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %s", d)
	}
}

func TestSuperviseStopsTheDaemonGracefullyWhenCancelled(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "daemon.log")
	script := `trap 'echo got TERM; exit 0' TERM; echo up; while :; do sleep 0.02; done`
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- Supervise(ctx, SuperviseOptions{Command: shell(t, script), LogFile: log, StopTimeout: 5 * time.Second})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if b, _ := os.ReadFile(log); strings.Contains(string(b), "up\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the daemon did not start within 10s")
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Supervise did not return within 10s of the cancel")
	}
	b, _ := os.ReadFile(log)
	if !strings.Contains(string(b), "got TERM") || !strings.Contains(string(b), "stopped") {
		t.Errorf("the daemon was not asked to stop with SIGTERM:\n%s", b)
	}
}

func TestSuperviseRotatesABigLog(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "daemon.log")
	if err := os.WriteFile(log, []byte(strings.Repeat("x", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	err := Supervise(t.Context(), SuperviseOptions{Command: shell(t, "echo fresh"), LogFile: log, LogMaxBytes: 50})
	if err != nil {
		t.Fatal(err)
	}
	old, _ := os.ReadFile(log + ".1")
	cur, _ := os.ReadFile(log)
	if len(old) != 100 || !strings.HasPrefix(string(cur), "allforone service: starting") || !strings.Contains(string(cur), "fresh") {
		t.Fatalf("after rotation: old %d bytes, current %q", len(old), cur)
	}
}

func TestSuperviseReportsAMissingBinary(t *testing.T) {
	err := Supervise(t.Context(), SuperviseOptions{Command: func(ctx context.Context) *exec.Cmd {
		return exec.CommandContext(ctx, filepath.Join(t.TempDir(), "no-such-binary"))
	}})
	if err == nil || !strings.Contains(err.Error(), "no-such-binary") {
		t.Fatalf("Supervise = %v, want an error naming the binary", err)
	}
}
