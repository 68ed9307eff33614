package main

import (
	"slices"
	"time"

	"allforone/node"

	"github.com/urfave/cli/v3"
)

// Flags shared by init and daemon that override the node's config.
const (
	flagSwarm     = "swarm"
	flagSwarmKey  = "swarm-key"
	flagListen    = "listen"
	flagBootstrap = "bootstrap"
	flagAPI       = "api"
	flagDHTMode   = "dht-mode"
	flagAPICert   = "api-tls-cert"
	flagAPIKey    = "api-tls-key"
	flagAPIOpen   = "api-insecure"
	flagTestnet   = "testnet-mode"
)

func nodeFlags() []cli.Flag {
	return append([]cli.Flag{
		&cli.StringFlag{Name: flagSwarm, Usage: "the swarm to join (its name keeps it apart from other swarms)", Sources: env(flagSwarm)},
		&cli.StringFlag{Name: flagSwarmKey, Usage: "swarm key FILE of a private swarm (make one with `allforone swarm-key`)", Sources: env(flagSwarmKey)},
		&cli.StringSliceFlag{Name: flagListen, Usage: "listen on this multiaddr (repeatable), e.g. /ip4/0.0.0.0/tcp/4501", Sources: env(flagListen)},
		&cli.StringSliceFlag{Name: flagBootstrap, Usage: "bootstrap peer multiaddr with /p2p/<peer ID> (repeatable)", Sources: env(flagBootstrap)},
		&cli.StringFlag{Name: flagAPI, Usage: "HOST:PORT of the local control API (port 0 picks a free one)", Sources: env(flagAPI)},
		&cli.StringFlag{Name: flagDHTMode, Usage: "DHT mode: auto-server, server, client or auto", Sources: env(flagDHTMode)},
		&cli.StringFlag{Name: flagAPICert, Usage: "serve the API over TLS with this certificate `FILE` (PEM)", Sources: env(flagAPICert)},
		&cli.StringFlag{Name: flagAPIKey, Usage: "the TLS private key `FILE` (PEM) for --api-tls-cert", Sources: env(flagAPIKey)},
		&cli.BoolFlag{Name: flagAPIOpen, Usage: "allow an API beyond 127.0.0.1 without TLS (the token then travels in clear text)", Sources: env(flagAPIOpen)},
		&cli.BoolFlag{Name: flagTestnet, Usage: "fast timers and no resource limits, for local testnets only", Hidden: true, Sources: env(flagTestnet)},
	}, slices.Concat(prefFlags(), natFlags())...) // prefflags.go: preferences; natflags.go: NAT
}

// applyNodeFlags overrides cfg with the node flags the user set (flag or environment).
func applyNodeFlags(cmd *cli.Command, cfg *node.Config) {
	if cmd.IsSet(flagSwarm) {
		cfg.Swarm = cmd.String(flagSwarm)
	}
	if cmd.IsSet(flagListen) {
		cfg.ListenAddrs = cmd.StringSlice(flagListen)
	}
	if cmd.IsSet(flagBootstrap) {
		cfg.BootstrapPeers = cmd.StringSlice(flagBootstrap)
	}
	if cmd.IsSet(flagAPI) {
		cfg.APIAddr = cmd.String(flagAPI)
	}
	if cmd.IsSet(flagAPICert) {
		cfg.APITLSCert = cmd.String(flagAPICert)
	}
	if cmd.IsSet(flagAPIKey) {
		cfg.APITLSKey = cmd.String(flagAPIKey)
	}
	if cmd.IsSet(flagAPIOpen) {
		cfg.APIInsecure = cmd.Bool(flagAPIOpen)
	}
	if cmd.IsSet(flagDHTMode) {
		cfg.DHTMode = cmd.String(flagDHTMode)
	}
	applyPrefFlags(cmd, cfg)
	applyNATFlags(cmd, cfg)
	if cmd.Bool(flagTestnet) {
		t := node.TestConfig(cfg.DataDir)
		cfg.BootstrapInterval = t.BootstrapInterval
		cfg.GossipHeartbeat = t.GossipHeartbeat
		cfg.RoutingRefresh = t.RoutingRefresh
		cfg.ShutdownTimeout = node.Duration(5 * time.Second)
		cfg.RepairGrace = node.Duration(5 * time.Second) // testnet restarts take a few seconds
		cfg.UnlimitedResources = true
		cfg.TestingAPI = true
		cfg.Prefs.CPUBusyPercent = t.Prefs.CPUBusyPercent // the testnet's own nodes keep the CPU busy
	}
}
