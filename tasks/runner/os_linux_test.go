package runner

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"allforone/tasks"
	"allforone/tasks/wasmtest"
)

// TestPoolIdlePriority reads a runner's priority back from the kernel: nice 19 and
// SCHED_IDLE for every thread.
func TestPoolIdlePriority(t *testing.T) {
	p := newTestPool(t, Config{Slots: 1, IdlePriority: true})
	if _, err := p.Run(t.Context(), job(wasmtest.Echo(), []byte("x"), tasks.Limits{})); err != nil {
		t.Fatal(err)
	}
	pids := p.Pids()
	if len(pids) != 1 {
		t.Fatalf("runners %v, want one", pids)
	}
	st, err := ReadProcStat(pids[0])
	if err != nil {
		t.Fatal(err)
	}
	if st.Nice != 19 || st.Policy != 5 {
		t.Fatalf("runner %d runs at nice %d, policy %d; want nice 19 and SCHED_IDLE (5)", pids[0], st.Nice, st.Policy)
	}
	threads, _ := os.ReadDir("/proc/" + strconv.Itoa(pids[0]) + "/task")
	for _, th := range threads {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pids[0]) + "/task/" + th.Name() + "/stat")
		if err != nil {
			continue // exited
		}
		if st, err := parseProcStat(b); err == nil && (st.Nice != 19 || st.Policy != 5) {
			t.Errorf("thread %s at nice %d, policy %d", th.Name(), st.Nice, st.Policy)
		}
	}
	// A pool without IdlePriority keeps the normal priority (a local run).
	q := newTestPool(t, Config{Slots: 1})
	if _, err := q.Run(t.Context(), job(wasmtest.Echo(), []byte("x"), tasks.Limits{})); err != nil {
		t.Fatal(err)
	}
	if st, err := ReadProcStat(q.Pids()[0]); err != nil || st.Nice != 0 || st.Policy != 0 {
		t.Errorf("normal runner: %+v, %v; want nice 0, SCHED_OTHER", st, err)
	}
}

// TestPoolSuspend: a suspended task is stopped by the kernel, uses no CPU time while it is,
// and finishes after Resume with the output of an uninterrupted run.
func TestPoolSuspend(t *testing.T) {
	p := newTestPool(t, Config{Slots: 1})
	spin := wasmtest.Spin(500_000_000) // a second or so of CPU
	limits := tasks.Limits{Timeout: time.Minute}
	want, err := p.Run(t.Context(), job(spin, nil, limits))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("uninterrupted run: %s", want.Duration)
	pid := p.Pids()[0]
	base, _ := ReadProcStat(pid)
	type out struct {
		res tasks.Result
		err error
	}
	done := make(chan out, 1)
	go func() {
		res, err := p.Run(t.Context(), job(spin, nil, limits))
		done <- out{res, err}
	}()
	waitFor(t, func() bool { st, _ := ReadProcStat(pid); return st.CPU > base.CPU }) // it runs the task
	if err := p.Suspend(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { st, _ := ReadProcStat(pid); return st.State == 'T' })
	before, _ := ReadProcStat(pid)
	select {
	case o := <-done:
		t.Fatalf("the task finished while suspended: %v", o.err)
	case <-time.After(300 * time.Millisecond):
	}
	after, _ := ReadProcStat(pid)
	if after.CPU != before.CPU || after.State != 'T' {
		t.Fatalf("suspended runner: CPU %s -> %s, state %c", before.CPU, after.CPU, after.State)
	}
	if err := p.Resume(); err != nil {
		t.Fatal(err)
	}
	o := <-done
	if o.err != nil {
		t.Fatalf("after resume: %v", o.err)
	}
	if !bytes.Equal(o.res.Output, want.Output) || string(o.res.Output) != "spun\n" {
		t.Fatalf("output after resume %q, want %q", o.res.Output, want.Output)
	}
	if pids := p.Pids(); len(pids) != 1 || pids[0] != pid {
		t.Errorf("runners %v, want the same runner %d (suspended, not restarted)", pids, pid)
	}
}

