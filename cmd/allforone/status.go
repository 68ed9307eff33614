package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"allforone/node"
	"allforone/tasks"

	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v3"
	"golang.org/x/term"
)

func statusCmd() *cli.Command {
	return &cli.Command{
		Name:      "status",
		Usage:     "show a batch's progress",
		ArgsUsage: "BATCH",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: flagWait, Usage: "wait until the batch finishes, showing progress", Sources: env(flagWait)},
			stallFlag(),
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Args().Len() != 1 {
				return usagef("status takes one BATCH ID (from `allforone submit` or `allforone batches`)")
			}
			id := cmd.Args().First()
			c, err := client(cmd)
			if err != nil {
				return err
			}
			var st node.BatchStatus
			if cmd.Bool(flagWait) {
				st, err = waitBatch(ctx, cmd, c, id)
			} else {
				st, err = c.Status(ctx, id)
			}
			var stalled stalledError
			if err != nil && !errors.As(err, &stalled) {
				return apiErr(err)
			}
			if perr := printOut(cmd, st, func(p *printer) { printStatus(p, st) }); perr != nil {
				return perr
			}
			return err
		},
	}
}

func printStatus(p *printer, st node.BatchStatus) {
	label := st.BatchID
	if st.Name != "" { // a batch submitted through the API may have none: no "()"
		label += " (" + st.Name + ")"
	}
	p.f("batch %s: %s", label, st.State)
	p.f("  tasks       %d done, %d failed, %d running, %d total", st.Done, st.Failed, st.Running, st.Total)
	p.f("  executions  %d (R=%d), %d leases reassigned", st.Executions, st.Redundancy, st.Reassigned)
	if st.Done > 0 {
		p.f("  replicas    every accepted result on at least %d live peers (K=%d)", st.MinReplicas, st.Replication)
	}
	for _, ps := range st.Peers {
		wrong := ""
		if ps.Wrong > 0 {
			wrong = fmt.Sprintf(", %d wrong", ps.Wrong)
		}
		p.f("  peer %s  %d done, %d running%s", ps.PeerID, ps.Done, ps.Running, wrong)
	}
	printWaiting(p, st)
	if len(st.FailedTasks) > 0 {
		p.f("  failed tasks %v", truncate(st.FailedTasks, 20))
		printFailures(p, st)
	}
	if st.Refused != "" {
		p.f("  refused     this node takes none of its tasks: %s", st.Refused)
	}
}

// flagStall bounds a wait for a batch that cannot progress.
const flagStall = "stall-timeout"

// defaultStall is how long --wait keeps waiting while the batch's steward says it cannot
// progress and no task finishes: twice the default sync_interval (1m), the time a peer
// that joins takes to learn of running batches, plus time to ask for their tasks. A decline
// reaches the steward within 30 s.
const defaultStall = 2 * time.Minute

func stallFlag() cli.Flag {
	return &cli.DurationFlag{Name: flagStall, Value: defaultStall, Sources: env(flagStall),
		Usage: "with --wait: give up (exit 1) when the batch cannot progress with the peers there are and no task finished for this long; 0 waits until the deadline"}
}

// waitBatch polls a batch until it is no longer running, with a progress bar on a terminal.
func waitBatch(ctx context.Context, cmd *cli.Command, c *node.Client, id string) (node.BatchStatus, error) {
	var bar *progressbar.ProgressBar
	show := !cmd.Bool(flagJSON) && term.IsTerminal(int(os.Stderr.Fd()))
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	failures := 0
	stall := cmd.Duration(flagStall)
	var stuckSince time.Time // since when the batch waits and nothing was decided
	lastDecided, lastReason := -1, ""
	for {
		st, err := c.Status(ctx, id)
		switch {
		case errors.Is(err, node.ErrDaemonNotRunning):
			return st, unavailableError{err}
		case err != nil:
			failures++
			if failures > 40 { // ten seconds without an answer
				return st, err
			}
		default:
			failures = 0
			if show {
				if bar == nil {
					bar = progressbar.NewOptions(st.Total, progressbar.OptionSetWriter(os.Stderr),
						progressbar.OptionSetDescription("tasks"), progressbar.OptionShowCount(),
						progressbar.OptionSetPredictTime(true), progressbar.OptionClearOnFinish())
				}
				bar.Set(st.Done + st.Failed)
			}
			if st.State != tasks.BatchRunning {
				if bar != nil {
					bar.Finish()
				}
				return st, nil
			}
			reason := ""
			if len(st.Waiting) > 0 {
				reason = st.Waiting[0].Reason
			}
			if reason != lastReason && reason != "" && !cmd.Bool(flagJSON) {
				fmt.Fprintf(os.Stderr, "\n%s\n  fix: %s\n", reason, st.Waiting[0].Fix) // at once, and when it changes
			}
			decided := st.Done + st.Failed
			switch {
			case reason == "":
				stuckSince = time.Time{}
			case stuckSince.IsZero() || decided != lastDecided:
				stuckSince = time.Now()
			case stall > 0 && time.Since(stuckSince) >= stall:
				return st, stalledError{st: st, after: stall}
			}
			lastDecided, lastReason = decided, reason
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-t.C:
		}
	}
}
