package worker

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"allforone/tasks"

	"github.com/libp2p/go-libp2p/core/peer"
)

// A worker asks for its slots' buffer in tasks of the estimated time, at least one per free
// slot, at most the request bound.
func TestCapacityWant(t *testing.T) {
	c := Capacity{Slots: 4, Buffer: 30 * time.Second, MaxPerRequest: 64}
	cases := []struct {
		busy, queued int
		est          time.Duration
		want         int
	}{
		{0, 0, 10 * time.Second, 12},       // 4 slots x 30 s / 10 s
		{4, 0, 10 * time.Second, 8},        // 120 s wanted, 40 s running
		{4, 8, 10 * time.Second, 0},        // full
		{0, 0, 10 * time.Minute, 4},        // long tasks: one per free slot
		{2, 0, 10 * time.Minute, 2},        // two free slots
		{0, 0, 100 * time.Millisecond, 64}, // short tasks: the request bound
	}
	for _, tc := range cases {
		if got := c.Want(tc.busy, tc.queued, tc.est); got != tc.want {
			t.Errorf("Want(busy %d, queued %d, est %v) = %d, want %d", tc.busy, tc.queued, tc.est, got, tc.want)
		}
	}
	if got := Horizon(DefaultBuffer, 40*time.Second); got != 10*time.Second {
		t.Errorf("Horizon(30s, lease 40s) = %v, want 10s: a queued task's lease must not run out while it waits", got)
	}
}

// The estimate starts at the guess, jumps to the first observation, then moves by an eighth.
func TestEstimate(t *testing.T) {
	e := NewEstimate(time.Minute)
	if e.Task() != time.Minute {
		t.Fatalf("start = %v", e.Task())
	}
	e.Observe(8 * time.Second)
	if e.Task() != 8*time.Second {
		t.Fatalf("after one = %v, want 8s", e.Task())
	}
	e.Observe(16 * time.Second)
	if e.Task() != 9*time.Second {
		t.Fatalf("after two = %v, want 9s", e.Task())
	}
}

// Waits double from Base up to Max, each between half and all of its step, and start over
// after Reset; the same seed gives the same waits.
func TestBackoff(t *testing.T) {
	b := NewBackoff(time.Second, 8*time.Second)
	rng := rand.New(rand.NewPCG(1, 2))
	steps := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second}
	var got []time.Duration
	for _, step := range steps {
		d := b.Next(rng)
		if d < step/2 || d > step {
			t.Errorf("wait %v outside [%v, %v]", d, step/2, step)
		}
		got = append(got, d)
	}
	b.Reset()
	if d := b.Next(rng); d > time.Second {
		t.Errorf("after Reset: %v, want at most 1s", d)
	}
	b2, rng2 := NewBackoff(time.Second, 8*time.Second), rand.New(rand.NewPCG(1, 2))
	for i, want := range got {
		if d := b2.Next(rng2); d != want {
			t.Errorf("wait %d = %v with the same seed, want %v", i, d, want)
		}
	}
}

// A parked request waits at most MaxWait, at most Max of them wait, one taken again
// keeps its deadline, and Expire hands back those whose wait ended.
func TestLongPoll(t *testing.T) {
	t0 := time.Unix(1000, 0)
	l := LongPoll[int]{Max: 2}
	if l.Park(1, t0, 0) {
		t.Fatal("a request that asked no wait was parked")
	}
	if !l.Park(1, t0, time.Hour) || !l.Park(2, t0, 5*time.Second) {
		t.Fatal("could not park two")
	}
	if l.Park(3, t0, time.Second) {
		t.Fatal("parked beyond Max")
	}
	ps := l.Take()
	if len(ps) != 2 || ps[0].Req != 1 || ps[0].Until != t0.Add(MaxWait) || l.Len() != 0 {
		t.Fatalf("Take = %+v (len %d), want 1 until +MaxWait first", ps, l.Len())
	}
	at := t0.Add(10 * time.Second)
	if !l.Repark(ps[0], at) || l.Repark(ps[1], at) {
		t.Fatal("request 1 (until +20s) must wait on at +10s, request 2 (until +5s) not")
	}
	if exp := l.Expire(t0.Add(MaxWait - time.Millisecond)); len(exp) != 0 || l.Len() != 1 {
		t.Fatalf("Expire before the wait ended took %+v", exp)
	}
	if exp := l.Expire(t0.Add(MaxWait)); len(exp) != 1 || exp[0].Req != 1 || l.Len() != 0 {
		t.Fatalf("Expire at the end of the wait = %+v (%d left), want request 1", exp, l.Len())
	}
}

