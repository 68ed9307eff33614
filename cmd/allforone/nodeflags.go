package main

import (
	"fmt"
	"strings"
	"time"

	"allforone/node"

	"github.com/urfave/cli/v3"
)

// Flags of init and daemon that are not settings of config.json.
const (
	flagTestnet = "testnet-mode"
)

// nodeFlags are the flags of init (which writes them to config.json) and daemon (which
// overrides config.json with them for one run): one per setting of node.ConfigKeys that
// names a flag, made from that table, each with its environment twin.
func nodeFlags() []cli.Flag {
	flags := configFlags()
	return append(flags,
		&cli.BoolFlag{Name: flagTestnet, Usage: "fast timers and no resource limits, for local testnets only", Hidden: true, Sources: env(flagTestnet)})
}

// configFlags makes the flags of the settings that have one. The flag's type follows the
// setting's kind, its help is the setting's doc and default, its category the section.
func configFlags() []cli.Flag {
	var flags []cli.Flag
	for _, k := range node.ConfigKeys() {
		if k.Flag == "" {
			continue
		}
		name, usage, cat, def, src := k.Flag, k.Doc, k.Section, k.DefaultText(), env(k.Flag)
		switch k.Kind() {
		case node.KindString:
			flags = append(flags, &cli.StringFlag{Name: name, Usage: usage, Category: cat, DefaultText: def, Sources: src})
		case node.KindInt:
			flags = append(flags, &cli.IntFlag{Name: name, Usage: usage, Category: cat, DefaultText: def, Sources: src})
		case node.KindBool:
			if def == "true" {
				usage += fmt.Sprintf(" (--%s=false: off)", name)
			}
			flags = append(flags, &cli.BoolFlag{Name: name, Usage: usage, Category: cat, DefaultText: def, Sources: src})
		case node.KindDuration:
			flags = append(flags, &cli.DurationFlag{Name: name, Usage: usage, Category: cat, DefaultText: def, Sources: src})
		case node.KindList:
			flags = append(flags, &cli.StringSliceFlag{Name: name, Usage: usage + ": repeat the flag, or separate with commas", Category: cat, DefaultText: def, Sources: src})
		default:
			panic(fmt.Sprintf("config key %s: no flag type for kind %q", k.Key, k.Kind()))
		}
	}
	return flags
}

// configFlagName is the flag of a config key, for code that names one (flagrange.go). A key
// without a flag is a mistake in the program.
func configFlagName(key string) string {
	k, err := node.LookupConfigKey(key)
	if err != nil || k.Flag == "" {
		panic(fmt.Sprintf("config key %s has no flag", key))
	}
	return k.Flag
}

// testnetRepairGrace is the repair grace of --testnet-mode daemons (the default is 30s).
const testnetRepairGrace = 20 * time.Second

// applyNodeFlags overrides cfg with the node flags the user set (flag or environment):
// precedence defaults < config.json < --testnet-mode < environment < flags.
func applyNodeFlags(cmd *cli.Command, cfg *node.Config) error {
	// --testnet-mode sets its timers and limits first, so that flags given with it win.
	if cmd.Bool(flagTestnet) {
		t := node.TestConfig(cfg.DataDir)
		cfg.BootstrapInterval = t.BootstrapInterval
		cfg.GossipHeartbeat = t.GossipHeartbeat
		cfg.RoutingRefresh = t.RoutingRefresh
		cfg.ShutdownTimeout = node.Duration(5 * time.Second)
		// A testnet restart is down for a few seconds, and on a busy machine (twenty daemons
		// on two cores) its start takes up to ten more: a grace shorter than that turned
		// every slow restart into a storm of copies that slowed the next restarts.
		cfg.RepairGrace = node.Duration(testnetRepairGrace)
		cfg.UnlimitedResources = true
		cfg.TestingAPI = true
		testnetPrefs(&cfg.Prefs)
	}
	return applyConfigFlags(cmd, cfg, func(node.ConfigKey) bool { return true })
}

// testnetPrefs sets what --testnet-mode sets in the preferences: the testnet's own nodes
// keep the CPU busy, so the busy threshold must not pause them.
func testnetPrefs(p *node.Prefs) {
	p.CPUBusyPercent = node.TestConfig("").Prefs.CPUBusyPercent
}

// applyConfigFlags sets in cfg the settings among which() whose flag the user set.
func applyConfigFlags(cmd *cli.Command, cfg *node.Config, which func(node.ConfigKey) bool) error {
	for _, k := range node.ConfigKeys() {
		if k.Flag == "" || !which(k) || !cmd.IsSet(k.Flag) {
			continue
		}
		if err := k.Set(cfg, cmd.Value(k.Flag)); err != nil {
			return fmt.Errorf("--%s: %w", k.Flag, err)
		}
	}
	return nil
}

// prefsOverride returns what --testnet-mode and the flags set in the preferences (the
// "prefs" object, which the daemon reloads live), to apply again when it reloads
// config.json: they win over the file, in the order applyNodeFlags applies them.
func prefsOverride(cmd *cli.Command) func(*node.Prefs) {
	return func(p *node.Prefs) {
		c := node.Config{Prefs: *p}
		if cmd.Bool(flagTestnet) {
			testnetPrefs(&c.Prefs)
		}
		// The flags' values were set once at start; Set fails only on a kind mismatch,
		// which TestNodeFlagsFromConfigKeys rules out.
		_ = applyConfigFlags(cmd, &c, func(k node.ConfigKey) bool { return strings.HasPrefix(k.Key, "prefs.") })
		*p = c.Prefs
	}
}
