package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"allforone/node"

	"github.com/urfave/cli/v3"
)

func resultsCmd() *cli.Command {
	return &cli.Command{
		Name:      "results",
		Usage:     "fetch a batch's results from the peers that hold them",
		ArgsUsage: "BATCH",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: flagOut, Usage: "write the outputs to `DIR`", Sources: env(flagOut)},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Args().Len() != 1 {
				return usagef("results takes one BATCH ID")
			}
			dir := cmd.String(flagOut)
			if dir == "" {
				return usagef("--out DIR is required: every output is written there")
			}
			c, err := client(cmd)
			if err != nil {
				return err
			}
			id := cmd.Args().First()
			written, err := writeResults(ctx, c, id, dir)
			if err != nil {
				return err
			}
			st, _ := c.Status(ctx, id)
			out := map[string]any{"batch_id": id, "written": written, "total": st.Total, "out": dir}
			return printOut(cmd, out, func(p *printer) {
				p.f("wrote %d of %d outputs to %s", written, st.Total, dir)
			})
		},
	}
}

// writeResults fetches every result of a batch to the daemon and writes the outputs to dir,
// named as the submitter named the inputs (or by task index on other nodes).
func writeResults(ctx context.Context, c *node.Client, id, dir string) (int, error) {
	rep, err := c.Fetch(ctx, id)
	if err != nil {
		return 0, apiErr(err)
	}
	names, _, err := c.OutputNames(ctx, id) // none (task-NNNNNN names) unless this daemon submitted it
	if err != nil {
		return 0, apiErr(err)
	}
	name := names.Namer()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, fmt.Errorf("create --out: %w", err)
	}
	missing := make(map[int]bool, len(rep.Missing))
	for _, t := range rep.Missing {
		missing[t] = true
	}
	written := 0
	for i := range rep.Total {
		if missing[i] {
			continue
		}
		out, err := c.Output(ctx, id, i)
		if err != nil {
			return written, apiErr(err)
		}
		file := name(i)
		if file == "" || file == "." || file == ".." || strings.ContainsAny(file, `/\`) {
			file = fmt.Sprintf("task-%06d", i)
		}
		if err := os.WriteFile(filepath.Join(dir, file), out, 0o644); err != nil {
			return written, err
		}
		written++
	}
	if len(rep.Missing) > 0 {
		return written, fmt.Errorf("%d of %d results are not available (not accepted yet, failed, or their holders are offline): tasks %v", len(rep.Missing), rep.Total, truncate(rep.Missing, 20))
	}
	return written, nil
}

func truncate(v []int, n int) []int {
	if len(v) > n {
		return v[:n]
	}
	return v
}
