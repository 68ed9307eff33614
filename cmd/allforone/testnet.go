package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"allforone/testnet"

	"github.com/urfave/cli/v3"
)

func testnetCmd() *cli.Command {
	return &cli.Command{
		Name:  "testnet",
		Usage: "run a swarm of many nodes on this machine, on loopback only",
		Commands: []*cli.Command{
			testnetUpCmd(),
			testnetRunCmd(),
			testnetSoakCmd(),
			testnetSimulateCmd(),
		},
	}
}

func testnetUpCmd() *cli.Command {
	return &cli.Command{
		Name:  "up",
		Usage: "start N daemons as separate processes and keep them running until Ctrl-C",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "nodes", Value: 5, Usage: "number of nodes", Sources: env("nodes")},
			&cli.StringFlag{Name: "dir", Usage: "directory for the nodes' data dirs (default: a new temporary directory)", Sources: env("dir")},
			&cli.BoolFlag{Name: "private", Usage: "make it a private swarm with a new swarm key", Sources: env("private")},
			&cli.StringFlag{Name: "swarm", Value: "testnet", Usage: "swarm name", Sources: env("swarm")},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			n := int(cmd.Int("nodes"))
			if n < 1 || n > 200 {
				return usagef("--nodes %d: give 1 to 200", n)
			}
			dir := cmd.String("dir")
			if dir == "" {
				d, err := os.MkdirTemp("", "allforone-testnet-")
				if err != nil {
					return err
				}
				dir = d
			} else if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
				return usagef("--dir %s is not empty: give a new or empty directory", dir)
			}
			bin, err := os.Executable()
			if err != nil {
				return fmt.Errorf("find own binary: %w", err)
			}
			start := time.Now()
			h, err := testnet.StartHarness(ctx, testnet.HarnessConfig{
				Binary: bin, Dir: dir, N: n, Swarm: cmd.String("swarm"), Private: cmd.Bool("private"),
			})
			if err != nil {
				return err
			}
			defer h.Close()
			wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			err = h.WaitAllKnown(wctx)
			cancel()
			if err != nil {
				return fmt.Errorf("testnet started but the nodes did not all see each other: %w (logs in %s)", err, dir)
			}
			took := time.Since(start)
			type row struct {
				Index   int    `json:"index"`
				PeerID  string `json:"peer_id"`
				API     string `json:"api"`
				DataDir string `json:"data_dir"`
			}
			var rows []row
			for _, p := range h.Procs() {
				rows = append(rows, row{p.Index, p.PeerID, p.API, p.Dir})
			}
			out := struct {
				Dir          string  `json:"dir"`
				Nodes        []row   `json:"nodes"`
				ReadySeconds float64 `json:"ready_seconds"`
			}{dir, rows, took.Seconds()}
			printOut(cmd, out, func(p *printer) {
				p.f("%d nodes up in %.1fs, every node sees every other (data in %s)", n, took.Seconds(), dir)
				for _, r := range rows {
					p.f("node %2d  %s  api %s", r.Index, r.PeerID, r.API)
				}
				p.f("try: allforone --data %s peers", filepath.Join(dir, "node-01"))
				p.f("Ctrl-C stops them all")
			})
			<-ctx.Done()
			return h.Close()
		},
	}
}
