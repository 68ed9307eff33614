package main

import (
	"context"
	"errors"
	"os"

	"allforone/node"

	"github.com/urfave/cli/v3"
)

func daemonCmd() *cli.Command {
	return &cli.Command{
		Name:  "daemon",
		Usage: "run the node until Ctrl-C or SIGTERM",
		Description: "Joins the swarm named in the config, serves the local API and computes.\n" +
			"Flags override config.json for this run only.",
		Flags: nodeFlags(),
		Action: func(ctx context.Context, cmd *cli.Command) error {
			log, err := newLogger(cmd, os.Stderr)
			if err != nil {
				return err
			}
			cfg, err := node.LoadConfig(cmd.String(flagData))
			if err != nil {
				if errors.Is(err, node.ErrNotInitialized) {
					return usageError{err}
				}
				return err
			}
			applyNodeFlags(cmd, &cfg)
			if cmd.IsSet(flagSwarmKey) {
				cfg.SwarmKeyFile = cmd.String(flagSwarmKey)
			}
			if err := cfg.Validate(); err != nil {
				return usageError{err}
			}
			n, err := node.New(cfg, node.WithLogger(log), node.WithVersion(version),
				node.WithPrefsOverride(prefsOverride(cmd))) // prefflags.go: flags win over config.json on reload
			if err != nil {
				return err
			}
			if err := n.Start(ctx); err != nil {
				return err
			}
			info := n.IDInfo()
			if cmd.Bool(flagJSON) {
				printOut(cmd, info, nil)
			} else {
				p := &printer{w: cmd.Root().Writer}
				p.f("allforone daemon %s in swarm %s", info.PeerID, info.Swarm)
				for _, a := range info.Addrs {
					p.f("listening on %s", a)
				}
				p.f("api on http://%s (token in %s/api.token)", info.API, cfg.DataDir)
				p.f("daemon ready; Ctrl-C stops it")
			}
			<-ctx.Done()
			log.Info("shutting down")
			return n.Close()
		},
	}
}
