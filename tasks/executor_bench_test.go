package tasks

import (
	"context"
	"testing"

	"allforone/tasks/examples"
	"allforone/tasks/wasmtest"
)

// BenchmarkTaskOverhead is the cost of one task that does almost nothing: instantiate, run,
// collect. "minimal" is a hand-assembled module of a few hundred bytes (echo); "go" is a
// Go-built module (primes over [0, 10)), whose runtime start-up dominates.
//
//	go test -run '^$' -bench TaskOverhead ./tasks/
func BenchmarkTaskOverhead(b *testing.B) {
	for _, bc := range []struct {
		name   string
		module []byte
		input  string
	}{
		{"minimal", wasmtest.Echo(), "hello"},
		{"go", examples.Primes(), "0 10"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := newTestExecutor(b, ExecutorConfig{Slots: 1})
			id := ContentID(bc.module)
			if err := e.Compile(b.Context(), id, bc.module); err != nil {
				b.Fatal(err)
			}
			j := Job{ModuleID: id, Input: []byte(bc.input)}
			b.ReportMetric(float64(len(bc.module)), "module-bytes")
			for b.Loop() {
				if _, err := e.Run(b.Context(), j); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCompileGoModule compiles the Go-built mandelbrot module: "cold" with no cache,
// "disk-cache" in a fresh executor (as after a restart) whose on-disk compilation cache
// already holds it.
//
//	go test -run '^$' -bench CompileGoModule -benchtime 5x ./tasks/
func BenchmarkCompileGoModule(b *testing.B) {
	module := examples.Mandelbrot()
	id := ContentID(module)
	compile := func(b *testing.B, cacheDir string) {
		e, err := NewExecutor(ExecutorConfig{Slots: 1, CacheDir: cacheDir})
		if err != nil {
			b.Fatal(err)
		}
		if err := e.Compile(b.Context(), id, module); err != nil {
			b.Fatal(err)
		}
		if err := e.Close(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("cold", func(b *testing.B) {
		b.ReportMetric(float64(len(module)), "module-bytes")
		for b.Loop() {
			compile(b, "")
		}
	})
	b.Run("disk-cache", func(b *testing.B) {
		dir := b.TempDir()
		compile(b, dir) // warm the cache
		for b.Loop() {
			compile(b, dir)
		}
	})
}
