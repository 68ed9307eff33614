package main

import (
	"allforone/node"

	"github.com/urfave/cli/v3"
)

// Presets of `allforone init`: a starting config for a kind of node, which the other flags
// then override.
const (
	flagPublic  = "public"
	flagPrivate = "private"
)

func presetFlags() []cli.Flag {
	const cat = "presets"
	return []cli.Flag{
		&cli.BoolFlag{Name: flagPublic, Category: cat, Usage: "a node of a swarm on the public internet: port mapping on, the DHT served once AutoNAT confirms public reachability, relay service on", Sources: env(flagPublic)},
		&cli.BoolFlag{Name: flagPrivate, Category: cat, Usage: "a node of a private swarm: a new swarm key unless --swarm-key is given, TCP only, the DHT served unless unreachable, no port mapping", Sources: env(flagPrivate)},
	}
}

// preset is what --public or --private chose ("" for neither).
func preset(cmd *cli.Command) (string, error) {
	switch pub, priv := cmd.Bool(flagPublic), cmd.Bool(flagPrivate); {
	case pub && priv:
		return "", usagef("--public and --private are two presets, choose one: --public for a swarm on the public internet, --private for a swarm closed by a swarm key")
	case pub:
		return flagPublic, nil
	case priv:
		return flagPrivate, nil
	}
	return "", nil
}

// applyPreset sets cfg to the preset's values; flags the user gives are applied after it.
func applyPreset(name string, cfg *node.Config) {
	switch name {
	case flagPublic:
		// Listen on every interface, TCP and QUIC on port 4501: DefaultConfig already does.
		cfg.DHTMode = node.DHTAuto // as Kubo: serve the DHT only once others can dial us
		cfg.NAT.PortMap = true
		cfg.NAT.RelayService = true
	case flagPrivate:
		// A swarm key rules QUIC out: listen on TCP only rather than have the daemon
		// drop the QUIC addresses at every start.
		cfg.ListenAddrs = []string{"/ip4/0.0.0.0/tcp/4501", "/ip6/::/tcp/4501"}
		cfg.DHTMode = node.DHTAutoServer // a LAN never gets an AutoNAT verdict: serve until unreachable
		cfg.NAT.PortMap = false
	}
}

// presetNotes are what the user still has to do after init with a preset.
func presetNotes(name string, cfg node.Config, newKeyPath string) []string {
	var notes []string
	switch name {
	case flagPublic:
		if len(cfg.BootstrapPeers) == 0 && !cfg.NAT.PublicRendezvous {
			notes = append(notes, "this node knows no bootstrap peers yet, so it cannot find the swarm: give it some with --bootstrap MULTIADDR "+
				"or `allforone config set bootstrap MULTIADDR,...` (where to find them: README, section \"Joining the public swarm\"), "+
				"or opt in to finding peers through the public IPFS DHT with --public-rendezvous")
		}
	case flagPrivate:
		if newKeyPath != "" {
			notes = append(notes, "a new swarm key is in "+newKeyPath+": copy it to every other machine over a safe channel, "+
				"and run `allforone init --private --swarm-key FILE --bootstrap MULTIADDR` there (this node's address: `allforone id` once its daemon runs)")
		}
	}
	return notes
}
