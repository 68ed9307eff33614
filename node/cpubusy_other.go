//go:build !linux

package node

import "time"

// procCPU has no counters outside Linux yet: the node never pauses for CPU there.
type procCPU struct {
	children func() time.Duration
}

func (procCPU) read() (cpuSample, error) { return cpuSample{}, errNoCPUStats }
