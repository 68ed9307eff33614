package main

import (
	"context"
	"path/filepath"
	"slices"

	"allforone/node"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/urfave/cli/v3"
)

func initCmd() *cli.Command {
	return &cli.Command{
		Name:  "init",
		Usage: "create a node's identity and config in the data dir",
		Description: "Writes identity.key, api.token, config.json (and swarm.key for a private swarm)\n" +
			"into --data. It never overwrites an existing identity.\n\n" +
			"--public and --private start from a preset (other flags override it): --public for a\n" +
			"swarm on the public internet, --private for a swarm closed by a swarm key (a new one\n" +
			"in the data dir unless --swarm-key names one).",
		Flags: slices.Concat(presetFlags(), nodeFlags()),
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Args().Len() > 0 {
				return usagef("init takes no arguments, got %q", cmd.Args().Slice())
			}
			pre, err := preset(cmd)
			if err != nil {
				return err
			}
			dir := cmd.String(flagData)
			cfg := node.DefaultConfig(dir)
			applyPreset(pre, &cfg)
			if err := applyNodeFlags(cmd, &cfg); err != nil {
				return err
			}
			if err := cfg.Validate(); err != nil {
				return usageError{err}
			}
			keyPath, newKeyPath := cmd.String(configFlagName("swarm_key_file")), ""
			var id peer.ID
			if pre == flagPrivate && keyPath == "" {
				key, err := node.NewSwarmKey()
				if err != nil {
					return err
				}
				if id, err = node.InitWithSwarmKey(cfg, key); err != nil {
					return err
				}
				newKeyPath = filepath.Join(dir, node.SwarmKeyFile)
			} else if id, err = node.Init(cfg, keyPath); err != nil {
				return err
			}
			out := struct {
				PeerID   string   `json:"peer_id"`
				DataDir  string   `json:"data_dir"`
				Swarm    string   `json:"swarm"`
				Private  bool     `json:"private"`
				Preset   string   `json:"preset,omitempty"`
				SwarmKey string   `json:"new_swarm_key,omitempty"` // the key init made, to copy
				Notes    []string `json:"notes,omitempty"`
			}{id.String(), dir, cfg.Swarm, keyPath != "" || newKeyPath != "", pre, newKeyPath, presetNotes(pre, cfg, newKeyPath)}
			return printOut(cmd, out, func(p *printer) {
				p.f("initialized %s", dir)
				p.f("peer ID %s", id)
				p.f("swarm   %s", cfg.Swarm)
				if out.Preset != "" {
					p.f("preset  %s", out.Preset)
				}
				for _, n := range out.Notes {
					p.f("note: %s", n)
				}
				p.f("next: allforone daemon --data %s", dir)
			})
		},
	}
}
