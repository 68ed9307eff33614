package tasks

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// failed is worker's signed-looking record of a failed execution of task i.
func failed(b *BatchState, i int, worker peer.ID, recordError string) ResultRecord {
	r := rec(b, i, worker, "")
	r.Error = recordError
	return r
}

// The failure quorum: the same deterministic failure from enough distinct executors fails a
// task at once; one executor's word never does; timeouts, "error" and "exit" without its
// code are no votes and run to max replicas.
func TestFailureQuorum(t *testing.T) {
	a, b := ContentID([]byte("a")), ContentID([]byte("b"))
	n := 0
	next := func() peer.ID { n++; return peer.ID(fmt.Sprint("peer", n)) }
	fail := func(e string) ResultRecord { return ResultRecord{Error: e, Executor: next()} }
	won := func(c ResultRecord) ResultRecord { c.Executor = next(); return c }
	ra, rb := ResultRecord{Output: a}, ResultRecord{Output: b}
	same := next()
	cases := []struct {
		name    string
		results []ResultRecord
		r, max  int
		want    TaskStatus
	}{
		{"R=2 one exit", []ResultRecord{fail("exit:3")}, 2, 4, TaskOpen},
		{"R=2 two same exits", []ResultRecord{fail("exit:3"), fail("exit:3")}, 2, 4, TaskFailed},
		{"R=2 two exit codes", []ResultRecord{fail("exit:3"), fail("exit:4")}, 2, 4, TaskOpen},
		{"R=2 exit codes at max", []ResultRecord{fail("exit:3"), fail("exit:4"), fail("exit:5"), fail("exit:6")}, 2, 4, TaskFailed},
		{"R=2 two traps", []ResultRecord{fail("trap"), fail("trap")}, 2, 4, TaskFailed},
		{"R=2 two memory", []ResultRecord{fail("memory"), fail("memory")}, 2, 4, TaskFailed},
		{"R=2 two output", []ResultRecord{fail("output"), fail("output")}, 2, 4, TaskFailed},
		{"R=2 two invalid", []ResultRecord{fail("invalid"), fail("invalid")}, 2, 4, TaskFailed},
		{"R=2 two timeouts", []ResultRecord{fail("timeout"), fail("timeout")}, 2, 4, TaskOpen},
		{"R=2 three timeouts", []ResultRecord{fail("timeout"), fail("timeout"), fail("timeout")}, 2, 4, TaskOpen},
		{"R=2 timeouts at max", []ResultRecord{fail("timeout"), fail("timeout"), fail("timeout"), fail("timeout")}, 2, 4, TaskFailed},
		{"R=2 two errors", []ResultRecord{fail("error"), fail("error")}, 2, 4, TaskOpen},
		{"R=2 old exits without code", []ResultRecord{fail("exit"), fail("exit")}, 2, 4, TaskOpen},
		{"R=2 trap and output", []ResultRecord{fail("trap"), won(ra)}, 2, 4, TaskOpen},
		{"R=2 one liar's trap, two outputs", []ResultRecord{fail("trap"), won(ra), won(ra)}, 2, 4, TaskAccepted},
		{"R=2 one liar's output, two traps", []ResultRecord{won(rb), fail("trap"), fail("trap")}, 2, 4, TaskFailed},
		{"R=2 tie of trap and output", []ResultRecord{fail("trap"), won(ra), fail("trap"), won(ra)}, 2, 6, TaskOpen},
		{"R=2 one peer twice", []ResultRecord{{Error: "trap", Executor: same}, {Error: "trap", Executor: same}}, 2, 4, TaskOpen},
		{"R=1 one exit is not enough", []ResultRecord{fail("exit:1")}, 1, 3, TaskOpen},
		{"R=1 two exits", []ResultRecord{fail("exit:1"), fail("exit:1")}, 1, 3, TaskFailed},
		{"R=3 two of three", []ResultRecord{fail("exit:3"), won(ra), fail("exit:3")}, 3, 5, TaskFailed},
		{"R=3 output wins", []ResultRecord{won(ra), fail("exit:3"), won(ra)}, 3, 5, TaskAccepted},
		{"R=5 two are not a majority", []ResultRecord{fail("trap"), fail("trap")}, 5, 7, TaskOpen},
		{"R=5 three are", []ResultRecord{fail("trap"), fail("trap"), fail("trap")}, 5, 7, TaskFailed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if st, _ := Quorum(tc.results, tc.r, tc.max); st != tc.want {
				t.Fatalf("Quorum = %v, want %v", st, tc.want)
			}
		})
	}
}

