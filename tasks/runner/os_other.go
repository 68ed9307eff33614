//go:build !unix && !windows

package runner

import (
	"os"
	"syscall"
	"time"

	"allforone/tasks"
)

func sysProcAttr() *syscall.SysProcAttr { return nil }
func readCPU(int) (time.Duration, bool) { return 0, false }
func readRSS(int) (uint64, bool)        { return 0, false }
func suspendProcess(*os.Process) error  { return tasks.ErrNoSuspend }
func resumeProcess(*os.Process) error   { return nil }
func setIdlePriority() error            { return nil }
