//go:build !linux

package operator

import "time"

// ProcCPU has no counters outside Linux yet: the node never pauses for CPU there.
type ProcCPU struct {
	Children func() time.Duration
}

func (ProcCPU) Read() (CPUSample, error) { return CPUSample{}, ErrNoCPUStats }