// A task whose module exits 3 fails after its first two executions, not R+2: the third and
// fourth replicas are never granted.
func TestDeterministicFailureStopsAfterTwo(t *testing.T) {
	w, _ := testPeers(t, 4)
	b := newState(t, 1, 2, 4)
	if g := b.Grant(w[0], 1, t0, time.Minute, nil); len(g) != 1 {
		t.Fatal("no lease for the first worker")
	}
	b.Grant(w[1], 1, t0, time.Minute, nil)
	b.AddResult(failed(b, 0, w[0], "exit:3"))
	b.AddNote(0, FailureNote{Executor: w[0], Detail: "task exited with code 3", Stderr: "bad input\n"})
	if c := b.AddResult(failed(b, 0, w[1], "exit:3")); !c.Failed {
		t.Fatalf("two executors exited 3 and the task is %v", b.Task(0).Status())
	}
	if g := b.Grant(w[2], 1, t0, time.Minute, nil); len(g) != 0 {
		t.Fatal("a third replica of a task that failed the same way twice")
	}
	s := b.Summary(t0, func(peer.ID) bool { return true })
	if s.Executions != 2 || s.State != BatchFailed || len(s.Failures) != 1 {
		t.Fatalf("summary %+v", s)
	}
	f := s.Failures[0]
	if f.Task != 0 || f.Error != "exit:3" || f.Executions != 2 || f.Agreeing != 2 || f.Note.Stderr != "bad input\n" || f.Note.Detail != "task exited with code 3" {
		t.Fatalf("failure %+v", f)
	}
}

// Timeouts depend on the machine: a task that times out everywhere still runs max replicas.
func TestTimeoutsRunToMaxReplicas(t *testing.T) {
	w, _ := testPeers(t, 5)
	b := newState(t, 1, 2, 4)
	for i := range 4 {
		if g := b.Grant(w[i], 1, t0, time.Minute, nil); len(g) != 1 {
			t.Fatalf("execution %d not granted after %d timeouts", i+1, i)
		}
		b.AddResult(failed(b, 0, w[i], "timeout"))
	}
	if b.Task(0).Status() != TaskFailed {
		t.Fatalf("four timeouts at max 4: %v", b.Task(0).Status())
	}
	if f := b.Failure(0); f.Error != "timeout" || f.Executions != 4 || f.Agreeing != 4 || f.Note != (FailureNote{}) {
		t.Fatalf("failure %+v", f)
	}
}

// One lying executor's failure never fails a task, whatever R; with R=1 it costs one more
// execution.
func TestOneFailureClaimNeverFailsATask(t *testing.T) {
	w, _ := testPeers(t, 3)
	for _, r := range []uint32{1, 2, 3} {
		b := newState(t, 1, r, r+2)
		b.Grant(w[0], 1, t0, time.Minute, nil)
		if c := b.AddResult(failed(b, 0, w[0], "trap")); c.Failed {
			t.Fatalf("R=%d: one trap failed the task", r)
		}
		for _, p := range w[1:] {
			b.Grant(p, 1, t0, time.Minute, nil)
			b.AddResult(rec(b, 0, p, "good"))
		}
		if b.Task(0).Status() != TaskAccepted {
			t.Fatalf("R=%d: honest outputs after a lie: %v", r, b.Task(0).Status())
		}
	}
}

