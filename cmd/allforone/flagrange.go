package main

import (
	"fmt"
	"regexp"
	"strconv"

	"allforone/tasks"
)

// flagRanges are the values numeric flags allow, for people: a value the flag's type cannot
// even hold (--memory 99999999999 in a 32-bit flag) would otherwise only say "value out of
// range", and one it holds but the command refuses says the same range.
var flagRanges = map[string]string{
	flagMemory:                               "1 to " + strconv.Itoa(tasks.MaxMemoryPages/16) + " (MiB)",
	flagMaxOutput:                            "1 to " + strconv.Itoa(tasks.MaxOutputLimit) + " (bytes, 64 MiB)",
	flagReplicas:                             "1 to " + strconv.Itoa(tasks.MaxRedundancy),
	flagKeep:                                 "1 to " + strconv.Itoa(tasks.MaxReplication),
	flagSlots:                                "1 to 1024",
	configFlagName("max_task_memory_mb"):     "1 to 4096 (MiB)",
	configFlagName("prefs.disk_quota_mb"):    "0 (no quota) or a size in MiB",
	configFlagName("prefs.cpu_busy_percent"): "0 (never pause) to 100",
}

// badNumber matches the flag parser's message for a value that is no number of the flag's
// type: invalid value "99999999999" for flag -memory: strconv.ParseUint: ... value out of range.
var badNumber = regexp.MustCompile(`invalid value "([^"]*)" for flag -([A-Za-z0-9-]+): strconv\.Parse(?:Int|Uint|Float)`)

// numberUsage rewrites a flag parser's number error to say what the flag allows; ok is false
// for other errors.
func numberUsage(err error) (string, bool) {
	m := badNumber.FindStringSubmatch(err.Error())
	if m == nil {
		return "", false
	}
	allowed, ok := flagRanges[m[2]]
	if !ok {
		allowed = "a whole number in range"
	}
	return fmt.Sprintf("--%s %s: use %s", m[2], m[1], allowed), true
}

// badEnvNumber matches the message for an environment twin whose value is no number of the
// flag's type.
var badEnvNumber = regexp.MustCompile(`could not parse "([^"]*)" as \w+ value from environment variable "([A-Z0-9_]+)" for flag ([A-Za-z0-9-]+): strconv\.Parse`)

// envNumberUsage turns that error into a usage error that says what the flag allows; other
// errors pass unchanged.
func envNumberUsage(err error) error {
	if err == nil {
		return nil
	}
	m := badEnvNumber.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	allowed, ok := flagRanges[m[3]]
	if !ok {
		allowed = "a whole number in range"
	}
	return usagef("%s=%s (the twin of --%s): use %s", m[2], m[1], m[3], allowed)
}

// checkFlagRange refuses a numeric flag's value outside [lo, hi] with the flag's range.
func checkFlagRange(flag string, v, lo, hi uint64) error {
	if v < lo || v > hi {
		return usagef("--%s %d: use %s", flag, v, flagRanges[flag])
	}
	return nil
}
