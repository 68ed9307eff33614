package tasks

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

var t0 = time.UnixMilli(1_750_000_000_000)

// testPeers returns n deterministic peer IDs and their keys.
func testPeers(t testing.TB, n int) ([]peer.ID, []crypto.PrivKey) {
	t.Helper()
	var ids []peer.ID
	var keys []crypto.PrivKey
	for i := range n {
		seed := make([]byte, 32)
		seed[0] = byte(i + 1)
		sk, _, err := crypto.GenerateEd25519Key(newSeedReader(seed))
		if err != nil {
			t.Fatal(err)
		}
		id, _ := peer.IDFromPrivateKey(sk)
		ids, keys = append(ids, id), append(keys, sk)
	}
	return ids, keys
}

type seedReader struct{ r *rand.ChaCha8 }

func newSeedReader(seed []byte) *seedReader {
	var s [32]byte
	copy(s[:], seed)
	return &seedReader{rand.NewChaCha8(s)}
}
func (s *seedReader) Read(p []byte) (int, error) { return s.r.Read(p) }

func newState(t testing.TB, tasks int, r, maxReplicas uint32) *BatchState {
	t.Helper()
	m := testManifest()
	m.Inputs = []Input{RangeInput(Range{Start: 0, End: int64(tasks)})}
	m.Redundancy, m.MaxReplicas = r, maxReplicas
	id := ContentID([]byte(fmt.Sprint("batch", tasks, r, maxReplicas)))
	return NewBatchState(id, m, rand.New(rand.NewPCG(1, 2)))
}

// rec is an unsigned record of worker's output for task i ("" output = failure).
func rec(b *BatchState, i int, worker peer.ID, output string) ResultRecord {
	r := ResultRecord{Batch: b.ID, Task: i, Executor: worker, Finished: t0}
	if output == "" {
		r.Error = "trap"
	} else {
		r.Output = ContentID([]byte(output))
	}
	return r
}

func tasksOf(gs []LeaseGrant) []int {
	var out []int
	for _, g := range gs {
		out = append(out, g.Task)
	}
	return out
}

func TestQuorum(t *testing.T) {
	a, b, c := ContentID([]byte("a")), ContentID([]byte("b")), ContentID([]byte("c"))
	n := 0
	next := func() peer.ID { n++; return peer.ID(fmt.Sprint("peer", n)) }
	ok := func(c cid.Cid) ResultRecord { return ResultRecord{Output: c, Executor: next()} }
	bad := ResultRecord{Error: "trap"}
	same := next() // one peer signing twice
	fail := func() ResultRecord { r := bad; r.Executor = next(); return r }
	cases := []struct {
		name    string
		results []ResultRecord
		r, max  int
		want    TaskStatus
		output  cid.Cid
	}{
		{"R=1 one result", []ResultRecord{ok(a)}, 1, 3, TaskAccepted, a},
		{"R=1 one failure", []ResultRecord{fail()}, 1, 3, TaskOpen, cid.Undef},
		{"R=1 failures up to max", []ResultRecord{fail(), fail(), fail()}, 1, 3, TaskFailed, cid.Undef},
		{"R=3 two agree", []ResultRecord{ok(a), ok(a)}, 3, 5, TaskAccepted, a},
		{"R=3 one result", []ResultRecord{ok(a)}, 3, 5, TaskOpen, cid.Undef},
		{"R=3 all differ", []ResultRecord{ok(a), ok(b), ok(c)}, 3, 5, TaskOpen, cid.Undef},
		{"R=3 differ then agree", []ResultRecord{ok(a), ok(b), ok(c), ok(b)}, 3, 5, TaskAccepted, b},
		{"R=3 tie is no quorum", []ResultRecord{ok(a), ok(b), ok(a), ok(b)}, 3, 5, TaskOpen, cid.Undef},
		{"R=3 no quorum at max", []ResultRecord{ok(a), ok(b), ok(c), fail(), ok(b), ok(a)}, 3, 6, TaskFailed, cid.Undef},
		{"R=2 needs both", []ResultRecord{ok(a)}, 2, 4, TaskOpen, cid.Undef},
		{"R=2 both agree", []ResultRecord{ok(a), ok(a)}, 2, 4, TaskAccepted, a},
		{"one peer twice is one vote", []ResultRecord{{Output: a, Executor: same}, {Output: a, Executor: same}}, 2, 4, TaskOpen, cid.Undef},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, out := Quorum(tc.results, tc.r, tc.max)
			if st != tc.want || !out.Equals(tc.output) && tc.output.Defined() {
				t.Fatalf("Quorum = %v %v, want %v %v", st, out, tc.want, tc.output)
			}
		})
	}
}

