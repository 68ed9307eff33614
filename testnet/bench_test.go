package testnet

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Formation benchmarks: the time from starting N fresh nodes until every node knows every
// other (routing table or connection). Run with -benchtime=1x for the large sizes:
//
//	go test ./testnet -run '^$' -bench Formation -benchtime 1x

func benchmarkClusterFormation(b *testing.B, n int) {
	for b.Loop() {
		start := time.Now()
		c, err := StartCluster(b.Context(), ClusterConfig{N: n, Dir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		if err := c.WaitAllKnown(deadline(b, 3*time.Minute)); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "s-to-full-view")
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(ms.HeapInuse)/float64(n)/(1<<20), "heap-MiB/node")
		b.ReportMetric(float64(runtime.NumGoroutine())/float64(n), "goroutines/node")
		b.StopTimer()
		c.Close()
		b.StartTimer()
	}
}

func BenchmarkClusterFormation10(b *testing.B) { benchmarkClusterFormation(b, 10) }
func BenchmarkClusterFormation50(b *testing.B) { benchmarkClusterFormation(b, 50) }

// BenchmarkHarnessFormation20 starts 20 daemon processes, measures the time to a full view,
// then the resident memory of each idle daemon after 10 s.
func BenchmarkHarnessFormation20(b *testing.B) {
	for b.Loop() {
		start := time.Now()
		h := startHarness(b, HarnessConfig{N: 20})
		if err := h.WaitAllKnown(deadline(b, 3*time.Minute)); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "s-to-full-view")
		b.StopTimer()
		time.Sleep(10 * time.Second) // the measurement: memory of an idle swarm
		var rss, pss, anon float64
		for _, p := range h.Procs() {
			m, err := procMemMiB(p.Pid())
			if err != nil {
				b.Skipf("no /proc memory figures on this platform: %v", err)
			}
			rss += m["VmRSS"]
			anon += m["RssAnon"]
			pss += m["Pss"]
		}
		// RSS counts the binary's pages in every process; PSS shares them out, so the
		// PSS sum is what the swarm really costs the machine.
		b.ReportMetric(rss/20, "RSS-MiB/node")
		b.ReportMetric(pss/20, "PSS-MiB/node")
		b.ReportMetric(anon/20, "anon-MiB/node")
		h.Close()
		b.StartTimer()
	}
}

// procMemMiB reads VmRSS and RssAnon from /proc/<pid>/status and Pss from smaps_rollup.
func procMemMiB(pid int) (map[string]float64, error) {
	out := make(map[string]float64)
	for _, f := range []string{"status", "smaps_rollup"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, f))
		if err != nil {
			return nil, err
		}
		for _, line := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok || (k != "VmRSS" && k != "RssAnon" && k != "Pss") {
				continue
			}
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				return nil, err
			}
			out[k] = kb / 1024
		}
	}
	return out, nil
}
