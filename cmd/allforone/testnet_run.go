package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"allforone/testnet"

	"github.com/urfave/cli/v3"
)

// Flags of testnet run and testnet soak.
const (
	flagChart    = "chart"
	flagKeepData = "keep-data"
	flagShort    = "short"
)

func testnetRunCmd() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "run a scenario: a swarm of daemons, a batch, faults on a timeline, then a report",
		ArgsUsage: "SCENARIO",
		Description: "SCENARIO is a scenario file (YAML, see testnet/scenarios/README.md) or the name of a\n" +
			"shipped one: " + strings.Join(testnet.ShippedScenarios(), ", ") + ".\n" +
			"Every node is an `allforone daemon` process on loopback; kills are SIGKILL, partitions\n" +
			"are made by each node's connection gater. The report says how many tasks were lost and\n" +
			"how many results have fewer than K live holders after healing (both must be 0: the\n" +
			"command exits 1 otherwise), duplicate executions, recovery time after each fault and\n" +
			"throughput over time. Progress goes to stderr, the report to stdout.",
		Flags: append(scenarioFlags(),
			&cli.BoolFlag{Name: flagShort, Usage: "run the scenario's short version (fewer nodes and tasks), as go test does", Sources: env(flagShort)},
			&cli.IntFlag{Name: "nodes", Usage: "override the scenario's number of nodes", Sources: env("nodes")},
		),
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Args().Len() != 1 {
				return usagef("testnet run takes one SCENARIO: a file or one of %s", strings.Join(testnet.ShippedScenarios(), ", "))
			}
			sc, err := testnet.LoadScenario(cmd.Args().First())
			if err != nil {
				return usageError{err}
			}
			if cmd.Bool(flagShort) {
				if err := sc.Shorten(); err != nil {
					return usageError{err}
				}
			}
			if cmd.IsSet("nodes") {
				sc.Nodes = int(cmd.Int("nodes"))
				if err := sc.Validate(); err != nil {
					return usageError{err}
				}
			}
			return runScenario(ctx, cmd, sc)
		},
	}
}

// scenarioFlags are the flags testnet run and testnet soak share.
func scenarioFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: flagChart, Usage: "write a PNG chart of tasks completed over time, faults marked, to `FILE`", Sources: env(flagChart)},
		&cli.StringFlag{Name: "dir", Usage: "directory for the nodes' data dirs and logs (default: a new temporary directory)", Sources: env("dir")},
		&cli.BoolFlag{Name: flagKeepData, Usage: "keep the temporary data dirs and logs after the run", Sources: env(flagKeepData)},
	}
}

// runScenario runs sc over daemon processes of this binary and prints the report.
func runScenario(ctx context.Context, cmd *cli.Command, sc *testnet.Scenario) error {
	dir := cmd.String("dir")
	if dir == "" {
		d, err := os.MkdirTemp("", "allforone-scenario-")
		if err != nil {
			return err
		}
		dir = d
		if !cmd.Bool(flagKeepData) {
			defer os.RemoveAll(d)
		}
	} else if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return usagef("--dir %s is not empty: give a new or empty directory", dir)
	}
	if chart := cmd.String(flagChart); chart != "" {
		// Fail now, not after a long run.
		f, err := os.Create(chart)
		if err != nil {
			return usagef("--chart: %v", err)
		}
		f.Close()
	}
	bin, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own binary: %w", err)
	}
	rep, err := testnet.RunScenario(ctx, sc, testnet.RunConfig{Binary: bin, Dir: dir, Log: cmd.Root().ErrWriter})
	if err != nil {
		return fmt.Errorf("scenario %s: %w (logs in %s)", sc.Name, err, dir)
	}
	if chart := cmd.String(flagChart); chart != "" {
		if err := writeChart(chart, rep); err != nil {
			return err
		}
	}
	if err := printOut(cmd, rep, func(p *printer) { rep.WriteText(p.w) }); err != nil {
		return err
	}
	if !rep.OK {
		return fmt.Errorf("scenario %s failed: %d tasks lost, %d results with fewer than %d live holders, %d not fetchable, at worst %.0f%% of the nodes up (node logs in %s)",
			sc.Name, rep.TasksLost, rep.UnderReplicated, rep.Replication, rep.Unfetchable, 100*rep.UpShareMin, keptDir(cmd, dir))
	}
	return nil
}

func writeChart(path string, rep *testnet.Report) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = rep.WriteChart(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write chart %s: %w", path, err)
	}
	return nil
}

// keptDir names where the logs are, or how to keep them.
func keptDir(cmd *cli.Command, dir string) string {
	if cmd.String("dir") != "" || cmd.Bool(flagKeepData) {
		return dir
	}
	return "removed: run again with --" + flagKeepData + " or --dir"
}
