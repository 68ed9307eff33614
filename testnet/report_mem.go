package testnet

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// procMem is a process's memory as Linux reports it in /proc.
type procMem struct {
	RSSMiB  float64 // resident: counts the binary's shared pages in every process
	AnonMiB float64 // resident anonymous memory: the process's own heap and stacks
	PssMiB  float64 // proportional: shared pages split among the processes sharing them
}

// procMemory reads VmRSS and RssAnon from /proc/<pid>/status and Pss from smaps_rollup.
// The PSS of all daemons adds up to what the testnet costs the machine.
func procMemory(pid int) (procMem, error) {
	var m procMem
	fields := map[string]*float64{"VmRSS": &m.RSSMiB, "RssAnon": &m.AnonMiB, "Pss": &m.PssMiB}
	for _, f := range []string{"status", "smaps_rollup"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, f))
		if err != nil {
			return m, err
		}
		for line := range strings.SplitSeq(string(b), "\n") {
			k, v, ok := strings.Cut(line, ":")
			dst := fields[k]
			if !ok || dst == nil {
				continue
			}
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				return m, fmt.Errorf("/proc/%d/%s: %s: %w", pid, f, k, err)
			}
			*dst = kb / 1024
		}
	}
	return m, nil
}

// clockTick is the unit of utime and stime in /proc/<pid>/stat: USER_HZ, 100 on every Linux
// architecture Go supports.
const clockTick = 10 * time.Millisecond

// procCPU reads a running process's CPU time (user + system) from /proc/<pid>/stat.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces: count from after it.
	_, rest, ok := strings.Cut(string(b), ") ")
	if !ok {
		return 0, errors.New("/proc stat: no command field")
	}
	f := strings.Fields(rest) // f[0] is field 3 (state); utime is field 14, stime 15
	if len(f) < 13 {
		return 0, errors.New("/proc stat: too few fields")
	}
	var ticks int64
	for _, s := range f[11:13] {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += v
	}
	return time.Duration(ticks) * clockTick, nil
}
