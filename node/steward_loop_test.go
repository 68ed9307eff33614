package node

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"allforone/tasks/steward"
)

// fakeClock is a clock a test moves by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// The steward driver takes its time from the clock it is given: leases granted on the fake
// clock expire when that clock passes their end, though far less real time has passed. A
// lone node on loopback.
func TestStewardDriverRunsOnItsClock(t *testing.T) {
	clock := &fakeClock{now: time.Now()}
	cfg := TestConfig(filepath.Join(t.TempDir(), "n"))
	if _, err := InitWithSwarmKey(cfg, nil); err != nil {
		t.Fatal(err)
	}
	n, err := New(cfg, WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	n.draining.Store(true) // its worker asks for nothing: the test asks by hand
	if err := n.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	id := submitEcho(t, ctx, n, 3)
	b := n.getBatch(id)
	var granted int
	deadlineFor(t, ctx, "two leases", func() bool {
		_, g, err := n.requestLeases(ctx, b, 2)
		granted += len(g.GetLeases())
		return err == nil && granted == 2
	})
	st, err := n.Status(ctx, id)
	if err != nil || st.Running != 2 {
		t.Fatalf("status after the grants: %+v %v", st, err)
	}
	// Before the clock moves, no lease is lost.
	var view TestingTasks
	if l := n.stewardOf(b); l == nil {
		t.Fatal("no steward loop")
	} else if err := l.inspect(ctx, func(s *steward.Steward) { view = testingTasks(id, b, s.State(), nil) }); err != nil {
		t.Fatal(err)
	}
	if view.Tasks[0].Lost != 0 {
		t.Fatalf("a lease lost before its time: %+v", view.Tasks)
	}
	clock.Add(leaseDuration(b.m) + time.Second)
	deadlineFor(t, ctx, "the leases to expire on the fake clock", func() bool {
		st, err := n.Status(ctx, id)
		return err == nil && st.Running == 0 && st.Reassigned == 2
	})
}
