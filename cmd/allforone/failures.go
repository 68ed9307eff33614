package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"allforone/node"
	"allforone/tasks"
)

// How status, submit --wait and results tell why tasks failed and why a batch waits.

// failuresShown is how many failed tasks the text output lists before "and N more".
const failuresShown = 5

// failureLine is one failed task in one line: "task 3 (c.txt): exit code 3: ... [2 of 2
// executions]".
func failureLine(f node.TaskFailure) string {
	name := ""
	if f.Name != "" {
		name = " (" + f.Name + ")"
	}
	return fmt.Sprintf("task %d%s: %s [%d of %d executions]", f.Task, name, f.Error(), f.Agreeing, f.Executions)
}

// printFailures lists the first failed tasks of st, then how many more there are.
func printFailures(p *printer, st node.BatchStatus) {
	for i, f := range st.Failures {
		if i == failuresShown {
			break
		}
		p.f("    %s", failureLine(f))
	}
	if more := st.Failed - min(len(st.Failures), failuresShown); more > 0 {
		p.f("    and %d more (`allforone status %s --json` lists them)", more, st.BatchID)
	}
}

// printWaiting prints why a batch cannot progress, if it cannot.
func printWaiting(p *printer, st node.BatchStatus) {
	for _, w := range st.Waiting {
		p.f("  %s", w.Reason)
		p.f("    fix: %s", w.Fix)
	}
}

// failedSummary says in one line how many tasks failed and why the first did.
func failedSummary(st node.BatchStatus) string {
	s := fmt.Sprintf("%d of %d tasks failed", st.Failed, st.Total)
	if len(st.Failures) > 0 {
		s += ": " + failureLine(st.Failures[0])
		if st.Failed > 1 {
			s += fmt.Sprintf("; and %d more", st.Failed-1)
		}
	} else if len(st.FailedTasks) > 0 {
		s += fmt.Sprintf(": tasks %v", truncate(st.FailedTasks, 20))
	}
	return s
}

// missingError explains the results a fetch did not find: failed tasks with why, then
// the rest (not decided yet, or their holders are offline).
func missingError(st node.BatchStatus, total int, missing []int) error {
	failed := make(map[int]bool, len(st.FailedTasks))
	for _, t := range st.FailedTasks {
		failed[t] = true
	}
	var parts []string
	nFailed := 0
	var rest []int
	for _, t := range missing {
		if failed[t] {
			nFailed++
		} else {
			rest = append(rest, t)
		}
	}
	if nFailed > 0 {
		s := fmt.Sprintf("%d of %d tasks failed", nFailed, total)
		shown := 0
		for _, f := range st.Failures {
			if shown == failuresShown {
				break
			}
			if slices.Contains(missing, f.Task) {
				s += "\n  " + failureLine(f)
				shown++
			}
		}
		if nFailed > shown {
			s += fmt.Sprintf("\n  and %d more (`allforone status %s --json` lists them)", nFailed-shown, st.BatchID)
		}
		parts = append(parts, s)
	}
	if len(rest) > 0 {
		why := "not accepted yet, or their holders are offline"
		if st.State == tasks.BatchRunning {
			why = "not accepted yet: the batch is still running"
			if len(st.Waiting) > 0 {
				why += "; " + st.Waiting[0].Reason
			}
		}
		parts = append(parts, fmt.Sprintf("%d of %d results are not available (%s): tasks %v", len(rest), total, why, truncate(rest, 20)))
	}
	return fmt.Errorf("%s", strings.Join(parts, "\n"))
}

// stalledError ends a wait for a batch that cannot progress.
type stalledError struct {
	st    node.BatchStatus
	after time.Duration
}

func (e stalledError) Error() string {
	w := e.st.Waiting[0]
	return fmt.Sprintf("batch %s cannot progress, and no task finished for %s: %s; %s (the batch stays with the swarm until its deadline: `allforone status %s` follows it)",
		e.st.BatchID, e.after, strings.TrimPrefix(w.Reason, "waiting: "), w.Fix, e.st.BatchID)
}
