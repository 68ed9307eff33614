package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	cliBinOnce sync.Once
	cliBinPath string
	cliBinErr  error
)

// cliBinary builds the allforone binary once per test run and returns its path.
func cliBinary(t *testing.T) string {
	t.Helper()
	cliBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "allforone-cli-test")
		if err != nil {
			cliBinErr = err
			return
		}
		cliBinPath = filepath.Join(dir, "allforone")
		out, err := exec.Command("go", "build", "-o", cliBinPath, ".").CombinedOutput()
		if err != nil {
			cliBinErr = errors.New(string(out))
		}
	})
	if cliBinErr != nil {
		t.Fatalf("build allforone: %v", cliBinErr)
	}
	return cliBinPath
}

// cliResult is what one CLI invocation did.
type cliResult struct {
	stdout, stderr string
	code           int
}

// runCLI runs the built binary with args and a clean ALLFORONE_* environment.
func runCLI(t *testing.T, args ...string) cliResult {
	t.Helper()
	return runCLIEnv(t, nil, args...)
}

// runCLIEnv is runCLI with extra environment variables (KEY=VALUE), e.g. flags' twins.
func runCLIEnv(t *testing.T, env []string, args ...string) cliResult {
	t.Helper()
	bin := cliBinary(t) // built once, before the clock starts: a build on a busy machine takes long
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(cleanEnv(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return cliResult{stdout.String(), stderr.String(), code}
}

// cleanEnv is the environment without ALLFORONE_ variables, so a developer's settings do
// not leak into tests.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ALLFORONE_") {
			env = append(env, kv)
		}
	}
	return env
}

// initNode runs `allforone init` on a fresh loopback data dir and returns the dir.
func initNode(t *testing.T, extra ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "node")
	args := append([]string{"--data", dir, "init", "--listen", "/ip4/127.0.0.1/tcp/0", "--api", "127.0.0.1:0"}, extra...)
	if r := runCLI(t, args...); r.code != 0 {
		t.Fatalf("init: exit %d: %s", r.code, r.stderr)
	}
	return dir
}

// startDaemon starts `allforone daemon` on dir and waits until its API answers.
func startDaemon(t *testing.T, dir string, extra ...string) *exec.Cmd {
	t.Helper()
	args := append([]string{"--data", dir, "daemon", "--testnet-mode"}, extra...)
	cmd := exec.Command(cliBinary(t), args...)
	cmd.Env = cleanEnv()
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Errorf("daemon on %s did not stop within 10s of SIGINT", dir)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if r := runCLI(t, "--data", dir, "id", "--json"); r.code == 0 {
			return cmd
		}
		select {
		case <-done:
			t.Fatalf("daemon on %s exited early: %s", dir, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon on %s: API not up after 30s: %s", dir, logs.String())
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
}
