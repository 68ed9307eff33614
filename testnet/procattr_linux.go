package testnet

import "syscall"

// childProcAttr makes the kernel kill a daemon when the harness process dies, so a crashed
// test leaves no orphans behind.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
