package testnet

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"allforone/node"
	"allforone/tasks"
	taskrunner "allforone/tasks/runner"
	"allforone/tasks/wasmtest"
)

// childRunners lists the runner processes whose parent is pid.
func childRunners(pid int) []int {
	var out []int
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		b, err := os.ReadFile(d + "/stat")
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(b), ')')
		f := strings.Fields(string(b)[i+1:])
		if len(f) < 2 || f[1] != strconv.Itoa(pid) {
			continue
		}
		if cmd, _ := os.ReadFile(d + "/cmdline"); strings.Contains(string(cmd), taskrunner.Arg) {
			child, _ := strconv.Atoi(filepath.Base(d))
			out = append(out, child)
		}
	}
	return out
}

// A daemon runs its tasks in runner processes at idle priority (read back from the kernel:
// nice 19, SCHED_IDLE), and a daemon killed with SIGKILL leaves no runner behind.
func TestDaemonRunnersIdleAndNoOrphans(t *testing.T) {
	h := startHarness(t, HarnessConfig{N: 1})
	ctx := deadline(t, 60*time.Second)
	c, err := h.Proc(0).Client()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Submit(ctx, node.SubmitRequest{
		Name: "loops", Module: wasmtest.Loop(),
		Inputs:      []node.SubmitInput{{Range: &tasks.Range{Start: 0, End: 4}}},
		MemoryPages: 16, TimeoutMS: 60_000, MaxOutputBytes: 1 << 10, Redundancy: 1, Replication: 1,
	}); err != nil {
		t.Fatal(err)
	}
	daemon := h.Proc(0).Pid()
	var runners []int
	for ctx.Err() == nil {
		if runners = childRunners(daemon); len(runners) > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(runners) == 0 {
		t.Fatal("the daemon started no runner")
	}
	for _, pid := range runners {
		// Read it once the runner runs its task (it lowers its priority before it answers).
		var st taskrunner.ProcStat
		for st.CPU < 100*time.Millisecond && ctx.Err() == nil {
			if st, err = taskrunner.ReadProcStat(pid); err != nil {
				t.Fatal(err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if st.Nice != 19 || st.Policy != 5 {
			t.Errorf("runner %d at nice %d, policy %d; want nice 19 and SCHED_IDLE (5)", pid, st.Nice, st.Policy)
		}
	}
	h.Kill(0)
	for _, pid := range runners {
		for {
			st, err := taskrunner.ReadProcStat(pid)
			if err != nil || st.State == 'Z' {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("runner %d still runs (%c) after its daemon was killed", pid, st.State)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}