func TestGrantLowestFirstAndComplete(t *testing.T) {
	w, _ := testPeers(t, 2)
	b := newState(t, 5, 1, 3)
	g := b.Grant(w[0], 2, t0, time.Minute, nil)
	if got := tasksOf(g); fmt.Sprint(got) != "[0 1]" {
		t.Fatalf("first grant %v, want [0 1]", got)
	}
	if got := tasksOf(b.Grant(w[1], 10, t0, time.Minute, nil)); fmt.Sprint(got) != "[2 3 4]" {
		t.Fatalf("second grant %v, want [2 3 4]", got)
	}
	if g := b.Grant(w[1], 10, t0, time.Minute, nil); len(g) != 0 {
		t.Fatalf("everything is leased, yet granted %v", tasksOf(g))
	}
	for i := range 5 {
		c := b.AddResult(rec(b, i, w[i%2], "out"))
		if !c.Accepted {
			t.Fatalf("task %d not accepted with R=1", i)
		}
	}
	s := b.Summary(t0, func(peer.ID) bool { return true })
	if !b.Done() || s.State != BatchComplete || s.Done != 5 || s.Running != 0 || s.Reassigned != 0 {
		t.Fatalf("summary %+v", s)
	}
}

func TestRedundancyUsesDistinctPeers(t *testing.T) {
	w, _ := testPeers(t, 4)
	b := newState(t, 1, 3, 5)
	// One worker asking again and again gets the task once.
	if got := tasksOf(b.Grant(w[0], 5, t0, time.Minute, nil)); fmt.Sprint(got) != "[0]" {
		t.Fatalf("grant %v", got)
	}
	if g := b.Grant(w[0], 5, t0, time.Minute, nil); len(g) != 0 {
		t.Fatal("the same worker got a second replica of a task")
	}
	b.Grant(w[1], 1, t0, time.Minute, nil)
	b.Grant(w[2], 1, t0, time.Minute, nil)
	if g := b.Grant(w[3], 1, t0, time.Minute, nil); len(g) != 0 {
		t.Fatal("a fourth replica was granted while R=3 are running")
	}
	b.AddResult(rec(b, 0, w[0], "x"))
	// After its result, the same worker still cannot take the task again.
	if g := b.Grant(w[0], 1, t0, time.Minute, nil); len(g) != 0 {
		t.Fatal("a worker got a task it already ran")
	}
	c := b.AddResult(rec(b, 0, w[1], "x"))
	if !c.Accepted {
		t.Fatal("two of three agreeing did not accept")
	}
	if s := b.Summary(t0, func(peer.ID) bool { return true }); s.Running != 0 {
		t.Fatalf("the third replica's lease is still running after acceptance: %+v", s)
	}
}