// A put replaces the batch's earlier record, Open 0 withdraws it, records expire, and
// Pick weighs by open tasks.
func TestOpenTable(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var tab OpenTable
	a, b := tasks.ContentID([]byte("a")), tasks.ContentID([]byte("b"))
	key := OpenWorkKey("s", BucketOf(a)).KeyString()
	tab.Put(key, OpenRecord{Batch: a, Primary: "p", Open: 5}, t0)
	tab.Put(key, OpenRecord{Batch: b, Primary: "q", Open: 1}, t0)
	tab.Put(key, OpenRecord{Batch: a, Primary: "p2", Open: 9}, t0.Add(time.Second))
	recs := tab.Get(key, t0.Add(2*time.Second))
	if len(recs) != 2 || recs[0].Primary != "p2" || recs[0].Open != 9 {
		t.Fatalf("records = %+v, want a's newer record first", recs)
	}
	tab.Put(key, OpenRecord{Batch: a, Open: 0}, t0.Add(2*time.Second))
	if got := tab.Get(key, t0.Add(3*time.Second)); len(got) != 1 {
		t.Fatalf("after a's withdrawal: %+v, want b's only", got)
	}
	if got := tab.Get(key, t0.Add(RecordTTL)); len(got) != 0 || tab.Len() != 0 {
		t.Fatalf("RecordTTL after b's put: %+v, want none", got)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	n := map[string]int{}
	recs = []OpenRecord{{Batch: a, Primary: "p", Open: 9}, {Batch: b, Primary: "q", Open: 1}}
	for range 1000 {
		r, ok := Pick(recs, rng, nil)
		if !ok {
			t.Fatal("nothing picked")
		}
		n[string(r.Primary)]++
	}
	if n["p"] < 800 || n["q"] < 50 {
		t.Errorf("picks %v: want about 900 and 100", n)
	}
	if _, ok := Pick(recs, rng, func(r OpenRecord) bool { return true }); ok {
		t.Error("picked a record that skip refused")
	}
	if k1, k2 := OpenWorkKey("s", 1), OpenWorkKey("t", 1); k1.Equals(k2) {
		t.Error("two swarms share a rendezvous key")
	}
}

// An author gets AuthorQuota open batches; more is refused with ErrQuota, a deadline too
// far or past with ErrDeadline, and a batch past its deadline frees its place.
func TestAnnouncements(t *testing.T) {
	t0 := time.Unix(1000, 0)
	a := Announcements{Quota: 2}
	author := peer.ID("author")
	for i := range 2 {
		if err := a.Admit(author, tasks.ContentID([]byte{byte(i)}), t0.Add(time.Duration(i+1)*time.Hour), t0); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Admit(author, tasks.ContentID([]byte{0}), t0.Add(time.Hour), t0); err != nil {
		t.Fatalf("the same batch again: %v", err)
	}
	err := a.Admit(author, tasks.ContentID([]byte{9}), t0.Add(time.Hour), t0)
	if !errors.Is(err, ErrQuota) {
		t.Fatalf("third batch: %v, want ErrQuota", err)
	}
	if err := a.Admit("other", tasks.ContentID([]byte{9}), t0.Add(MaxDeadline+time.Minute), t0); !errors.Is(err, ErrDeadline) {
		t.Fatalf("deadline beyond MaxDeadline: %v, want ErrDeadline", err)
	}
	if err := a.Admit("other", tasks.ContentID([]byte{9}), t0, t0); !errors.Is(err, ErrDeadline) {
		t.Fatalf("deadline passed: %v, want ErrDeadline", err)
	}
	later := t0.Add(90 * time.Minute) // batch 0's deadline has passed
	if err := a.Admit(author, tasks.ContentID([]byte{9}), later.Add(time.Hour), later); err != nil {
		t.Fatalf("after a deadline freed a place: %v", err)
	}
	if n := a.Open(author, later); n != 2 {
		t.Fatalf("open = %d, want 2", n)
	}
}
