package testnet

import (
	"slices"
	"testing"
	"time"

	"allforone/node"

	"github.com/ipfs/go-cid"
)

// BenchmarkAdaptiveOverhead measures extra executions as a share of useful work on a long
// honest run with adaptive replication (R=2, a trusted peer alone on a sample): BOINC aims
// at 5-10%; plain R=2 costs 100%.
//
//	go test ./testnet -run '^$' -bench AdaptiveOverhead -benchtime 1x
func BenchmarkAdaptiveOverhead(b *testing.B) {
	for b.Loop() {
		c := startCluster(b, ClusterConfig{N: 6, Options: func(int) []node.Option {
			return []node.Option{node.WithTestHooks(node.TestHooks{TaskDelay: time.Millisecond})}
		}})
		ctx := deadline(b, 10*time.Minute)
		if err := c.WaitAllKnown(ctx); err != nil {
			b.Fatal(err)
		}
		const n = 5000
		req := echoBatch(n, 2, 2)
		req.Adaptive = true
		res, err := c.Node(0).Submit(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		id, _ := cid.Decode(res.BatchID)
		st := waitDone(ctx, b, c.Node(0), id)
		b.ReportMetric(100*float64(st.Executions-n)/n, "%-extra-executions")
		b.ReportMetric(100*float64(st.Single)/n, "%-single")
	}
}

// BenchmarkLiarsThroughput runs the same R=3 batch on 8 nodes without liars and with 2
// liars (25%) that corrupt every other output, and reports the liars' run's throughput as a
// share of the clean run's.
//
//	go test ./testnet -run '^$' -bench LiarsThroughput -benchtime 1x
func BenchmarkLiarsThroughput(b *testing.B) {
	run := func(liars []int) time.Duration {
		c := startCluster(b, ClusterConfig{N: 8, Options: func(i int) []node.Option {
			hooks := node.TestHooks{TaskDelay: 10 * time.Millisecond}
			if slices.Contains(liars, i) {
				hooks.CorruptOutput = lieAtRandom(i)
			}
			return []node.Option{node.WithTestHooks(hooks)}
		}})
		defer c.Close()
		ctx := deadline(b, 10*time.Minute)
		if err := c.WaitAllKnown(ctx); err != nil {
			b.Fatal(err)
		}
		req := echoBatch(600, 3, 2)
		req.MaxReplicas = 7
		start := time.Now()
		res, err := c.Node(0).Submit(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		id, _ := cid.Decode(res.BatchID)
		waitDone(ctx, b, c.Node(0), id)
		return time.Since(start)
	}
	for b.Loop() {
		clean := run(nil)
		liars := run([]int{2, 5})
		b.ReportMetric(clean.Seconds(), "s-clean")
		b.ReportMetric(liars.Seconds(), "s-25%-liars")
		b.ReportMetric(100*clean.Seconds()/liars.Seconds(), "%-of-clean-throughput")
	}
}