func TestDisagreementAddsReplicasThenFails(t *testing.T) {
	w, _ := testPeers(t, 6)
	b := newState(t, 1, 3, 5)
	for i := range 3 {
		b.Grant(w[i], 1, t0, time.Minute, nil)
		b.AddResult(rec(b, 0, w[i], fmt.Sprint("out", i)))
	}
	if b.Task(0).Status() != TaskOpen {
		t.Fatal("three different outputs decided the task")
	}
	if g := b.Grant(w[3], 5, t0, time.Minute, nil); len(g) != 1 {
		t.Fatal("disagreement did not buy another replica")
	}
	if g := b.Grant(w[4], 5, t0, time.Minute, nil); len(g) != 0 {
		t.Fatal("more than one extra replica at a time")
	}
	b.AddResult(rec(b, 0, w[3], "out3"))
	b.Grant(w[4], 1, t0, time.Minute, nil)
	c := b.AddResult(rec(b, 0, w[4], "out4"))
	if !c.Failed || b.Task(0).Status() != TaskFailed {
		t.Fatalf("five different outputs at max replicas 5: %+v", c)
	}
	if g := b.Grant(w[5], 5, t0, time.Minute, nil); len(g) != 0 {
		t.Fatal("a failed task was granted")
	}
	s := b.Summary(t0, func(peer.ID) bool { return true })
	if s.State != BatchFailed || fmt.Sprint(s.FailedTasks) != "[0]" {
		t.Fatalf("summary %+v", s)
	}
}

func TestExpiredAndLostLeasesReturnToThePool(t *testing.T) {
	w, _ := testPeers(t, 3)
	b := newState(t, 4, 1, 3)
	b.Grant(w[0], 2, t0, time.Second, nil) // tasks 0, 1
	b.Grant(w[1], 2, t0, time.Minute, nil) // tasks 2, 3
	if n := b.Expire(t0.Add(500 * time.Millisecond)); n != 0 {
		t.Fatalf("expired %d leases early", n)
	}
	if n := b.Expire(t0.Add(time.Second)); n != 2 {
		t.Fatalf("expired %d leases, want 2", n)
	}
	if got := tasksOf(b.Grant(w[2], 5, t0.Add(time.Second), time.Minute, nil)); fmt.Sprint(got) != "[0 1]" {
		t.Fatalf("after expiry granted %v, want [0 1]", got)
	}
	// Worker 1 disconnects: its tasks return at once, before their expiry.
	if got := b.ReleaseWorker(w[1]); fmt.Sprint(got) != "[2 3]" {
		t.Fatalf("ReleaseWorker = %v", got)
	}
	if got := tasksOf(b.Grant(w[0], 5, t0.Add(time.Second), time.Minute, nil)); fmt.Sprint(got) != "[2 3]" {
		t.Fatalf("after disconnect granted %v, want [2 3]", got)
	}
	if s := b.Summary(t0.Add(time.Second), func(peer.ID) bool { return true }); s.Reassigned != 4 {
		t.Fatalf("reassigned %d, want 4", s.Reassigned)
	}
	// A late result from an expired lease still counts.
	if c := b.AddResult(rec(b, 0, w[0], "late")); !c.Accepted {
		t.Fatal("a late result was not accepted")
	}
}

// A worker that restarted says which leases it still holds: the others go back to the
// pool at once, and nobody else's leases are touched.
func TestRestartedWorkerLeasesReturnAtOnce(t *testing.T) {
	w, _ := testPeers(t, 3)
	b := newState(t, 6, 1, 3)
	b.Grant(w[0], 3, t0, time.Minute, nil) // tasks 0, 1, 2
	b.Grant(w[1], 2, t0, time.Minute, nil) // tasks 3, 4
	if got := b.ReleaseWorkerExcept(w[0], []int{1}, t0); fmt.Sprint(got) != "[0 2]" {
		t.Fatalf("ReleaseWorkerExcept = %v, want [0 2]", got)
	}
	if got := b.ReleaseWorkerExcept(w[0], []int{1}, t0); len(got) != 0 {
		t.Fatalf("released twice: %v", got)
	}
	if got := tasksOf(b.Grant(w[2], 5, t0, time.Minute, nil)); fmt.Sprint(got) != "[0 2 5]" {
		t.Fatalf("granted %v, want [0 2 5]: the released tasks and the last open one", got)
	}
	// The lease it still holds stands: its result counts.
	if c := b.AddResult(rec(b, 1, w[0], "x")); !c.Accepted {
		t.Fatal("the result of a held lease was not accepted")
	}
}

