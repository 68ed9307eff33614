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
		Commands: []*cli.Command{{
			Name:      "connect",
			Usage:     "dial a peer by multiaddr (a relayed /p2p-circuit one too) or by peer ID (looked up in the DHT)",
			ArgsUsage: "MULTIADDR|PEER_ID",
			Action: func(ctx context.Context, cmd *cli.Command) error {
				if cmd.Args().Len() != 1 {
					return usagef("peers connect takes one multiaddr or peer ID, got %d arguments", cmd.Args().Len())
				}
				c, err := client(cmd)
				if err != nil {
					return err
				}
				pi, err := c.Connect(ctx, cmd.Args().First())
				if err != nil {
					return apiErr(err)
				}
				return printOut(cmd, pi, func(p *printer) {
					how := "directly"
					if pi.Relayed {
						how = "through a relay (hole punching may make it direct)"
					}
					p.f("connected to %s %s", pi.PeerID, how)
				})
			},
		}},
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
					dir := pi.Direction
					if pi.Relayed {
						dir += " (relayed)"
					}
					p.f("%s  %-8s %-8s %s", pi.PeerID, dir, lat, addr)
					if pi.Incompatible {
						p.f("    incompatible: %s", pi.IncompatibleReason)
					}
				}
			})
		},
	}
}