// Notes: one per executor, only for its failed record; merged between stewards; carried
// over the wire cut to their bounds.
func TestFailureNotes(t *testing.T) {
	w, keys := testPeers(t, 3)
	a, c := newState(t, 2, 2, 4), newState(t, 2, 2, 4)
	signed := func(r ResultRecord, k int) ResultRecord {
		if err := r.Sign(keys[k]); err != nil {
			t.Fatal(err)
		}
		return r
	}
	for _, s := range []*BatchState{a, c} {
		s.Grant(w[0], 2, t0, time.Minute, nil)
		s.Grant(w[1], 2, t0, time.Minute, nil)
	}
	a.AddResult(signed(failed(a, 0, w[0], "trap"), 0))
	a.AddResult(signed(rec(a, 0, w[1], "fine"), 1))
	long := FailureNote{Executor: w[0], Detail: strings.Repeat("d", 1000), Stderr: "é" + strings.Repeat("s", 2000) + "END"}
	if !a.AddNote(0, long) {
		t.Fatal("the note of a failed record was refused")
	}
	if a.AddNote(0, FailureNote{Executor: w[0], Detail: "again"}) {
		t.Error("a second note from the same executor was kept")
	}
	if a.AddNote(0, FailureNote{Executor: w[1], Detail: "not a failure"}) {
		t.Error("a note for a successful record was kept")
	}
	if a.AddNote(0, FailureNote{Executor: w[2], Detail: "no record"}) {
		t.Error("a note from a peer without a record was kept")
	}
	n, _ := a.Task(0).NoteBy(w[0])
	if len(n.Detail) != MaxFailureDetail || len(n.Stderr) != MaxFailureStderr || !strings.HasSuffix(n.Stderr, "END") {
		t.Fatalf("note not cut to its bounds: %d detail bytes, %d stderr bytes", len(n.Detail), len(n.Stderr))
	}
	i, ts, err := c.TaskStateFromPB(a.TaskStateToPB(0))
	if err != nil {
		t.Fatal(err)
	}
	c.Merge(i, ts)
	if got, ok := c.Task(0).NoteBy(w[0]); !ok || got != n {
		t.Fatalf("merged note %+v, want %+v", got, n)
	}
}

// The failure kinds of the executor's errors, as records say them.
func TestRecordError(t *testing.T) {
	cases := []struct {
		err  error
		want string
		det  bool
	}{
		{&TaskError{Kind: ErrExitCode, ExitCode: 3}, "exit:3", true},
		{&TaskError{Kind: ErrTrap}, "trap", true},
		{&TaskError{Kind: ErrMemoryLimit, ExitCode: 2}, "memory", true},
		{&TaskError{Kind: ErrOutputTooLarge}, "output", true},
		{&TaskError{Kind: ErrInvalidModule}, "invalid", true},
		{&TaskError{Kind: ErrTimeout}, "timeout", false},
		{errors.New("disk on fire"), "error", false},
	}
	for _, tc := range cases {
		if got := RecordError(tc.err); got != tc.want || Deterministic(got) != tc.det {
			t.Errorf("RecordError(%v) = %q (deterministic %v), want %q (%v)", tc.err, got, Deterministic(got), tc.want, tc.det)
		}
	}
	for _, s := range []string{"exit", "exit:0", "exit:x", "trap:extra", ""} {
		if Deterministic(s) {
			t.Errorf("%q counts as deterministic", s)
		}
	}
	if k, code, ok := ParseRecordError("exit:42"); k != "exit" || code != 42 || !ok {
		t.Errorf("ParseRecordError(exit:42) = %q %d %v", k, code, ok)
	}
}

// Exhausted: an open task that every able peer ran, with no lease on it, can only wait for
// more peers; one that some able peer has not run, or that is leased, is not.
func TestExhausted(t *testing.T) {
	w, _ := testPeers(t, 4)
	b := newState(t, 2, 2, 4)
	all := func(peer.ID) bool { return true }
	for _, p := range w[:3] {
		b.Grant(p, 2, t0, time.Minute, nil)
		b.AddResult(failed(b, 0, p, "timeout"))
	}
	// Task 1 is still leased to the three of them.
	if got := b.Exhausted(t0, all, 3); got != 1 {
		t.Fatalf("3 able peers ran task 0: %d exhausted, want 1", got)
	}
	if got := b.Exhausted(t0, all, 4); got != 0 {
		t.Fatalf("a fourth able peer has not run it: %d exhausted", got)
	}
	notW0 := func(p peer.ID) bool { return p != w[0] }
	if got := b.Exhausted(t0, notW0, 2); got != 1 {
		t.Fatalf("the 2 able peers ran it: %d exhausted", got)
	}
	if got := b.Exhausted(t0.Add(time.Hour), all, 3); got != 1 {
		t.Fatalf("task 1's leases expired, nobody ran it: %d exhausted, want 1", got)
	}
	if got := b.Exhausted(t0, all, 0); got != 0 {
		t.Fatalf("no able peer: %d exhausted", got)
	}
}
