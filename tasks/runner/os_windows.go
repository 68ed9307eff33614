package runner

import (
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/windows"

	"allforone/tasks"
)

// sysProcAttr: Windows has no parent-death signal; the runner's closed-pipe watchdog ends
// it when its node dies.
func sysProcAttr() *syscall.SysProcAttr { return nil }

// readCPU reads a process's user and kernel time with GetProcessTimes.
func readCPU(pid int) (time.Duration, bool) {
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(pid))
	if err != nil {
		return 0, false
	}
	defer windows.CloseHandle(h)
	var created, exited, kernel, user windows.Filetime
	if err := windows.GetProcessTimes(h, &created, &exited, &kernel, &user); err != nil {
		return 0, false
	}
	ticks := func(f windows.Filetime) int64 { return int64(f.HighDateTime)<<32 | int64(f.LowDateTime) }
	return time.Duration(ticks(kernel)+ticks(user)) * 100, true // 100 ns units
}

// readRSS: not measured on Windows yet; the linear memory cap inside the runner holds.
func readRSS(int) (uint64, bool) { return 0, false }

// Windows has no SIGSTOP: running tasks go on while the node pauses (and it takes no new
// ones), as before runners.
func suspendProcess(*os.Process) error { return tasks.ErrNoSuspend }
func resumeProcess(*os.Process) error  { return nil }

// setIdlePriority puts this process in IDLE_PRIORITY_CLASS.
func setIdlePriority() error {
	return windows.SetPriorityClass(windows.CurrentProcess(), windows.IDLE_PRIORITY_CLASS)
}
