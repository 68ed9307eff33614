package main

import (
	"allforone/node"

	"github.com/urfave/cli/v3"
)

// NAT flags, shared by init (written to config.json) and daemon (for this run). They
// override config.json's "nat" object; see node.NATConfig for what each one does.
const (
	flagReachability        = "reachability"
	flagRelayService        = "relay-service"
	flagAutoRelay           = "auto-relay"
	flagHolePunching        = "hole-punching"
	flagPortMap             = "port-map"
	flagPublicRendezvous    = "public-rendezvous"
	flagRendezvousBootstrap = "rendezvous-bootstrap"
)

func natFlags() []cli.Flag {
	const cat = "NAT traversal"
	return []cli.Flag{
		&cli.StringFlag{Name: flagReachability, Category: cat, Usage: "auto (AutoNAT finds out), public (dialable from the internet) or private (behind a NAT)", Sources: env(flagReachability)},
		&cli.BoolFlag{Name: flagRelayService, Category: cat, Usage: "relay for NATed swarm peers while this node is publicly reachable (--relay-service=false: never)", Sources: env(flagRelayService)},
		&cli.BoolFlag{Name: flagAutoRelay, Category: cat, Usage: "while not reachable, reserve slots on relays among swarm peers (--auto-relay=false: never)", Sources: env(flagAutoRelay)},
		&cli.BoolFlag{Name: flagHolePunching, Category: cat, Usage: "upgrade relayed connections to direct ones (--hole-punching=false: never)", Sources: env(flagHolePunching)},
		&cli.BoolFlag{Name: flagPortMap, Category: cat, Usage: "ask the home router for a port mapping (UPnP, NAT-PMP)", Sources: env(flagPortMap)},
		&cli.BoolFlag{Name: flagPublicRendezvous, Category: cat, Usage: "find swarm peers through the public IPFS DHT (opt-in: contacts its bootstrap nodes)", Sources: env(flagPublicRendezvous)},
		&cli.StringSliceFlag{Name: flagRendezvousBootstrap, Category: cat, Usage: "bootstrap multiaddr of the public DHT for --public-rendezvous (repeatable; default: the IPFS ones)", Sources: env(flagRendezvousBootstrap)},
	}
}

// applyNATFlags overrides cfg.NAT with the NAT flags the user set.
func applyNATFlags(cmd *cli.Command, cfg *node.Config) {
	c := &cfg.NAT
	if cmd.IsSet(flagReachability) {
		c.Reachability = cmd.String(flagReachability)
	}
	for name, field := range map[string]*bool{
		flagRelayService:     &c.RelayService,
		flagAutoRelay:        &c.AutoRelay,
		flagHolePunching:     &c.HolePunching,
		flagPortMap:          &c.PortMap,
		flagPublicRendezvous: &c.PublicRendezvous,
	} {
		if cmd.IsSet(name) {
			*field = cmd.Bool(name)
		}
	}
	if cmd.IsSet(flagRendezvousBootstrap) {
		c.RendezvousBootstrap = cmd.StringSlice(flagRendezvousBootstrap)
	}
}
