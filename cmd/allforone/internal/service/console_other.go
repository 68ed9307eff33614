//go:build !windows

package service

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

// DetachConsole does nothing outside Windows.
func DetachConsole() {}

// startDetached starts cmd.
func startDetached(cmd *exec.Cmd) error { return cmd.Start() }

// interrupt asks the daemon to stop gracefully, with SIGTERM.
func interrupt(p *os.Process) error {
	if p == nil {
		return fmt.Errorf("interrupt: %w", errNoProcess)
	}
	return p.Signal(syscall.SIGTERM)
}
