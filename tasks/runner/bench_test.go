//go:build linux

package runner

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"allforone/tasks"
	"allforone/tasks/examples"
	"allforone/tasks/examples/mandel"
	"allforone/tasks/wasmtest"
)

// The sandbox's speed, today's in-process path against runners, in one run. Each benchmark
// has a "native" (or reference) case and reports "x-native": the sandbox's wall time over
// the native one. "inprocess" is the in-process Executor with wazero's termination checks
// (the path before runners); "runner" is a runner process without them.
//
//	go test -run '^$' -bench 'SandboxRatio|TaskOverhead' ./tasks/runner/
//	go test -run '^$' -bench MandelbrotBatch -benchtime 1x -timeout 30m ./tasks/runner/

// runFunc runs a task in a sandbox.
type runFunc func(ctx context.Context, j tasks.Job) (tasks.Result, error)

// sandboxCPU is the CPU time used so far by what runs a sandbox's tasks.
var sandboxCPU = map[string]func(p *Pool) time.Duration{
	"inprocess": func(*Pool) time.Duration { return selfCPU() },
	"runner":    func(p *Pool) time.Duration { return p.CPUTime() },
}

func benchSandboxes(b *testing.B, slots int) (map[string]runFunc, *Pool) {
	b.Helper()
	e, err := tasks.NewExecutor(tasks.ExecutorConfig{Slots: slots, CacheDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close(context.Background()) })
	p := newTestPool(b, Config{Slots: slots})
	return map[string]runFunc{"inprocess": e.Run, "runner": p.Run}, p
}

// selfCPU is this process's CPU time (user and system).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSandboxRatio runs CPU-bound examples natively and in both sandboxes: cmandel
// (C, built with clang for the sandbox and with the system cc natively) and one Mandelbrot
// tile of the Go example (natively: the same Go code, mandel.EncodeTile). One op is one
// native and one sandboxed run; ns/op is their sum.
func BenchmarkSandboxRatio(b *testing.B) {
	type example struct {
		name   string
		module []byte
		input  string
		native func(b *testing.B) func() time.Duration // runs once, returns its CPU time
	}
	tile := mandel.Spec{Width: 1024, Height: 1024, Tile: 128, Iter: 10000, X: -0.5, Scale: 3, Index: 27}
	for _, ex := range []example{
		{"c", examples.CMandel(), "512 512 2000", func(b *testing.B) func() time.Duration {
			cc, err := exec.LookPath("cc")
			if err != nil {
				b.Skipf("no C compiler for the native build of cmandel: %v", err)
			}
			bin := filepath.Join(b.TempDir(), "cmandel")
			if out, err := exec.Command(cc, "-O2", "-o", bin, "../examples/cmandel/main.c").CombinedOutput(); err != nil {
				b.Fatalf("cc: %v: %s", err, out)
			}
			return func() time.Duration {
				cmd := exec.Command(bin)
				cmd.Stdin = strings.NewReader("512 512 2000")
				if err := cmd.Run(); err != nil {
					b.Fatal(err)
				}
				return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
			}
		}},
		{"go", examples.Mandelbrot(), tile.String(), func(b *testing.B) func() time.Duration {
			return func() time.Duration {
				cpu := selfCPU()
				if _, err := mandel.EncodeTile(tile); err != nil {
					b.Fatal(err)
				}
				return selfCPU() - cpu
			}
		}},
	} {
		sbs, pool := benchSandboxes(b, 1)
		for _, name := range []string{"inprocess", "runner"} {
			b.Run(ex.name+"/"+name, func(b *testing.B) {
				native := ex.native(b)
				id := tasks.ContentID(ex.module)
				j := tasks.Job{ModuleID: id, Module: ex.module, Input: []byte(ex.input), Limits: tasks.Limits{Timeout: time.Hour}}
				if _, err := sbs[name](b.Context(), j); err != nil { // compile
					b.Fatal(err)
				}
				// Native and sandboxed runs alternate and the best of each counts, so that
				// the load of a shared machine weighs on both alike.
				// Wall time on a shared machine is noisy: CPU time is reported too.
				const inf = time.Duration(1 << 62)
				bestNative, best, cpuNative, cpuSandbox := inf, inf, inf, inf
				for b.Loop() {
					start := time.Now()
					cpuNative = min(cpuNative, native())
					bestNative = min(bestNative, time.Since(start))
					start, cpu := time.Now(), sandboxCPU[name](pool)
					if _, err := sbs[name](b.Context(), j); err != nil {
						b.Fatal(err)
					}
					best = min(best, time.Since(start))
					cpuSandbox = min(cpuSandbox, sandboxCPU[name](pool)-cpu)
				}
				b.ReportMetric(float64(bestNative.Microseconds())/1000, "native-ms")
				b.ReportMetric(float64(best.Microseconds())/1000, "sandbox-ms")
				b.ReportMetric(float64(best)/float64(bestNative), "x-native")
				b.ReportMetric(float64(cpuSandbox)/float64(cpuNative), "cpu-x-native")
			})
		}
	}
}

