package main

import (
	"context"
	"time"

	"allforone/testnet"

	"github.com/urfave/cli/v3"
)

func testnetSoakCmd() *cli.Command {
	return &cli.Command{
		Name:  "soak",
		Usage: "churn a swarm of daemons for M minutes while batches run back to back, then report",
		Description: "Runs the shipped churn scenario for --minutes: every 5 seconds a fifth of the nodes\n" +
			"are killed with SIGKILL and restarted 3 seconds later, and the batch is submitted again\n" +
			"each time it finishes. When the time is up the churn stops, the last batch finishes,\n" +
			"and the report covers every batch. Exits 1 if a task was lost or a result is kept by\n" +
			"fewer than K live nodes.",
		Flags: append(scenarioFlags(),
			&cli.IntFlag{Name: "minutes", Usage: "how long to churn (required)", Required: true, Sources: env("minutes")},
			&cli.IntFlag{Name: "nodes", Value: 10, Usage: "number of nodes", Sources: env("nodes")},
			&cli.IntFlag{Name: "tasks", Value: 500, Usage: "tasks per batch", Sources: env("tasks")},
			&cli.IntFlag{Name: "min-up", Value: 90, Usage: "fail if at any sample fewer than this `PERCENT` of the nodes the churn does not hold down are up", Sources: env("min-up")},
		),
		Action: func(ctx context.Context, cmd *cli.Command) error {
			minutes := cmd.Int("minutes")
			if minutes < 1 || minutes > 24*60 {
				return usagef("--minutes %d: use 1 to 1440", minutes)
			}
			sc, err := testnet.ShippedScenario("churn")
			if err != nil {
				return err
			}
			sc.Name = "soak"
			sc.Nodes = int(cmd.Int("nodes"))
			sc.Batch.Range.End = sc.Batch.Range.Start + int64(cmd.Int("tasks"))
			sc.Duration = testnet.Duration(time.Duration(minutes) * time.Minute)
			sc.Timeout = sc.Duration + testnet.Duration(15*time.Minute)
			up := cmd.Int("min-up")
			if up < 0 || up > 100 {
				return usagef("--min-up %d: a percentage from 0 to 100", up)
			}
			sc.MinUpShare = float64(up) / 100
			if err := sc.Validate(); err != nil {
				return usageError{err}
			}
			return runScenario(ctx, cmd, sc)
		},
	}
}
