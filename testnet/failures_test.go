package testnet

import (
	"strings"
	"testing"
	"time"

	"allforone/node"
	"allforone/tasks"
	"allforone/tasks/wasmtest"

	"github.com/ipfs/go-cid"
)

// Why tasks failed reaches every node's status: the kind, the exit code, the executor's
// detail and its stderr tail, and the output name on the submitter. A task that exits 3
// (or traps) on two executors fails after those two executions, not R+2. A task that times
// out everywhere runs on every peer and then waits for more, and the status says so.
func TestFailureKindsReachStatus(t *testing.T) {
	c := startCluster(t, ClusterConfig{N: 3})
	ctx := deadline(t, 90*time.Second)
	if err := c.WaitAllKnown(ctx); err != nil {
		t.Fatal(err)
	}
	submit := func(name string, module []byte, inputs []string, timeoutMS uint64) cid.Cid {
		t.Helper()
		req := node.SubmitRequest{Name: name, Module: module, MemoryPages: 16, TimeoutMS: timeoutMS,
			MaxOutputBytes: 1 << 10, Redundancy: 2, Replication: 1}
		for _, in := range inputs {
			req.Inputs = append(req.Inputs, node.SubmitInput{Name: in, Data: []byte(in)})
		}
		res, err := c.Node(0).Submit(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := cid.Decode(res.BatchID)
		return id
	}
	exits := submit("exits", wasmtest.Complain("parse: want two numbers\n", 3), []string{"a.txt", "b.txt", "c.txt"}, 10_000)
	traps := submit("traps", wasmtest.Complain("about to fall over\n", 0), []string{"x"}, 10_000)
	loops := submit("loops", wasmtest.Loop(), []string{"forever"}, 300)

	st := waitDone(ctx, t, c.Node(0), exits)
	if st.State != tasks.BatchFailed || st.Failed != 3 || len(st.Failures) != 3 {
		t.Fatalf("exits: %+v", st)
	}
	if st.Executions != 6 {
		t.Errorf("exits: %d executions for 3 tasks that exit 3 with R=2, want 6 (two each)", st.Executions)
	}
	for i, f := range st.Failures {
		if f.Task != i || f.Kind != "exit" || f.ExitCode == nil || *f.ExitCode != 3 || f.Executions != 2 || f.Agreeing != 2 ||
			f.Detail != "task exited with code 3" || f.Stderr != "parse: want two numbers\n" || f.Name != []string{"a.txt", "b.txt", "c.txt"}[i] {
			t.Errorf("exits: failure %d: %+v", i, f)
		}
	}
	if !strings.Contains(st.Failures[0].Error(), "exit code 3: task exited with code 3 (stderr: parse: want two numbers)") {
		t.Errorf("exits: one line: %q", st.Failures[0].Error())
	}
	// The other nodes get it over the wire from the steward (K=1: one steward).
	for i := 1; i < 3; i++ {
		s, err := c.Node(i).Status(ctx, exits)
		if err != nil || len(s.Failures) != 3 || s.Failures[2].Stderr != "parse: want two numbers\n" || *s.Failures[2].ExitCode != 3 {
			t.Errorf("node %d: status %+v, %v", i, s.Failures, err)
		}
	}

	st = waitDone(ctx, t, c.Node(1), traps)
	if len(st.Failures) != 1 || st.Failures[0].Kind != "trap" || !strings.Contains(st.Failures[0].Detail, "unreachable") ||
		st.Failures[0].Stderr != "about to fall over\n" || st.Executions != 2 {
		t.Errorf("traps: %+v", st)
	}

	st = waitReason(ctx, t, c.Node(2), loops, "exhausted")
	if !strings.Contains(st.Waiting[0].Reason, "1 task ran on all 3 peers") || st.Executions != 3 || st.State != tasks.BatchRunning {
		t.Errorf("loops: %+v", st)
	}
}