func TestMergeConverges(t *testing.T) {
	w, _ := testPeers(t, 4)
	// Two stewards that both granted during a partition.
	a, b := newState(t, 3, 3, 5), newState(t, 3, 3, 5)
	a.Grant(w[0], 3, t0, time.Minute, nil)
	b.Grant(w[1], 3, t0, time.Minute, nil)
	a.AddResult(rec(a, 0, w[0], "x"))
	b.AddResult(rec(b, 0, w[1], "x"))
	b.AddHolder(1, w[3])
	for _, i := range a.TakeDirty() {
		b.Merge(i, *a.Task(i))
	}
	for _, i := range b.TakeDirty() {
		a.Merge(i, *b.Task(i))
	}
	for i := range 3 {
		pa, pb := a.TaskStateToPB(i), b.TaskStateToPB(i)
		if len(pa.Results) != len(pb.Results) || len(pa.Leases) != len(pb.Leases) || len(pa.Holders) != len(pb.Holders) {
			t.Fatalf("task %d differs after merging both ways:\n%v\n%v", i, pa, pb)
		}
		if a.Task(i).Status() != b.Task(i).Status() {
			t.Fatalf("task %d: status %v vs %v", i, a.Task(i).Status(), b.Task(i).Status())
		}
	}
	if a.Task(0).Status() != TaskAccepted {
		t.Fatal("two agreeing results from two stewards did not accept after merge")
	}
	// Merging again changes nothing.
	if c := a.Merge(0, *b.Task(0)); c.Added {
		t.Fatal("a repeated merge changed the state")
	}
}

func TestResultRecordSignature(t *testing.T) {
	_, keys := testPeers(t, 2)
	b := newState(t, 1, 1, 3)
	r := rec(b, 0, "", "output")
	r.OutputSize = 6
	r.Duration = 1234 * time.Microsecond
	if err := r.Sign(keys[0]); err != nil {
		t.Fatal(err)
	}
	back, err := ResultFromPB(r.ToPB())
	if err != nil {
		t.Fatal(err)
	}
	if err := back.Verify(); err != nil {
		t.Fatalf("a signed record does not verify after the wire: %v", err)
	}
	forged := back
	forged.Output = ContentID([]byte("other"))
	if forged.Verify() == nil {
		t.Fatal("a changed output still verifies")
	}
	other, _ := peer.IDFromPrivateKey(keys[1])
	forged = back
	forged.Executor = other
	if forged.Verify() == nil {
		t.Fatal("a record claimed by another executor verifies")
	}
}

func TestReleaseGone(t *testing.T) {
	w, _ := testPeers(t, 3)
	b := newState(t, 4, 1, 3)
	b.Grant(w[0], 2, t0, time.Minute, nil)
	b.Grant(w[1], 2, t0, time.Minute, nil)
	if n := b.ReleaseGone(func(p peer.ID) bool { return p != w[1] }); n != 2 {
		t.Fatalf("released %d leases of the departed worker, want 2", n)
	}
	if got := tasksOf(b.Grant(w[2], 5, t0, time.Minute, nil)); fmt.Sprint(got) != "[2 3]" {
		t.Fatalf("granted %v, want [2 3]", got)
	}
}

// adaptiveState is a batch with adaptive replication: R=2, a trusted peer alone R=1.
func adaptiveState(t testing.TB, tasks int) *BatchState {
	t.Helper()
	m := testManifest()
	m.Inputs = []Input{RangeInput(Range{Start: 0, End: int64(tasks)})}
	m.Redundancy, m.MaxReplicas, m.AdaptiveReplication, m.MinRedundancy = 2, 4, true, 1
	return NewBatchState(ContentID([]byte(fmt.Sprint("adaptive", tasks))), m, rand.New(rand.NewPCG(3, 4)))
}

