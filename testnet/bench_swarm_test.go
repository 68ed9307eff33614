package testnet

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"allforone/node"
	"allforone/tasks"
	"allforone/tasks/examples"
	"allforone/tasks/examples/mandel"

	"github.com/ipfs/go-cid"
)

// Swarm benchmarks. Run one at a time:
//
//	go test ./testnet -run '^$' -bench SwarmThroughput -benchtime 1x
//	go test ./testnet -run '^$' -bench SwarmEfficiency -benchtime 1x
//	go test ./testnet -run '^$' -bench SwarmRecovery -benchtime 1x

// BenchmarkSwarmThroughput measures tasks per second through the whole pipeline (announce,
// lease, run, result stored on K peers) on 10 in-process nodes with the minimal echo
// module, R=1, K=3.
func BenchmarkSwarmThroughput(b *testing.B) {
	const tasksN = 5000
	c, err := StartCluster(b.Context(), ClusterConfig{N: 10, Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := deadline(b, 10*time.Minute)
	if err := c.WaitAllKnown(ctx); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		start := time.Now()
		res, err := c.Node(0).Submit(ctx, echoBatch(tasksN, 1, 3))
		if err != nil {
			b.Fatal(err)
		}
		id, _ := cid.Decode(res.BatchID)
		waitDone(ctx, b, c.Node(0), id)
		done := time.Since(start)
		if err := WaitFor(ctx, "K holders", func() bool {
			st, err := c.Node(0).Status(ctx, id)
			return err == nil && st.MinReplicas >= 3
		}); err != nil {
			b.Fatal(err)
		}
		stored := time.Since(start)
		b.ReportMetric(tasksN/done.Seconds(), "tasks/s-accepted")
		b.ReportMetric(tasksN/stored.Seconds(), "tasks/s-stored-K")
	}
}

// BenchmarkSwarmEfficiency runs 400 Mandelbrot tiles on a 4-node in-process swarm (R=1)
// and with the local runner on the same machine, and reports the ratio of wall times.
func BenchmarkSwarmEfficiency(b *testing.B) {
	spec := DefaultDemoSpec()
	req := node.SubmitRequest{
		Name: "mandelbrot", Module: examples.Mandelbrot(),
		Inputs:      []node.SubmitInput{{Range: &tasks.Range{Start: 0, End: int64(spec.NumTiles()), Prefix: []byte(spec.Prefix())}}},
		MemoryPages: 2048, TimeoutMS: 60_000, MaxOutputBytes: 1 << 20, Redundancy: 1, Replication: 1,
	}
	for b.Loop() {
		// Local baseline: 2 slots on 2 cores, module compiled from a warm disk cache.
		cache := filepath.Join(b.TempDir(), "cache")
		e, err := tasks.NewExecutor(tasks.ExecutorConfig{Slots: 2, CacheDir: cache})
		if err != nil {
			b.Fatal(err)
		}
		mod := tasks.ContentID(req.Module)
		e.Compile(b.Context(), mod, req.Module)
		start := time.Now()
		errs := make(chan error, 400)
		sem := make(chan struct{}, 2)
		for i := range 400 {
			sem <- struct{}{}
			go func() {
				defer func() { <-sem }()
				_, err := e.Run(b.Context(), tasks.Job{ModuleID: mod, Module: req.Module,
					Input:  []byte(fmt.Sprintf("%s%d", req.Inputs[0].Range.Prefix, i)),
					Limits: tasks.Limits{MemoryPages: 2048, Timeout: time.Minute, MaxOutputBytes: 1 << 20}})
				errs <- err
			}()
		}
		for range 400 {
			if err := <-errs; err != nil {
				b.Fatal(err)
			}
		}
		local := time.Since(start)
		e.Close(context.Background())

		// The swarm: 4 nodes, 1 slot each, modules compiled before the clock starts.
		c, err := StartCluster(b.Context(), ClusterConfig{N: 4, Dir: b.TempDir(),
			Configure: func(i int, cfg *node.Config) { cfg.Slots = 1 }})
		if err != nil {
			b.Fatal(err)
		}
		ctx := deadline(b, 10*time.Minute)
		if err := c.WaitAllKnown(ctx); err != nil {
			b.Fatal(err)
		}
		warm := req
		warm.Inputs = []node.SubmitInput{{Range: &tasks.Range{Start: 0, End: 8, Prefix: []byte(mandel.Default().Prefix())}}}
		wres, err := c.Node(0).Submit(ctx, warm)
		if err != nil {
			b.Fatal(err)
		}
		wid, _ := cid.Decode(wres.BatchID)
		waitDone(ctx, b, c.Node(0), wid)
		start = time.Now()
		res, err := c.Node(0).Submit(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		id, _ := cid.Decode(res.BatchID)
		waitDone(ctx, b, c.Node(0), id)
		swarm := time.Since(start)
		c.Close()
		b.ReportMetric(local.Seconds(), "s-local")
		b.ReportMetric(swarm.Seconds(), "s-swarm")
		b.ReportMetric(swarm.Seconds()/local.Seconds(), "swarm/local")
	}
}

// BenchmarkSwarmRecovery kills (SIGKILL) a worker process that holds leases and measures
// the time until the primary steward has returned its leases to the pool and until as many
// tasks are running again as before the kill.
func BenchmarkSwarmRecovery(b *testing.B) {
	for b.Loop() {
		h := startHarness(b, HarnessConfig{N: 5})
		ctx := deadline(b, 5*time.Minute)
		if err := h.WaitAllKnown(ctx); err != nil {
			b.Fatal(err)
		}
		c, _ := h.Proc(0).Client()
		spec := DefaultDemoSpec()
		spec.Iter = 20000 // about a second per tile: leases stay out long enough to see
		res, err := c.Submit(ctx, node.SubmitRequest{
			Name: "slow tiles", Module: examples.Mandelbrot(),
			Inputs:      []node.SubmitInput{{Range: &tasks.Range{Start: 0, End: int64(spec.NumTiles()), Prefix: []byte(spec.Prefix())}}},
			MemoryPages: 2048, TimeoutMS: 120_000, MaxOutputBytes: 1 << 20, Redundancy: 1, Replication: 2,
		})
		if err != nil {
			b.Fatal(err)
		}
		// Wait for a worker (not node 0, not the steward) that holds a lease.
		var st node.BatchStatus
		victim, held := -1, 0
		if err := WaitFor(ctx, "a worker with leases", func() bool {
			if st, err = c.Status(ctx, res.BatchID); err != nil {
				return false
			}
			for _, p := range st.Peers {
				for _, pr := range h.Procs() {
					if pr.PeerID == p.PeerID && pr.Index != 0 && p.PeerID != st.Steward && p.Running > 0 && st.Done > 20 {
						victim, held = pr.Index, p.Running
						return true
					}
				}
			}
			return false
		}); err != nil {
			b.Fatal(err)
		}
		before, running := st.Reassigned, st.Running
		killed := time.Now()
		h.Kill(victim)
		var released, regranted time.Duration
		if err := WaitFor(ctx, "the leases back in the pool", func() bool {
			s, err := c.Status(ctx, res.BatchID)
			if err != nil {
				return false
			}
			if released == 0 && s.Reassigned >= before+held {
				released = time.Since(killed)
			}
			if released > 0 && s.Running >= running {
				regranted = time.Since(killed)
				return true
			}
			return false
		}); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(released.Seconds(), "s-to-release")
		b.ReportMetric(regranted.Seconds(), "s-to-regrant")
		b.ReportMetric(float64(held), "leases-held")
	}
}
