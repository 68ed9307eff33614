package main

import (
	"context"

	"github.com/urfave/cli/v3"
)

func batchesCmd() *cli.Command {
	return &cli.Command{
		Name:  "batches",
		Usage: "list the batches the running node knows",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			c, err := client(cmd)
			if err != nil {
				return err
			}
			list, err := c.Batches(ctx)
			if err != nil {
				return apiErr(err)
			}
			return printOut(cmd, list, func(p *printer) {
				p.f("%d batches", len(list))
				for _, b := range list {
					role := ""
					if b.Steward {
						role = " steward"
					}
					p.f("%s  %-20s %5d tasks  %d results held%s", b.BatchID, b.Name, b.Tasks, b.Held, role)
				}
			})
		},
	}
}
