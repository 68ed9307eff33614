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
			if err != nil {
				return apiErr(err)
			}
			return printOut(cmd, st, func(p *printer) { printStatus(p, st) })
		},
	}
}

func printStatus(p *printer, st node.BatchStatus) {
	p.f("batch %s (%s): %s", st.BatchID, st.Name, st.State)
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
	if len(st.FailedTasks) > 0 {
		p.f("  failed tasks %v", st.FailedTasks)
	}
	if st.Refused != "" {
		p.f("  refused     this node takes none of its tasks: %s", st.Refused)
	}
}

// waitBatch polls a batch until it is no longer running, with a progress bar on a terminal.
func waitBatch(ctx context.Context, cmd *cli.Command, c *node.Client, id string) (node.BatchStatus, error) {
	var bar *progressbar.ProgressBar
	show := !cmd.Bool(flagJSON) && term.IsTerminal(int(os.Stderr.Fd()))
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	failures := 0
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
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-t.C:
		}
	}
}