// TestPoolCompileBudget: compile bombs generated here are stopped at the compile budget,
// the module is refused from then on without another compile, and the pool carries on.
func TestPoolCompileBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("compile bombs: seconds of CPU")
	}
	p := newTestPool(t, Config{Slots: 2, CompileCPU: 500 * time.Millisecond, CompileMemory: 300 << 20})
	for _, tc := range []struct {
		name   string
		module []byte
		want   string
	}{
		{"deep nesting", wasmtest.DeepNesting(100_000), "CPU time"},
		{"many loops", wasmtest.ManyLoops(1_000_000), "compile budget"},
		{"huge br_table", wasmtest.BigBrTable(100_000, 20), "compile budget"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := p.Run(t.Context(), job(tc.module, nil, tasks.Limits{Timeout: time.Minute}))
			took := time.Since(start)
			if !errors.Is(err, tasks.ErrCompileBudget) || !strings.Contains(err.Error(), tc.want) ||
				!strings.Contains(err.Error(), "refuses the module for every task of its batch") {
				t.Fatalf("got %v (after %s), want ErrCompileBudget about %q", err, took, tc.want)
			}
			t.Logf("%d KiB: %v (%s)", len(tc.module)>>10, err, took.Round(time.Millisecond))
			start = time.Now()
			if _, err := p.Run(t.Context(), job(tc.module, nil, tasks.Limits{})); !errors.Is(err, tasks.ErrCompileBudget) || time.Since(start) > 100*time.Millisecond {
				t.Fatalf("second try: %v after %s, want the refusal at once", err, time.Since(start))
			}
		})
	}
	if res, err := p.Run(t.Context(), job(wasmtest.Echo(), []byte("ok"), tasks.Limits{})); err != nil || string(res.Output) != "ok" {
		t.Fatalf("after compile bombs: %q, %v", res.Output, err)
	}
}

// TestPoolRunnerMemoryCap: a runner that grows by more than its task's memory limit plus
// the allowance is killed, and the task fails with ErrMemoryLimit. Linear memory cannot
// pass the limit, so the task here grows the runner another way: 8 MiB of output, held in
// the runner, with a memory limit of 1 MiB and an allowance of 1 MiB; then it spins.
func TestPoolRunnerMemoryCap(t *testing.T) {
	p := newTestPool(t, Config{Slots: 1, MemoryOverhead: 1 << 20})
	_, err := p.Run(t.Context(), job(wasmtest.OutputHog(8<<10), nil, tasks.Limits{MemoryPages: 16, Timeout: time.Minute}))
	if !errors.Is(err, tasks.ErrMemoryLimit) || !strings.Contains(err.Error(), "runner grew by") {
		t.Fatalf("got %v, want ErrMemoryLimit from the runner's resident memory", err)
	}
	t.Log(err)
}

// TestPoolMemoryBombLeavesNodeFlat: memory bombs in runners do not grow the node's own
// resident memory: the linear memory lives and dies in the runner.
func TestPoolMemoryBombLeavesNodeFlat(t *testing.T) {
	p := newTestPool(t, Config{Slots: 2})
	limits := tasks.Limits{MemoryPages: 4096, Timeout: time.Minute} // 256 MiB each
	run := func() {
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				if _, err := p.Run(t.Context(), job(wasmtest.MemoryFiller(), nil, limits)); !errors.Is(err, tasks.ErrMemoryLimit) {
					t.Errorf("memory filler: %v", err)
				}
			})
		}
		wg.Wait()
	}
	run() // start the runners
	before, _ := readRSS(os.Getpid())
	var peak uint64
	for range 5 {
		run()
		for _, pid := range p.Pids() {
			if r, ok := readRSS(pid); ok {
				peak = max(peak, r)
			}
		}
	}
	after, _ := readRSS(os.Getpid())
	t.Logf("node RSS %d MiB before, %d MiB after 10 bombs of 256 MiB; a runner %d MiB after its bomb", before>>20, after>>20, peak>>20)
	if after > before+32<<20 {
		t.Errorf("node RSS grew from %d MiB to %d MiB", before>>20, after>>20)
	}
}

// TestPoolNoOrphans: Close leaves no runner behind.
func TestPoolNoOrphans(t *testing.T) {
	p, err := New(Config{Slots: 2, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { p.Run(t.Context(), job(wasmtest.Loop(), nil, tasks.Limits{Timeout: time.Minute})) })
	}
	waitFor(t, func() bool { return len(p.Pids()) == 2 })
	pids := p.Pids()
	if err := p.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); err == nil {
			t.Errorf("runner %d still runs after Close", pid)
		}
	}
}

