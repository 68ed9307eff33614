package operator

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// ProcCPU reads /proc/stat (the machine) and /proc/self/stat (this process); both count
// in clock ticks (USER_HZ). Children, when set, is the CPU time of the node's task
// runners, which count as the node's own.
type ProcCPU struct {
	Children func() time.Duration
}

func (p ProcCPU) Read() (CPUSample, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return CPUSample{}, fmt.Errorf("%w: %v", ErrNoCPUStats, err)
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	fields := strings.Fields(string(line))
	if len(fields) < 5 || fields[0] != "cpu" {
		return CPUSample{}, fmt.Errorf("%w: /proc/stat starts with %q", ErrNoCPUStats, line)
	}
	var s CPUSample
	// user nice system idle iowait irq softirq steal (guest time is already in user)
	for i, f := range fields[1:min(len(fields), 9)] {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return CPUSample{}, fmt.Errorf("%w: /proc/stat: %v", ErrNoCPUStats, err)
		}
		s.Total += v
		if i == 3 || i == 4 { // idle, iowait
			s.Idle += v
		}
	}
	self, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return CPUSample{}, fmt.Errorf("%w: %v", ErrNoCPUStats, err)
	}
	// The command name is in parentheses and may hold spaces: count fields after ')'.
	i := bytes.LastIndexByte(self, ')')
	if i < 0 {
		return CPUSample{}, fmt.Errorf("%w: /proc/self/stat has no command name", ErrNoCPUStats)
	}
	rest := strings.Fields(string(self[i+1:]))
	// rest[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(rest) < 13 {
		return CPUSample{}, fmt.Errorf("%w: /proc/self/stat is short", ErrNoCPUStats)
	}
	for _, f := range rest[11:13] {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return CPUSample{}, fmt.Errorf("%w: /proc/self/stat: %v", ErrNoCPUStats, err)
		}
		s.Self += v
	}
	if p.Children != nil {
		s.Self += uint64(p.Children() / (10 * time.Millisecond)) // USER_HZ is 100
	}
	return s, nil
}
