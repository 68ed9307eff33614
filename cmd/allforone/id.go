package main

import (
	"context"
	"errors"

	"allforone/node"

	"github.com/urfave/cli/v3"
)

// client returns an API client for the daemon on --data.
func client(cmd *cli.Command) (*node.Client, error) {
	c, err := node.NewClient(cmd.String(flagData))
	if err != nil {
		return nil, unavailableError{err}
	}
	return c, nil
}

// apiErr marks errors that mean the daemon could not be reached (exit 3), and those where
// the daemon refused the request for what it contained, a 4xx answer such as a bad batch
// ID or a bad batch (exit 2: the command line or its files are to fix).
func apiErr(err error) error {
	if errors.Is(err, node.ErrDaemonNotRunning) {
		return unavailableError{err}
	}
	var se *node.StatusError
	if errors.As(err, &se) && se.BadRequest() {
		return usageError{err}
	}
	return err
}

func idCmd() *cli.Command {
	return &cli.Command{
		Name:  "id",
		Usage: "print the running node's peer ID and addresses",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			c, err := client(cmd)
			if err != nil {
				return err
			}
			info, err := c.ID(ctx)
			if err != nil {
				return apiErr(err)
			}
			return printOut(cmd, info, func(p *printer) {
				p.f("peer ID %s", info.PeerID)
				p.f("swarm   %s (private: %v)", info.Swarm, info.Private)
				p.f("api     %s", info.API)
				for _, a := range info.Addrs {
					p.f("addr    %s", a)
				}
			})
		},
	}
}
