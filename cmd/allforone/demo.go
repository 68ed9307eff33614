package main

import (
	"context"
	"os"
	"sort"
	"strings"

	"allforone/testnet"

	"github.com/urfave/cli/v3"
	"golang.org/x/term"
)

func demoCmd() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "watch a swarm on this machine render a Mandelbrot image while nodes are killed",
		Description: "Starts a swarm of daemon processes on loopback, submits a batch of Mandelbrot tiles,\n" +
			"kills a worker and then the primary steward with SIGKILL while it runs, and writes the\n" +
			"finished image. Nothing leaves this machine.",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "nodes", Value: 5, Usage: "swarm size (at least 4)", Sources: env("nodes")},
			&cli.StringFlag{Name: flagOut, Value: "mandelbrot.png", Usage: "where to write the image", Sources: env(flagOut)},
			&cli.StringFlag{Name: "dir", Usage: "directory for the nodes' data (default: a temporary one, removed after)", Sources: env("dir")},
			&cli.Uint32Flag{Name: flagReplicas, Value: 2, Usage: "R: peers that compute each tile", Sources: env(flagReplicas)},
			&cli.Uint32Flag{Name: flagKeep, Value: 3, Usage: "K: peers that keep each tile", Sources: env(flagKeep)},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			nodes := int(cmd.Int("nodes"))
			if nodes < 4 || nodes > 50 {
				return usagef("--nodes %d: use 4 to 50", nodes)
			}
			dir := cmd.String("dir")
			if dir == "" {
				d, err := os.MkdirTemp("", "allforone-demo-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(d)
				dir = d
			}
			bin, err := os.Executable()
			if err != nil {
				return err
			}
			live := !cmd.Bool(flagJSON) && term.IsTerminal(int(os.Stderr.Fd()))
			rep, err := testnet.RunDemo(ctx, testnet.DemoConfig{
				Binary: bin, Dir: dir, Nodes: nodes, Out: cmd.String(flagOut),
				Redundancy: cmd.Uint32(flagReplicas), Replication: cmd.Uint32(flagKeep),
				Spec: testnet.DefaultDemoSpec(), Log: os.Stderr, Live: live,
			})
			if err != nil {
				return err
			}
			return printOut(cmd, rep, func(p *printer) {
				p.f("")
				p.f("wrote %s: %d tiles in %.1fs on %d nodes", rep.Image, rep.Tiles, rep.Seconds, rep.Nodes)
				p.f("killed with SIGKILL: %v; primary steward after the takeover: %s", rep.Killed, rep.StewardTakeover)
				p.f("every tile computed by %d peers that agreed: %d executions, %d leases reassigned", rep.Redundancy, rep.Executions, rep.Reassigned)
				p.f("every tile kept by at least %d live peers (K=%d)", rep.MinReplicas, rep.Replication)
				names := make([]string, 0, len(rep.Share))
				for n := range rep.Share {
					names = append(names, n)
				}
				sort.Strings(names)
				for _, n := range names {
					p.f("  %-7s computed %3d tiles %s", n, rep.Share[n], bar(rep.Share[n], rep.Tiles*rep.Redundancy))
				}
			})
		},
	}
}

// bar draws a share as a row of blocks.
func bar(n, total int) string {
	if total == 0 {
		return ""
	}
	return strings.Repeat("█", n*40/total)
}
