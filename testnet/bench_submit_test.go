package testnet

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"allforone/node"
	"allforone/tasks/wasmtest"
)

// BenchmarkSubmitWait5 measures what a user waits for: `allforone submit --wait` of 2,000
// trivial tasks (echo, inputs of one to four bytes, R=1, K=3) on 5 daemon processes, with
// fenced primaries (the default) and without (primary_leases false), in one run so the
// two compare on the same machine load:
//
//	go test ./testnet -run '^$' -bench SubmitWait5 -benchtime 3x -timeout 30m
func BenchmarkSubmitWait5(b *testing.B) {
	bin := allforoneBinary(b)
	dir := b.TempDir()
	module := filepath.Join(dir, "echo.wasm")
	if err := os.WriteFile(module, wasmtest.Echo(), 0o644); err != nil {
		b.Fatal(err)
	}
	batch, err := json.Marshal(map[string]any{
		"name": "submit-wait", "module": "echo.wasm",
		"range":      map[string]any{"start": 0, "end": 2000},
		"limits":     map[string]any{"memory_mb": 1, "timeout": "10s", "max_output_bytes": 1024},
		"redundancy": 1, "replication": 3,
	})
	if err != nil {
		b.Fatal(err)
	}
	manifest := filepath.Join(dir, "batch.json")
	if err := os.WriteFile(manifest, batch, 0o644); err != nil {
		b.Fatal(err)
	}
	took := map[bool]time.Duration{}
	for b.Loop() {
		for _, fenced := range []bool{true, false} {
			b.StopTimer()
			ctx := deadline(b, 10*time.Minute)
			h, err := StartHarness(ctx, HarnessConfig{Binary: bin, Dir: b.TempDir(), N: 5,
				Configure: func(_ int, c *node.Config) { c.PrimaryLeases = fenced }})
			if err != nil {
				b.Fatal(err)
			}
			if err := h.WaitAllKnown(ctx); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			start := time.Now()
			cmd := exec.CommandContext(ctx, bin, "--data", h.dataDir(0), "submit", "--manifest", manifest, "--wait")
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("submit --wait (fenced %v): %v\n%s", fenced, err, out)
			}
			took[fenced] += time.Since(start)
			b.StopTimer()
			if err := h.Close(); err != nil {
				b.Log(err)
			}
			b.StartTimer()
		}
	}
	n := float64(b.N)
	b.ReportMetric(took[true].Seconds()/n, "s-fenced")
	b.ReportMetric(took[false].Seconds()/n, "s-unfenced")
	b.ReportMetric(took[true].Seconds()/took[false].Seconds(), "fenced/unfenced")
}