// TestPoolSharedCache: runners compiling the same module at once into one cache dir all
// succeed, and a fresh pool finds the module in the cache.
func TestPoolSharedCache(t *testing.T) {
	dir := t.TempDir()
	module := wasmtest.Spin(10)
	for round := range 2 {
		p := newTestPool(t, Config{Slots: 4, CacheDir: dir})
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				res, err := p.Run(t.Context(), job(module, nil, tasks.Limits{}))
				if err != nil || string(res.Output) != "spun\n" {
					t.Errorf("round %d: %q, %v", round, res.Output, err)
				}
			})
		}
		wg.Wait()
	}
	var files []string
	filepathWalk(t, dir, &files)
	for _, f := range files {
		if strings.HasSuffix(f, ".tmp") {
			t.Errorf("temporary file left in the cache: %s", f)
		}
	}
	if len(files) == 0 {
		t.Error("nothing cached")
	}
}

// TestRunnerExitsWhenPipeCloses: the watchdog that keeps runners from outliving their node
// everywhere: a runner whose stdin closes exits at once, even in the middle of a task.
func TestRunnerExitsWhenPipeCloses(t *testing.T) {
	cfg, err := Config{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	pr, err := startProc(t.Context(), &cfg)
	if err != nil {
		t.Fatal(err)
	}
	loop := wasmtest.Loop()
	if err := pr.send(msgJob, encodeJob(job(loop, nil, tasks.Limits{}), tasks.Limits{Timeout: time.Minute})); err != nil {
		t.Fatal(err)
	}
	f := <-pr.frames // need
	if f.typ != msgNeed {
		t.Fatalf("frame %d, want need", f.typ)
	}
	var b []byte
	b = appendBytes(b, 1, tasks.ContentID(loop).Bytes())
	b = appendBytes(b, 2, loop)
	if err := pr.send(msgModule, b); err != nil {
		t.Fatal(err)
	}
	if f := <-pr.frames; f.typ != msgCompiled {
		t.Fatalf("frame %d, want compiled", f.typ)
	}
	base, _ := ReadProcStat(pr.pid)
	waitFor(t, func() bool { st, _ := ReadProcStat(pr.pid); return st.CPU > base.CPU+50*time.Millisecond })
	pr.stdin.Close()
	select {
	case <-pr.dead:
	case <-time.After(10 * time.Second):
		pr.kill()
		t.Fatal("the runner went on after its stdin closed")
	}
	pr.mu.Lock()
	killed := pr.killed
	pr.mu.Unlock()
	if killed {
		t.Fatal("the runner was killed, it did not exit by itself")
	}
}

// TestPoolMemoryGrowsInPlace: a task that grows its memory to near its limit makes its
// runner resident for about that much, not twice as much: the reservation grows in place
// and nothing is copied (before, --memory 128 peaked at 348 MB).
func TestPoolMemoryGrowsInPlace(t *testing.T) {
	p := newTestPool(t, Config{Slots: 1})
	if _, err := p.Run(t.Context(), job(wasmtest.Echo(), nil, tasks.Limits{})); err != nil {
		t.Fatal(err)
	}
	pid := p.Pids()[0]
	base, _ := readRSS(pid)
	var peak uint64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if r, ok := readRSS(pid); ok {
				peak = max(peak, r)
			} else {
				return
			}
			if st, _ := ReadProcStat(pid); st.CPU > 2*time.Second {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	_, err := p.Run(t.Context(), job(wasmtest.MemoryHog(120), nil, tasks.Limits{MemoryPages: 2048, Timeout: 500 * time.Millisecond}))
	if !errors.Is(err, tasks.ErrTimeout) {
		t.Fatalf("got %v, want the hog stopped at its time limit", err)
	}
	<-done
	t.Logf("runner RSS %d MiB idle, %d MiB at the peak of a task holding 120 MiB of its 128 MiB", base>>20, peak>>20)
	if peak < 120<<20 || peak > base+(120+16)<<20 {
		t.Errorf("peak RSS %d MiB, want about 120 MiB over the runner's %d MiB", peak>>20, base>>20)
	}
}
