package testnet

import (
	"testing"
	"time"

	"github.com/ipfs/go-cid"
)

// Scenario benchmarks over daemon processes and a 100-node in-process swarm. Each runs for
// a minute or more; run them one at a time:
//
//	go test ./testnet -run '^$' -bench ScenarioChurn20 -benchtime 1x -timeout 30m
//	go test ./testnet -run '^$' -bench ScenarioSwarm50 -benchtime 1x -timeout 30m
//	go test ./testnet -run '^$' -bench Cluster100 -benchtime 1x -timeout 30m
//
// The same reports come from `allforone testnet run churn` and `... run swarm50`.

func benchmarkScenario(b *testing.B, name string) *Report {
	sc, err := LoadScenario(name)
	if err != nil {
		b.Fatal(err)
	}
	var rep *Report
	for b.Loop() {
		rep, err = RunScenario(deadline(b, 30*time.Minute), sc,
			RunConfig{Binary: allforoneBinary(b), Dir: b.TempDir(), Log: benchLog{b}})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rep.TasksLost), "tasks-lost")
	b.ReportMetric(float64(rep.UnderReplicated), "under-replicated")
	b.ReportMetric(rep.TasksPerSecond, "tasks/s")
	b.ReportMetric(rep.StartSeconds, "s-to-start")
	b.ReportMetric(rep.ConnectivitySeconds, "s-to-full-view")
	if rep.MemoryPSSMiB > 0 {
		b.ReportMetric(rep.MemoryPSSMiB, "PSS-MiB/node")
	}
	return rep
}

// benchLog sends the runner's progress to the benchmark log (shown with -v).
type benchLog struct{ b *testing.B }

func (l benchLog) Write(p []byte) (int, error) {
	l.b.Log(string(p))
	return len(p), nil
}

// BenchmarkScenarioChurn20 runs the churn scenario (20 daemons, a fifth killed with SIGKILL
// and restarted every 5 s) and reports lost tasks, duplicate executions as a share of all
// executions, and the median and worst recovery after a kill.
func BenchmarkScenarioChurn20(b *testing.B) {
	rep := benchmarkScenario(b, "churn")
	b.ReportMetric(100*rep.DuplicateShare, "%-duplicate-executions")
	b.ReportMetric(float64(rep.TasksRunMoreThanOnce), "tasks-rerun")
	b.ReportMetric(rep.RecoveryMedian, "s-recovery-median")
	b.ReportMetric(rep.RecoveryMax, "s-recovery-worst")
	unrecovered := 0
	for _, s := range rep.RecoverySeconds {
		if s == nil {
			unrecovered++
		}
	}
	b.ReportMetric(float64(unrecovered), "faults-unrecovered")
}

// BenchmarkScenarioSwarm50 runs the swarm50 scenario (50 daemons, 5000 trivial tasks) and
// reports the time to full connectivity, memory per daemon and throughput.
func BenchmarkScenarioSwarm50(b *testing.B) {
	benchmarkScenario(b, "swarm50")
}

// BenchmarkCluster100 starts 100 nodes in this process, waits until every node knows every
// other, and runs a batch of 2000 trivial tasks (R=1, K=3) through them.
func BenchmarkCluster100(b *testing.B) {
	for b.Loop() {
		start := time.Now()
		c, err := StartCluster(b.Context(), ClusterConfig{N: 100, Bootstraps: 3, Dir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		ctx := deadline(b, 20*time.Minute)
		if err := c.WaitAllKnown(ctx); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "s-to-full-view")
		const n = 2000
		start = time.Now()
		res, err := c.Node(7).Submit(ctx, echoBatch(n, 1, 3))
		if err != nil {
			b.Fatal(err)
		}
		id, _ := cid.Decode(res.BatchID)
		st := waitDone(ctx, b, c.Node(7), id)
		took := time.Since(start)
		if st.Done != n {
			b.Fatalf("batch: %+v", st)
		}
		b.ReportMetric(took.Seconds(), "s-batch")
		b.ReportMetric(n/took.Seconds(), "tasks/s")
		b.StopTimer()
		c.Close()
		b.StartTimer()
	}
}