// BenchmarkTaskOverhead is the cost of a task that does almost nothing (echo, a 213-byte
// module) in each sandbox: for runners, one job frame and one result frame over the pipes.
func BenchmarkTaskOverhead(b *testing.B) {
	module := wasmtest.Echo()
	id := tasks.ContentID(module)
	sbs, _ := benchSandboxes(b, 1)
	for _, name := range []string{"inprocess", "runner"} {
		b.Run(name, func(b *testing.B) {
			j := tasks.Job{ModuleID: id, Module: module, Input: []byte("hello")}
			if _, err := sbs[name](b.Context(), j); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := sbs[name](b.Context(), j); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMandelbrotBatch renders the 64 tiles of a 1024x1024 image (iter 10000) natively
// and in each sandbox, with 1 and 2 slots; one op is the whole batch.
func BenchmarkMandelbrotBatch(b *testing.B) {
	spec := mandel.Spec{Width: 1024, Height: 1024, Tile: 128, Iter: 10000, X: -0.5, Scale: 3}
	n := spec.NumTiles()
	module := examples.Mandelbrot()
	id := tasks.ContentID(module)
	for _, slots := range []int{1, 2} {
		var native time.Duration
		b.Run(fmt.Sprintf("native/slots=%d", slots), func(b *testing.B) {
			start := time.Now()
			for b.Loop() {
				parallel(n, slots, func(i int) {
					s := spec
					s.Index = i
					if _, err := mandel.EncodeTile(s); err != nil {
						b.Error(err)
					}
				})
			}
			native = time.Since(start) / time.Duration(b.N)
			b.ReportMetric(float64(native.Milliseconds())/float64(n), "ms/tile")
		})
		sbs, _ := benchSandboxes(b, slots)
		for _, name := range []string{"inprocess", "runner"} {
			b.Run(fmt.Sprintf("%s/slots=%d", name, slots), func(b *testing.B) {
				run := sbs[name]
				warm := tasks.Job{ModuleID: id, Module: module, Input: []byte("w=64 h=64 tile=64 iter=1 i=0")}
				parallel(slots, slots, func(int) { // compile in every runner
					if _, err := run(b.Context(), warm); err != nil {
						b.Error(err)
					}
				})
				start := time.Now()
				for b.Loop() {
					parallel(n, n, func(i int) {
						s := spec
						s.Index = i
						j := tasks.Job{ModuleID: id, Module: module, Input: []byte(s.String()), Limits: tasks.Limits{Timeout: time.Hour}}
						if _, err := run(b.Context(), j); err != nil {
							b.Error(err)
						}
					})
				}
				per := time.Since(start) / time.Duration(b.N)
				b.ReportMetric(float64(per.Milliseconds())/float64(n), "ms/tile")
				if native > 0 {
					b.ReportMetric(float64(per)/float64(native), "x-native")
				}
			})
		}
	}
}

// parallel calls f(0..n-1) on workers goroutines and waits.
func parallel(n, workers int, f func(i int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				f(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// BenchmarkWatchCost is what watching a running task costs the node: the node's own CPU
// time (reading the runner's CPU time and memory) per second of a task that loops until
// its 1 s limit stops it.
func BenchmarkWatchCost(b *testing.B) {
	p := newTestPool(b, Config{Slots: 1, MaxMemoryBytes: 64 << 20, WallFactor: 100})
	limits := tasks.Limits{MemoryPages: 16, Timeout: time.Second, MaxOutputBytes: 1 << 10}
	if _, err := p.Run(b.Context(), job(wasmtest.Echo(), nil, limits)); err != nil {
		b.Fatal(err) // a runner started and warm
	}
	var node, task time.Duration
	for b.Loop() {
		before := selfCPU()
		start := time.Now()
		if _, err := p.Run(b.Context(), job(wasmtest.Loop(), nil, limits)); !errors.Is(err, tasks.ErrTimeout) {
			b.Fatalf("the loop: %v, want a timeout", err)
		}
		task += time.Since(start)
		node += selfCPU() - before
	}
	b.ReportMetric(float64(node.Microseconds())/task.Seconds(), "node-µs/task-s")
}
