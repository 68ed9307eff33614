package service

import (
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
)

var procFreeConsole = windows.NewLazySystemDLL("kernel32.dll").NewProc("FreeConsole")

// DetachConsole lets go of the console window that Windows opened for the scheduled task,
// so that the supervisor runs out of sight.
func DetachConsole() { procFreeConsole.Call() }

// killOnExit is a job object that kills its processes when its last handle closes: when
// the supervisor ends, even by TerminateProcess (schtasks /End), the daemon ends with it.
var killOnExit = sync.OnceValues(func() (windows.Handle, error) {
	job, err := windows.CreateJobObject(nil, nil)
	if err != nil {
		return 0, err
	}
	info := windows.JOBOBJECT_EXTENDED_LIMIT_INFORMATION{}
	info.BasicLimitInformation.LimitFlags = windows.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
	if _, err := windows.SetInformationJobObject(job, windows.JobObjectExtendedLimitInformation,
		uintptr(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info))); err != nil {
		windows.CloseHandle(job)
		return 0, err
	}
	return job, nil
})

// startDetached starts cmd without a console window, in the supervisor's job.
func startDetached(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{HideWindow: true, CreationFlags: windows.CREATE_NO_WINDOW}
	if err := cmd.Start(); err != nil {
		return err
	}
	job, err := killOnExit()
	if err != nil {
		return nil // the daemon runs; it may outlive a killed supervisor
	}
	h, err := windows.OpenProcess(windows.PROCESS_SET_QUOTA|windows.PROCESS_TERMINATE, false, uint32(cmd.Process.Pid))
	if err != nil {
		return nil
	}
	defer windows.CloseHandle(h)
	windows.AssignProcessToJobObject(job, h)
	return nil
}

// interrupt stops the daemon. Windows has no SIGTERM for a process without a console, so
// it is killed; the data dir is built to survive that.
func interrupt(p *os.Process) error {
	if p == nil {
		return fmt.Errorf("interrupt: %w", errNoProcess)
	}
	return p.Kill()
}
