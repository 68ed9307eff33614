package main

import (
	"context"

	"allforone/node"

	"github.com/urfave/cli/v3"
)

func initCmd() *cli.Command {
	return &cli.Command{
		Name:  "init",
		Usage: "create a node's identity and config in the data dir",
		Description: "Writes identity.key, api.token, config.json (and swarm.key for a private swarm)\n" +
			"into --data. It never overwrites an existing identity.",
		Flags: nodeFlags(),
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Args().Len() > 0 {
				return usagef("init takes no arguments, got %q", cmd.Args().Slice())
			}
			dir := cmd.String(flagData)
			cfg := node.DefaultConfig(dir)
			applyNodeFlags(cmd, &cfg)
			if err := cfg.Validate(); err != nil {
				return usageError{err}
			}
			id, err := node.Init(cfg, cmd.String(flagSwarmKey))
			if err != nil {
				return err
			}
			out := struct {
				PeerID  string `json:"peer_id"`
				DataDir string `json:"data_dir"`
				Swarm   string `json:"swarm"`
				Private bool   `json:"private"`
			}{id.String(), dir, cfg.Swarm, cmd.String(flagSwarmKey) != ""}
			return printOut(cmd, out, func(p *printer) {
				p.f("initialized %s", dir)
				p.f("peer ID %s", id)
				p.f("swarm   %s", cfg.Swarm)
				p.f("next: allforone daemon --data %s", dir)
			})
		},
	}
}
