package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"allforone/node"

	"github.com/urfave/cli/v3"
)

func swarmKeyCmd() *cli.Command {
	return &cli.Command{
		Name:      "swarm-key",
		Usage:     "make a new key for a private swarm",
		ArgsUsage: "[FILE]",
		Description: "Writes a new pre-shared key in the IPFS swarm.key format to FILE (never over an\n" +
			"existing file), or to stdout. Give the same file to every member with\n" +
			"`allforone init --swarm-key FILE`: nodes without it cannot even connect.",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			key, err := node.NewSwarmKey()
			if err != nil {
				return err
			}
			switch cmd.Args().Len() {
			case 0:
				_, err := cmd.Root().Writer.Write(key)
				return err
			case 1:
				path := cmd.Args().First()
				f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
				if errors.Is(err, os.ErrExist) {
					return usagef("%s already exists: a swarm key is never overwritten; choose another file name", path)
				}
				if err != nil {
					return fmt.Errorf("write swarm key: %w", err)
				}
				if _, err := f.Write(key); err != nil {
					f.Close()
					return err
				}
				if err := f.Close(); err != nil {
					return err
				}
				return printOut(cmd, map[string]string{"file": path}, func(p *printer) {
					p.f("wrote swarm key to %s; keep it secret, give it to every member", path)
				})
			default:
				return usagef("swarm-key takes at most one FILE argument")
			}
		},
	}
}
