package node

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// procCPU reads /proc/stat (the machine) and /proc/self/stat (this process); both count
// in clock ticks (USER_HZ). children, when set, is the CPU time of the node's task
// runners, which count as the node's own.
type procCPU struct {
	children func() time.Duration
}

func (p procCPU) read() (cpuSample, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuSample{}, fmt.Errorf("%w: %v", errNoCPUStats, err)
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	fields := strings.Fields(string(line))
	if len(fields) < 5 || fields[0] != "cpu" {
		return cpuSample{}, fmt.Errorf("%w: /proc/stat starts with %q", errNoCPUStats, line)
	}
	var s cpuSample
	// user nice system idle iowait irq softirq steal (guest time is already in user)
	for i, f := range fields[1:min(len(fields), 9)] {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return cpuSample{}, fmt.Errorf("%w: /proc/stat: %v", errNoCPUStats, err)
		}
		s.total += v
		if i == 3 || i == 4 { // idle, iowait
			s.idle += v
		}
	}
	self, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return cpuSample{}, fmt.Errorf("%w: %v", errNoCPUStats, err)
	}
	// The command name is in parentheses and may hold spaces: count fields after ')'.
	i := bytes.LastIndexByte(self, ')')
	if i < 0 {
		return cpuSample{}, fmt.Errorf("%w: /proc/self/stat has no command name", errNoCPUStats)
	}
	rest := strings.Fields(string(self[i+1:]))
	// rest[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(rest) < 13 {
		return cpuSample{}, fmt.Errorf("%w: /proc/self/stat is short", errNoCPUStats)
	}
	for _, f := range rest[11:13] {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return cpuSample{}, fmt.Errorf("%w: /proc/self/stat: %v", errNoCPUStats, err)
		}
		s.self += v
	}
	if p.children != nil {
		s.self += uint64(p.children() / (10 * time.Millisecond)) // USER_HZ is 100
	}
	return s, nil
}
