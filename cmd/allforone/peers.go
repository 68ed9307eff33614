package main

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v3"
)

func peersCmd() *cli.Command {
	return &cli.Command{
		Name:  "peers",
		Usage: "list the peers the running node is connected to",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			c, err := client(cmd)
			if err != nil {
				return err
			}
			peers, err := c.Peers(ctx)
			if err != nil {
				return apiErr(err)
			}
			return printOut(cmd, peers, func(p *printer) {
				p.f("%d peers", len(peers))
				for _, pi := range peers {
					addr := ""
					if len(pi.Addrs) > 0 {
						addr = pi.Addrs[0]
					}
					lat := ""
					if pi.LatencyMS > 0 {
						lat = fmt.Sprintf("%.1fms", pi.LatencyMS)
					}
					p.f("%s  %-8s %-8s %s", pi.PeerID, pi.Direction, lat, addr)
					if pi.Incompatible {
						p.f("    incompatible: %s", pi.IncompatibleReason)
					}
				}
			})
		},
	}
}
