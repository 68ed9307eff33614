package main

import (
	"context"

	"github.com/urfave/cli/v3"
)

func whyCmd() *cli.Command {
	return &cli.Command{
		Name:  "why",
		Usage: "say why the running node is not computing, and what to do",
		Description: "Lists the reasons this node runs no task right now (no peers, no batches,\n" +
			"paused by a preference, not enough memory allowed, ...) with what to do for each.\n" +
			"The dashboard shows the same panel.",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Args().Len() > 0 {
				return usagef("why takes no arguments")
			}
			c, err := client(cmd)
			if err != nil {
				return err
			}
			w, err := c.Why(ctx)
			if err != nil {
				return apiErr(err)
			}
			return printOut(cmd, w, func(p *printer) {
				p.f("%s", w.Summary)
				for _, r := range w.Reasons {
					p.f("")
					p.f("  %s  [%s]", r.Reason, r.Code)
					p.f("  -> %s", r.Fix)
				}
			})
		},
	}
}
