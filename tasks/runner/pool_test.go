package runner

import (
	"bytes"
	"context"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"allforone/tasks"
	"allforone/tasks/wasmtest"
)

func newTestPool(t testing.TB, cfg Config) *Pool {
	t.Helper()
	if cfg.CacheDir == "" {
		cfg.CacheDir = t.TempDir()
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p
}

func job(module, input []byte, limits tasks.Limits) tasks.Job {
	return tasks.Job{ModuleID: tasks.ContentID(module), Module: module, Input: input, Limits: limits}
}

func TestPoolEcho(t *testing.T) {
	p := newTestPool(t, Config{Slots: 2})
	in := bytes.Repeat([]byte("hello runner "), 10000)
	for range 3 {
		res, err := p.Run(t.Context(), job(wasmtest.Echo(), in, tasks.Limits{}))
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if !bytes.Equal(res.Output, in) {
			t.Fatalf("output: got %d bytes, want the %d input bytes", len(res.Output), len(in))
		}
	}
	if n := len(p.Pids()); n != 1 {
		t.Errorf("%d runners after 3 sequential tasks, want 1", n)
	}
}

func filepathWalk(t *testing.T, dir string, files *[]string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			*files = append(*files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestPoolRefusesInsideAnAccidentalRunner: a program started as a runner that does not
// serve as one (its TestMain lacks MainIfRunner) gets a clear error instead of starting
// itself again and again.
func TestPoolRefusesInsideAnAccidentalRunner(t *testing.T) {
	t.Setenv(EnvVar, ProtocolVersion)
	if _, err := New(Config{}); err == nil || !strings.Contains(err.Error(), "MainIfRunner") {
		t.Fatalf("got %v, want an error naming MainIfRunner", err)
	}
}
