package sim

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"
)

// small is a simulation of n nodes with 3 batches of 100 tasks and the default churn,
// NAT share and partition.
func small(n int, seed uint64) Config {
	c := DefaultConfig(n)
	c.Batches, c.Tasks, c.Seed = 3, 100, seed
	c.Churn = 0.02
	c.MaxTime = time.Hour
	return c
}

func run(t testing.TB, c Config) *Report {
	t.Helper()
	r, err := Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	r.WriteText(&b)
	t.Log("\n" + b.String())
	return r
}

// With churn, NATed nodes and a partition, a small swarm loses no task and runs few
// tasks twice.
func TestSimChurnLosesNothing(t *testing.T) {
	for _, seed := range []uint64{1, 2} {
		r := run(t, small(150, seed))
		if !r.Finished || r.TasksLost != 0 {
			t.Errorf("seed %d: finished %v, %d of %d tasks lost; want finished, none lost", seed, r.Finished, r.TasksLost, r.TasksTotal)
		}
		if r.Departures == 0 || r.NATNodes == 0 {
			t.Errorf("seed %d: %d departures, %d NATed nodes: the run did not churn or had no NAT", seed, r.Departures, r.NATNodes)
		}
		if r.DuplicateExecutionPct > 10 {
			t.Errorf("seed %d: %.1f%% of executions were duplicates, want at most 10%%", seed, r.DuplicateExecutionPct)
		}
		// Fenced primaries: the partition's minority side cannot reach a majority of the
		// stewards it knew, and its newcomers neither stand nor vote.
		if r.MaxPrimaries != 1 || r.VotesGranted == 0 {
			t.Errorf("seed %d: %d nodes acted as one batch's primary at once (%d votes granted), want 1", seed, r.MaxPrimaries, r.VotesGranted)
		}
	}
}

// Without churn and partition every batch has one primary at a time and no task runs
// twice.
func TestSimCalmOnePrimary(t *testing.T) {
	c := small(60, 3)
	c.Churn, c.PartitionFor, c.Loss = 0, 0, 0
	r := run(t, c)
	if !r.Finished || r.TasksLost != 0 {
		t.Fatalf("finished %v, %d tasks lost", r.Finished, r.TasksLost)
	}
	if r.MaxPrimaries != 1 {
		t.Errorf("max primaries %d, want 1", r.MaxPrimaries)
	}
	if r.DuplicateExecutionPct != 0 || r.Executions != r.TasksTotal {
		t.Errorf("%d executions of %d tasks (%.1f%% duplicates), want one each", r.Executions, r.TasksTotal, r.DuplicateExecutionPct)
	}
	if r.UnderReplicated != 0 {
		t.Errorf("%d results with fewer than %d live holders", r.UnderReplicated, c.Replication)
	}
}

// When every batch's primary leaves at once (quietly: the others notice 25 s later), the
// next closest steward takes over from its copy, and the old one takes the role back when
// it returns: nothing is lost, few tasks run twice.
func TestSimPrimariesLeave(t *testing.T) {
	c := small(120, 5)
	c.Churn, c.PartitionFor = 0, 0
	c.PrimariesLeave = 25 * time.Second
	r := run(t, c)
	if r.PrimariesLeft != c.Batches {
		t.Fatalf("%d primaries taken down, want %d (one per batch)", r.PrimariesLeft, c.Batches)
	}
	if !r.Finished || r.TasksLost != 0 {
		t.Fatalf("finished %v, %d tasks lost", r.Finished, r.TasksLost)
	}
	if claims := r.CoreEvents["primary steward"]; claims < 2*c.Batches {
		t.Errorf("%d primary claims, want at least %d: a takeover for each batch", claims, 2*c.Batches)
	}
	// Fenced: the old primary, back from its departure, finds its successor's lease
	// granted by the others and waits.
	if r.MaxPrimaries != 1 {
		t.Errorf("max primaries %d, want 1", r.MaxPrimaries)
	}
	if r.DuplicateExecutionPct > 10 {
		t.Errorf("%.1f%% duplicates, want at most 10%%", r.DuplicateExecutionPct)
	}
}

// Without primary leases (the node's default today) a steward acts as primary while its
// own view says it is the closest live steward: nothing is lost, but the partition's
// minority side elects its own.
func TestSimUnfenced(t *testing.T) {
	c := small(150, 1)
	c.PrimaryLeases = false
	r := run(t, c)
	if !r.Finished || r.TasksLost != 0 {
		t.Fatalf("finished %v, %d of %d tasks lost", r.Finished, r.TasksLost, r.TasksTotal)
	}
	if r.Votes != 0 || r.MaxPrimaries > 2 || r.MaxPrimariesWhole != 1 {
		t.Errorf("%d votes, max primaries %d (%d outside the partition), want no votes, at most 2 and 1", r.Votes, r.MaxPrimaries, r.MaxPrimariesWhole)
	}
}

// The same seed gives the same run, event for event; another seed another run.
func TestSimDeterministic(t *testing.T) {
	strip := func(r *Report) Report {
		x := *r
		x.WallSeconds, x.MemoryPerNode, x.PeakHeapBytes = 0, 0, 0
		return x
	}
	a, b := run(t, small(80, 7)), run(t, small(80, 7))
	if !reflect.DeepEqual(strip(a), strip(b)) {
		t.Fatalf("two runs of seed 7 differ:\n%+v\n%+v", strip(a), strip(b))
	}
	if c := run(t, small(80, 8)); c.Events == a.Events && c.Messages == a.Messages {
		t.Errorf("seeds 7 and 8 gave the same run (%d events, %d messages)", c.Events, c.Messages)
	}
}

// Bad configurations are refused with what to give instead.
func TestSimConfigValidate(t *testing.T) {
	c := DefaultConfig(5)
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "give 10 to") {
		t.Errorf("5 nodes: %v", err)
	}
	c = DefaultConfig(100)
	c.NAT = 1
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "nat") {
		t.Errorf("all NATed: %v", err)
	}
	if _, err := Run(context.Background(), c); err == nil {
		t.Error("Run accepted a configuration Validate refuses")
	}
}

// BenchmarkSim10000 runs the 10,000-node simulation of the goal once per
// iteration (run it with -bench Sim10000 -benchtime 1x; it takes minutes).
func BenchmarkSim10000(b *testing.B) {
	c := DefaultConfig(10_000)
	c.Batches, c.Tasks = 20, 1000
	for b.Loop() {
		r, err := Run(context.Background(), c)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(r.TasksLost), "lost")
		b.ReportMetric(float64(r.MaxPrimaries), "max_primaries")
		b.ReportMetric(r.DuplicateExecutionPct, "dup_pct")
		b.ReportMetric(r.LeaseP99Ms, "lease_p99_ms")
		b.ReportMetric(float64(r.MemoryPerNode), "B/node")
	}
}
