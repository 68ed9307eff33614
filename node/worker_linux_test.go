package node

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"allforone/tasks/runner"
	"allforone/tasks/wasmtest"

	"github.com/ipfs/go-cid"
)

// submitModule submits a batch of n tasks of module, each run once (R=1).
func submitModule(t *testing.T, ctx context.Context, sub *Node, name string, module []byte, n int64) cid.Cid {
	t.Helper()
	return submitTasks(t, ctx, sub, name, module, n, 1)
}

// A pause by the schedule suspends a running task (its runner is stopped by the kernel and
// uses no CPU) and the end of the pause resumes it: it finishes with its normal output.
func TestPauseSuspendsAndResumesTask(t *testing.T) {
	n := newTestNode(t)
	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancel()
	id := submitModule(t, ctx, n, "spin", wasmtest.Spin(1_000_000_000), 1)
	var pid int
	var base runner.ProcStat
	deadlineFor(t, ctx, "a runner running the task", func() bool {
		for _, p := range n.RunnerPids() {
			st, err := runner.ReadProcStat(p)
			if err == nil && base.CPU == 0 {
				pid, base = p, st
			} else if err == nil && p == pid && st.CPU > base.CPU {
				return true
			}
		}
		return false
	})
	// Compute only in two hours' time: that pauses now.
	later := time.Now().Add(2 * time.Hour)
	p := n.Prefs()
	p.Schedule = fmt.Sprintf("%s-%s", later.Format("15:04"), later.Add(time.Hour).Format("15:04"))
	if err := n.SetPrefs(p); err != nil {
		t.Fatal(err)
	}
	deadlineFor(t, ctx, "the runner stopped", func() bool { st, _ := runner.ReadProcStat(pid); return st.State == 'T' })
	stopped, _ := runner.ReadProcStat(pid)
	time.Sleep(300 * time.Millisecond) // a span in which a running task would use CPU
	if st, _ := runner.ReadProcStat(pid); st.CPU != stopped.CPU || st.State != 'T' {
		t.Fatalf("suspended runner: CPU %s -> %s, state %c", stopped.CPU, st.CPU, st.State)
	}
	if st, err := n.Status(ctx, id); err != nil || st.Done != 0 || st.Running != 1 {
		t.Fatalf("status while suspended: %+v %v; want the task running (leased), not done", st, err)
	}
	var said bool
	for _, r := range n.Why().Reasons {
		said = said || (r.Code == "paused" && strings.Contains(r.Reason, "running tasks are suspended"))
	}
	if !said {
		t.Errorf("why does not say the task is suspended: %+v", n.Why())
	}
	p.Schedule = ""
	if err := n.SetPrefs(p); err != nil {
		t.Fatal(err)
	}
	deadlineFor(t, ctx, "the task done", func() bool { st, err := n.Status(ctx, id); return err == nil && st.Done == 1 })
	var out []byte
	deadlineFor(t, ctx, "the result stored", func() bool { // it goes to its holder (here) after acceptance
		var err error
		out, err = n.ResultOutput(ctx, id, 0)
		return err == nil
	})
	if string(out) != "spun\n" {
		t.Fatalf("output %q, want spun", out)
	}
	if pids := n.RunnerPids(); len(pids) != 1 || pids[0] != pid {
		t.Errorf("runners %v, want %d: the suspended runner finished the task", pids, pid)
	}
}

// A module over the compile budget is refused for its whole batch: the task fails with the
// reason, status and why say so, and the worker stops trying the batch.
func TestCompileBombRefusedForBatch(t *testing.T) {
	cfg := TestConfig(filepath.Join(t.TempDir(), "n"))
	cfg.CompileBudget = Duration(300 * time.Millisecond)
	n := startTestNode(t, cfg, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	id := submitModule(t, ctx, n, "bomb", wasmtest.DeepNesting(100_000), 5)
	var st BatchStatus
	deadlineFor(t, ctx, "the batch refused", func() bool {
		var err error
		st, err = n.Status(ctx, id)
		return err == nil && st.Refused != ""
	})
	if !strings.Contains(st.Refused, "compile budget of 300ms") {
		t.Errorf("refused: %q, want the compile budget", st.Refused)
	}
	var refused bool
	for _, r := range n.Why().Reasons {
		refused = refused || (r.Code == "refused" && strings.Contains(r.Reason, "bomb"))
	}
	if !refused {
		t.Errorf("why does not say the batch is refused: %+v", n.Why())
	}
	// The tasks it had leased when the budget ran out (one per slot at most) fail with the
	// reason; then it takes no more.
	deadlineFor(t, ctx, "the leased tasks failed", func() bool { st, _ = n.Status(ctx, id); return st.Executions > 0 && st.Running == 0 })
	if st.Executions > cfg.Slots {
		t.Fatalf("%d executions of a refused module on %d slots", st.Executions, cfg.Slots)
	}
	time.Sleep(time.Second) // the worker would take the next task within this span
	if later, _ := n.Status(ctx, id); later.Executions != st.Executions || later.Running != 0 {
		t.Fatalf("status a second later: %+v; want still %d executions and no task running", later, st.Executions)
	}
}