func TestAdaptiveReplication(t *testing.T) {
	w, _ := testPeers(t, 3)
	trusted, untrusted, checker := w[0], w[1], w[2]
	cv := map[peer.ID]int{trusted: 100}
	trust := func(p peer.ID) int { return cv[p] }
	b := adaptiveState(t, 1000)
	single := 0
	for range 1000 {
		g := b.Grant(trusted, 1, t0, time.Minute, trust)
		if len(g) != 1 {
			t.Fatal("the trusted worker got no task")
		}
		i := g[0].Task
		if b.Task(i).Single {
			single++
		}
		b.AddResult(rec(b, i, trusted, fmt.Sprint("ok", i)))
		// Replicated tasks need a second, distinct peer.
		if b.Task(i).Status() == TaskOpen {
			if g := b.Grant(checker, 1, t0, time.Minute, trust); len(g) != 1 || g[0].Task != i {
				t.Fatalf("the check of task %d was not granted", i)
			}
			b.AddResult(rec(b, i, checker, fmt.Sprint("ok", i)))
		}
	}
	// With CV=100 the single share is min(1-1/100, 0.95) = 95%: the rest stays checked.
	if single < 900 || single > 980 {
		t.Fatalf("%d of 1000 tasks ran single for a trusted peer, want about 950", single)
	}
	if d, f := b.Counts(); d != 1000 || f != 0 {
		t.Fatalf("done %d failed %d", d, f)
	}
	// An untrusted peer never gets a task alone.
	u := adaptiveState(t, 100)
	for range 100 {
		for _, g := range u.Grant(untrusted, 1, t0, time.Minute, trust) {
			if u.Task(g.Task).Single {
				t.Fatal("an untrusted peer got a single-replica task")
			}
		}
	}
}

func TestReverifyReopensALiarsSingleTasks(t *testing.T) {
	w, _ := testPeers(t, 3)
	liar, honest := w[0], w[1]
	trust := func(p peer.ID) int {
		if p == liar {
			return 1000 // it earned trust, then turned
		}
		return 0
	}
	b := adaptiveState(t, 50)
	var singles []int
	for range 50 {
		g := b.Grant(liar, 1, t0, time.Minute, trust)
		if len(g) == 0 {
			break
		}
		i := g[0].Task
		b.AddResult(rec(b, i, liar, "a lie"))
		if b.Task(i).Single {
			singles = append(singles, i)
		}
	}
	if len(singles) == 0 {
		t.Fatal("no single tasks")
	}
	// Caught on a sampled check: everything it vouched for alone reopens.
	reopened := b.Reverify(liar)
	if fmt.Sprint(reopened) != fmt.Sprint(singles) {
		t.Fatalf("reopened %v, want %v", reopened, singles)
	}
	for _, i := range singles {
		if b.Task(i).Status() != TaskOpen {
			t.Fatalf("task %d still %v", i, b.Task(i).Status())
		}
	}
	// Honest checks outvote the lie.
	for range 200 {
		g := b.Grant(honest, 1, t0, time.Minute, trust)
		if len(g) == 0 {
			break
		}
		b.AddResult(rec(b, g[0].Task, honest, fmt.Sprint("truth", g[0].Task)))
	}
	w3 := w[2]
	for range 200 {
		g := b.Grant(w3, 1, t0, time.Minute, trust)
		if len(g) == 0 {
			break
		}
		b.AddResult(rec(b, g[0].Task, w3, fmt.Sprint("truth", g[0].Task)))
	}
	for _, i := range singles {
		out, ok := b.Task(i).Accepted()
		if !ok || !out.Equals(ContentID([]byte(fmt.Sprint("truth", i)))) {
			t.Fatalf("task %d: accepted %v %v, want the truth", i, out, ok)
		}
	}
}

func TestMaxLeasesPerWorker(t *testing.T) {
	w, _ := testPeers(t, 2)
	b := newState(t, 100, 1, 3)
	b.MaxPerWorker = 4
	if g := b.Grant(w[0], 64, t0, time.Minute, nil); len(g) != 4 {
		t.Fatalf("a hoarder got %d leases, want the bound of 4", len(g))
	}
	if g := b.Grant(w[0], 64, t0, time.Minute, nil); len(g) != 0 {
		t.Fatalf("a hoarder asking again got %d more", len(g))
	}
	if g := b.Grant(w[1], 2, t0, time.Minute, nil); len(g) != 2 {
		t.Fatalf("another worker got %d leases, want 2", len(g))
	}
}
