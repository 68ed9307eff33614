package runner

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// userHZ is the unit of the CPU times in /proc/<pid>/stat (USER_HZ, 100 on every Linux
// the Go runtime supports).
const userHZ = 100

// sysProcAttr: the kernel kills a runner when the thread that started it dies (the node's
// process, in practice: Go keeps its threads), so no runner outlives a SIGKILLed node.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// ProcStat is what /proc/<pid>/stat says about a process.
type ProcStat struct {
	State  byte          // R running, S sleeping, T stopped, Z zombie, ...
	CPU    time.Duration // user + system time
	Nice   int           // -20..19
	Policy int           // scheduling policy: 0 SCHED_OTHER, 3 SCHED_BATCH, 5 SCHED_IDLE
}

// ReadProcStat reads /proc/<pid>/stat (Linux only).
func ReadProcStat(pid int) (ProcStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ProcStat{}, err
	}
	return parseProcStat(b)
}

func parseProcStat(b []byte) (ProcStat, error) {
	// The command name is in parentheses and may hold anything: count fields after ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return ProcStat{}, errors.New("/proc stat has no command name")
	}
	rest := strings.Fields(string(b[i+1:]))
	// rest[0] is field 3 (state); utime, stime are fields 14, 15; nice 19; policy 41.
	if len(rest) < 39 || len(rest[0]) != 1 {
		return ProcStat{}, fmt.Errorf("/proc stat is short: %d fields", len(rest))
	}
	num := func(k int) int64 {
		v, _ := strconv.ParseInt(rest[k], 10, 64)
		return v
	}
	ticks := num(11) + num(12)
	return ProcStat{State: rest[0][0], CPU: time.Duration(ticks) * (time.Second / userHZ),
		Nice: int(num(16)), Policy: int(num(38))}, nil
}

// readCPU is the CPU time a live process has used.
func readCPU(pid int) (time.Duration, bool) {
	st, err := ReadProcStat(pid)
	return st.CPU, err == nil
}

// readRSS is a process's resident memory, from /proc/<pid>/statm.
func readRSS(pid int) (uint64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/statm", pid))
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize()), err == nil
}

func suspendProcess(p *os.Process) error { return p.Signal(syscall.SIGSTOP) }
func resumeProcess(p *os.Process) error  { return p.Signal(syscall.SIGCONT) }

// setIdlePriority puts every thread of this process at nice 19 and SCHED_IDLE. Linux sets
// both per thread; threads started later inherit them from the thread that starts them. The
// Go runtime may start a thread from one not set yet while this runs, so it goes over the
// threads again until a pass finds none it has not set: a thread started after that was
// started by one already set.
func setIdlePriority() error {
	set := map[int]bool{}
	for range 20 {
		tids, err := filepath.Glob("/proc/self/task/*")
		if err != nil || len(tids) == 0 {
			tids = []string{"0"}
		}
		fresh := 0
		for _, t := range tids {
			tid, _ := strconv.Atoi(filepath.Base(t))
			if set[tid] {
				continue
			}
			set[tid] = true
			fresh++
			if err := unix.Setpriority(unix.PRIO_PROCESS, tid, 19); err != nil && !errors.Is(err, unix.ESRCH) {
				return fmt.Errorf("idle priority: nice 19: %w", err)
			}
			attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_IDLE, Nice: 19}
			if err := unix.SchedSetAttr(tid, &attr, 0); err != nil && !errors.Is(err, unix.ESRCH) {
				return fmt.Errorf("idle priority: SCHED_IDLE: %w", err)
			}
		}
		if fresh == 0 {
			return nil
		}
	}
	return errors.New("idle priority: the process kept starting threads")
}
