package tasks

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"allforone/tasks/examples"
	"allforone/tasks/examples/mandel"
)

// benchSpec is a 1024x1024 image in 64 tiles of 128x128 whose tiles take about 100 ms each
// natively on average (the centre tiles more, the edges less).
var benchSpec = mandel.Spec{Width: 1024, Height: 1024, Tile: 128, Iter: 10000, X: -0.5, Scale: 3}

// BenchmarkMandelbrotBatch renders the 64 tiles natively and in the sandbox, with 1 and 2
// slots. One op is the whole batch; the wasm runs report "x-native", the sandbox's slowdown
// against the native run with as many slots (module compiled beforehand, as a node would).
// "wasm-nocheck" is for reference only: the same without wazero's termination checks
// (WithCloseOnContextDone), which the sandbox needs to stop endless loops and which cost
// most of the slowdown (wazero issue #2466).
//
//	go test -run '^$' -bench MandelbrotBatch -benchtime 1x -timeout 30m ./tasks/
func BenchmarkMandelbrotBatch(b *testing.B) {
	n := benchSpec.NumTiles()
	native := map[int]time.Duration{}
	for _, slots := range []int{1, 2} {
		b.Run(fmt.Sprintf("native/slots=%d", slots), func(b *testing.B) {
			var total time.Duration
			for b.Loop() {
				start := time.Now()
				parallel(n, slots, func(i int) {
					s := benchSpec
					s.Index = i
					if _, err := mandel.EncodeTile(s); err != nil {
						b.Error(err)
					}
				})
				total += time.Since(start)
			}
			native[slots] = total / time.Duration(b.N)
			b.ReportMetric(float64(native[slots].Milliseconds())/float64(n), "ms/tile")
		})
	}
	module := examples.Mandelbrot()
	id := ContentID(module)
	for _, bc := range []struct {
		name    string
		slots   int
		nocheck bool
	}{{"wasm/slots=1", 1, false}, {"wasm/slots=2", 2, false}, {"wasm-nocheck/slots=1", 1, true}} {
		slots := bc.slots
		b.Run(bc.name, func(b *testing.B) {
			e, err := NewExecutor(ExecutorConfig{Slots: slots, CacheDir: b.TempDir(), NoTerminationChecks: bc.nocheck})
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close(context.Background())
			if err := e.Compile(b.Context(), id, module); err != nil {
				b.Fatal(err)
			}
			var total time.Duration
			for b.Loop() {
				start := time.Now()
				// More goroutines than slots: the executor's slots do the limiting.
				parallel(n, n, func(i int) {
					s := benchSpec
					s.Index = i
					if _, err := e.Run(b.Context(), Job{ModuleID: id, Input: []byte(s.String())}); err != nil {
						b.Error(err)
					}
				})
				total += time.Since(start)
			}
			per := total / time.Duration(b.N)
			b.ReportMetric(float64(per.Milliseconds())/float64(n), "ms/tile")
			if nat := native[slots]; nat > 0 {
				b.ReportMetric(float64(per)/float64(nat), "x-native")
			}
		})
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
