package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"allforone/node"

	"github.com/urfave/cli/v3"
)

// datastoreFailed is the node's fatal handler: pebble cannot go on (a failed log or
// MANIFEST write), so neither can the process. No stack trace: the error says what to do.
func datastoreFailed(err error) {
	fmt.Fprintln(os.Stderr, "allforone:", err)
	os.Exit(exitDataDir)
}

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
			if err := applyNodeFlags(cmd, &cfg); err != nil {
				return err
			}
			if err := cfg.Validate(); err != nil {
				return usageError{err}
			}
			n, err := node.New(cfg, node.WithLogger(log), node.WithVersion(version),
				node.WithPrefsOverride(prefsOverride(cmd)), // nodeflags.go: flags win over config.json on reload
				node.WithFatalHandler(datastoreFailed))
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
			select {
			case <-ctx.Done():
				log.Info("shutting down")
				return n.Close()
			case <-n.Failed(): // the datastore turned out corrupt: stop, hand over what we can
				n.Close()
				return dataDirError{n.Err()}
			}
		},
	}
}
