package testnet

import (
	"math/rand/v2"
	"testing"
	"time"

	"allforone/tasks"
)

// A daemon killed with SIGKILL while it writes steward state and results restarts with a
// consistent datastore and carries on: kill the primary steward again and again at random
// moments while a batch runs; the batch completes with nothing lost.
func TestCrashSafetyUnderRepeatedSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts daemons many times")
	}
	h := startHarness(t, HarnessConfig{N: 4})
	ctx := deadline(t, 3*time.Minute)
	if err := h.WaitAllKnown(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := h.Proc(0).Client()
	if err != nil {
		t.Fatal(err)
	}
	const n = 3000
	res, err := c.Submit(ctx, echoBatch(n, 1, 2))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	kills := 0
	for kills < 8 {
		st, err := c.Status(ctx, res.BatchID)
		if err == nil && st.State != tasks.BatchRunning {
			break
		}
		victim := 1 + rng.IntN(3) // never node 0, which we ask
		if err == nil {
			for _, p := range h.Procs() {
				if p.PeerID == st.Steward && p.Index != 0 {
					victim = p.Index
				}
			}
		}
		time.Sleep(time.Duration(20+rng.IntN(200)) * time.Millisecond) // a random moment
		h.Kill(victim)
		kills++
		if err := h.Start(ctx, victim); err != nil {
			t.Fatalf("restart after SIGKILL number %d: %v", kills, err)
		}
	}
	t.Logf("%d kills", kills)
	var st = waitStatus(ctx, t, c, res.BatchID)
	if st.State != tasks.BatchComplete || st.Done != n {
		t.Fatalf("after %d kills: %+v", kills, st)
	}
	rep, err := c.Fetch(ctx, res.BatchID)
	if err != nil || len(rep.Missing) > 0 {
		t.Fatalf("results after %d kills: %+v %v", kills, rep, err)
	}
}
