//go:build unix && !linux

package runner

import (
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// sysProcAttr: no parent-death signal outside Linux; the runner's closed-pipe watchdog
// ends it when its node dies.
func sysProcAttr() *syscall.SysProcAttr { return nil }

// readCPU: macOS and the BSDs give another process's CPU time only through cgo or
// unexported syscalls, so the pool falls back to wall time (see Config.WallFactor).
func readCPU(int) (time.Duration, bool) { return 0, false }

// readRSS: not measured here; the linear memory cap inside the runner still holds.
func readRSS(int) (uint64, bool) { return 0, false }

func suspendProcess(p *os.Process) error { return p.Signal(syscall.SIGSTOP) }
func resumeProcess(p *os.Process) error  { return p.Signal(syscall.SIGCONT) }

// setIdlePriority: nice 19 for the whole process (macOS applies it to every thread).
func setIdlePriority() error { return unix.Setpriority(unix.PRIO_PROCESS, 0, 19) }
