package main

import (
	"os"
	"path/filepath"

	"allforone/node"

	"github.com/urfave/cli/v3"
)

// Global flag names. Every flag has an environment twin named ALLFORONE_<NAME>.
const (
	flagData      = "data"
	flagJSON      = "json"
	flagLogLevel  = "log-level"
	flagLogFormat = "log-format"
)

// envName returns the environment twin of a flag: "max-output" -> "ALLFORONE_MAX_OUTPUT"
// (the convention of node.FlagEnv, which the config table's flags follow too).
func envName(flag string) string { return node.FlagEnv(flag) }

// env is the cli.ValueSourceChain for a flag's environment twin.
func env(flag string) cli.ValueSourceChain { return cli.EnvVars(envName(flag)) }

func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{
			Name:    flagData,
			Usage:   "the node's data directory (identity, config, datastore)",
			Value:   defaultDataDir(),
			Sources: cli.EnvVars("ALLFORONE_PATH"),
		},
		&cli.BoolFlag{
			Name:    flagJSON,
			Usage:   "print machine-readable JSON instead of text",
			Sources: env(flagJSON),
		},
		&cli.StringFlag{
			Name:    flagLogLevel,
			Usage:   "log level: debug, info, warn or error",
			Value:   "info",
			Sources: env(flagLogLevel),
		},
		&cli.StringFlag{
			Name:    flagLogFormat,
			Usage:   "log format: text or json",
			Value:   "text",
			Sources: env(flagLogFormat),
		},
	}
}

// defaultDataDir is ~/.allforone, or ./.allforone when there is no home directory.
func defaultDataDir() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return ".allforone"
	}
	return filepath.Join(home, ".allforone")
}
