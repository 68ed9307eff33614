package main

import (
	"context"
	"errors"
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
			var missing missingResults
			if err != nil && !errors.As(err, &missing) {
				return err
			}
			st, _ := c.Status(ctx, id)
			out := map[string]any{"batch_id": id, "written": written, "total": st.Total, "out": dir}
			if len(st.Failures) > 0 {
				out["failures"] = st.Failures
			}
			if perr := printOut(cmd, out, func(p *printer) {
				p.f("wrote %d of %d outputs to %s", written, st.Total, dir)
			}); perr != nil {
				return perr
			}
			return err
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
		st, err := c.Status(ctx, id)
		if err != nil {
			return written, missingResults{fmt.Errorf("%d of %d results are not available (not accepted yet, failed, or their holders are offline; no steward says which: %v): tasks %v", len(rep.Missing), rep.Total, err, truncate(rep.Missing, 20))}
		}
		return written, missingResults{missingError(st, rep.Total, rep.Missing)}
	}
	return written, nil
}

// missingResults is the error of a fetch that wrote what it found but not every result.
type missingResults struct{ error }

func (e missingResults) Unwrap() error { return e.error }

func truncate(v []int, n int) []int {
	if len(v) > n {
		return v[:n]
	}
	return v
}
