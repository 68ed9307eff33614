//go:build !linux

package node

// procCPU has no counters outside Linux yet: the node never pauses for CPU there.
type procCPU struct{}

func (procCPU) read() (cpuSample, error) { return cpuSample{}, errNoCPUStats }
