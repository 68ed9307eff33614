package main

import (
	"context"
	"fmt"
	"time"

	"allforone/testnet/sim"

	"github.com/urfave/cli/v3"
)

func testnetSimulateCmd() *cli.Command {
	return &cli.Command{
		Name:  "simulate",
		Usage: "simulate a swarm too large for this machine, in virtual time, and report",
		Description: "Runs the real placement rule, steward core and work-finding logic on N simulated nodes:\n" +
			"links with latency and loss, Kademlia routing tables and iterative lookups, NATed nodes\n" +
			"that compute but take no role, churn (nodes leave, most come back, some for good) and a\n" +
			"partition that heals. Nothing is sent on any network. The same --seed gives the same\n" +
			"report (but for wall time and memory). Exits 1 if a task was lost or the batches did not\n" +
			"finish within --max-time of virtual time.",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "nodes", Value: 1000, Usage: "simulated nodes (10 to 1,000,000)", Sources: env("nodes")},
			&cli.IntFlag{Name: "batches", Value: 10, Usage: "batches submitted, one every 2 s", Sources: env("batches")},
			&cli.IntFlag{Name: "tasks", Value: 500, Usage: "tasks per batch", Sources: env("tasks")},
			&cli.FloatFlag{Name: "churn", Value: 0.01, Usage: "share of the nodes that leave per virtual `MINUTE` (a tenth of them for good)", Sources: env("churn")},
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "seed of the run", Sources: env("seed")},
			&cli.FloatFlag{Name: "nat", Value: 0.3, Usage: "share of the nodes behind NAT", Sources: env("nat")},
			&cli.DurationFlag{Name: "partition", Value: time.Minute, Usage: "cut a fifth of the nodes off for this long, a minute in (0: no partition)", Sources: env("partition")},
			&cli.IntFlag{Name: "replicas", Value: 1, Usage: "R: executions per task that must agree", Sources: env("replicas")},
			&cli.IntFlag{Name: "replication", Value: 3, Usage: "K: stewards of a batch and holders of each result", Sources: env("replication")},
			&cli.BoolFlag{Name: "primary-leases", Value: true, Usage: "fence each batch's primary with a lease a majority of its stewards voted for (false: a steward's own view makes it primary, the node's default today)", Sources: env("primary-leases")},
			&cli.DurationFlag{Name: "max-time", Value: 2 * time.Hour, Usage: "give up after this much virtual time", Sources: env("max-time")},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			cfg := sim.DefaultConfig(int(cmd.Int("nodes")))
			cfg.Batches, cfg.Tasks = int(cmd.Int("batches")), int(cmd.Int("tasks"))
			cfg.Churn, cfg.Seed, cfg.NAT = cmd.Float("churn"), cmd.Uint64("seed"), cmd.Float("nat")
			cfg.PartitionFor = cmd.Duration("partition")
			cfg.Redundancy, cfg.Replication = int(cmd.Int("replicas")), int(cmd.Int("replication"))
			cfg.MaxTime = cmd.Duration("max-time")
			cfg.PrimaryLeases = cmd.Bool("primary-leases")
			if err := cfg.Validate(); err != nil {
				return usagef("%v", err)
			}
			rep, err := sim.Run(ctx, cfg)
			if err != nil {
				return fmt.Errorf("simulate: %w", err)
			}
			if err := printOut(cmd, rep, func(p *printer) { rep.WriteText(p.w) }); err != nil {
				return err
			}
			switch {
			case rep.Stopped:
				return fmt.Errorf("simulation stopped after %.0f s of virtual time", rep.VirtualSeconds)
			case rep.TasksLost > 0 || !rep.Finished:
				return fmt.Errorf("simulation failed: %d of %d tasks lost, finished %v (raise --max-time if the batches were still running)", rep.TasksLost, rep.TasksTotal, rep.Finished)
			}
			return nil
		},
	}
}
