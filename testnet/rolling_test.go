package testnet

import (
	"testing"
	"time"

	"allforone/node"
	"allforone/tasks"
)

// progressWatch polls a batch and records the longest time without progress while it
// runs: a lease left to expire would show as a stall as long as the lease.
type progressWatch struct {
	last      int
	lastMoved time.Time
	maxStall  time.Duration
}

func (w *progressWatch) observe(st node.BatchStatus) {
	now := time.Now()
	if w.lastMoved.IsZero() || st.Done > w.last {
		w.last, w.lastMoved = st.Done, now
		return
	}
	w.maxStall = max(w.maxStall, now.Sub(w.lastMoved))
}

// A rolling upgrade on a process testnet: every node is stopped with SIGTERM and started
// again, one after another, while a batch runs: nothing is lost and no lease waits for its
// expiry (30 s here), because a stopping node hands its leases back.
func TestRollingRestartLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts five daemons")
	}
	h := startHarness(t, HarnessConfig{N: 5})
	ctx := deadline(t, 4*time.Minute)
	if err := h.WaitAllKnown(ctx); err != nil {
		t.Fatal(err)
	}
	slow := func(i int) {
		c, err := h.Proc(i).Client()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.SetSlow(ctx, 40*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		slow(i)
	}
	api := func(not int) *node.Client {
		for _, p := range h.Procs() {
			if p.Index != not && p.Running() {
				c, _ := p.Client()
				return c
			}
		}
		t.Fatal("no node left to ask")
		return nil
	}
	const n = 600
	res, err := api(-1).Submit(ctx, echoBatch(n, 1, 2))
	if err != nil {
		t.Fatal(err)
	}
	var w progressWatch
	watch := func(c *node.Client) node.BatchStatus {
		st, err := c.Status(ctx, res.BatchID)
		if err == nil {
			w.observe(st)
		}
		return st
	}
	var exits []time.Duration
	for i := range 5 {
		c := api(i)
		if err := WaitFor(ctx, "some progress", func() bool { return watch(c).Done >= (i+1)*n/8 }); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := h.Stop(i, 15*time.Second); err != nil {
			t.Fatal(err)
		}
		exits = append(exits, time.Since(start))
		if err := h.Start(ctx, i); err != nil {
			t.Fatal(err)
		}
		slow(i)
	}
	c := api(-1)
	if err := WaitFor(ctx, "batch to finish", func() bool { return watch(c).State != tasks.BatchRunning }); err != nil {
		t.Fatal(err)
	}
	st := watch(c)
	t.Logf("SIGTERM to exit: %v; longest stall %v; executions %d, reassigned %d", exits, w.maxStall, st.Executions, st.Reassigned)
	if st.State != tasks.BatchComplete {
		t.Fatalf("batch %+v", st)
	}
	if w.maxStall > 10*time.Second {
		t.Errorf("progress stalled for %v: a lease waited for its expiry", w.maxStall)
	}
	rep, err := c.Fetch(ctx, res.BatchID)
	if err != nil || len(rep.Missing) > 0 {
		t.Fatalf("results after the rolling restart: %+v %v", rep, err)
	}
}

// BenchmarkStopWithLeasesInFlight stops (SIGTERM) a daemon whose tasks cannot finish in
// time (10 s each) and measures the time to exit and how long those tasks then wait before
// they run elsewhere.
//
//	go test ./testnet -run '^$' -bench StopWithLeasesInFlight -benchtime 1x
func BenchmarkStopWithLeasesInFlight(b *testing.B) {
	for b.Loop() {
		// Four slots each and six tasks: the other nodes have free slots for what comes back.
		h := startHarness(b, HarnessConfig{N: 3, DaemonArgs: []string{"--slots", "4"}})
		ctx := deadline(b, 3*time.Minute)
		if err := h.WaitAllKnown(ctx); err != nil {
			b.Fatal(err)
		}
		for _, p := range h.Procs() {
			c, _ := p.Client()
			c.SetSlow(ctx, 10*time.Second)
		}
		c, _ := h.Proc(0).Client()
		res, err := c.Submit(ctx, echoBatch(6, 1, 2))
		if err != nil {
			b.Fatal(err)
		}
		victim := h.Proc(2)
		var before node.BatchStatus
		held := 0
		if err := WaitFor(ctx, "the victim to hold leases", func() bool {
			before, err = c.Status(ctx, res.BatchID)
			if err != nil {
				return false
			}
			for _, p := range before.Peers {
				if p.PeerID == victim.PeerID && p.Running > 0 {
					held = p.Running
					return true
				}
			}
			return false
		}); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if err := h.Stop(2, 30*time.Second); err != nil {
			b.Fatal(err)
		}
		exit := time.Since(start)
		exited := time.Now()
		if err := WaitFor(ctx, "the handed-back tasks to run elsewhere", func() bool {
			st, err := c.Status(ctx, res.BatchID)
			// The victim's leases came back and the others' free slots took them.
			return err == nil && st.Reassigned >= before.Reassigned+held && st.Running >= before.Running
		}); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(exit.Seconds(), "s-SIGTERM-to-exit")
		b.ReportMetric(time.Since(exited).Seconds(), "s-idle-before-regrant")
	}
}
