package testnet

import (
	"fmt"
	"os"
	"strconv"
	"strings"
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
