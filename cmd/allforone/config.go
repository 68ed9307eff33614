package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"allforone/node"

	"github.com/urfave/cli/v3"
)

func configCmd() *cli.Command {
	return &cli.Command{
		Name:  "config",
		Usage: "show or change the node's config.json (preferences included)",
		Description: "config.json in the data dir holds the node's settings; \"prefs\" in it holds the\n" +
			"volunteer's preferences. `config set` checks a value before it saves it; the running\n" +
			"daemon applies a preference at once, and other keys when it restarts.",
		Commands: []*cli.Command{configShowCmd(), configSetCmd()},
	}
}

func loadConfigFor(cmd *cli.Command) (node.Config, error) {
	cfg, err := node.LoadConfig(cmd.String(flagData))
	if errors.Is(err, node.ErrNotInitialized) {
		return cfg, usageError{err}
	}
	return cfg, err
}

func configShowCmd() *cli.Command {
	return &cli.Command{
		Name:      "show",
		Usage:     "print every key with its value and what it does, or one key's value",
		ArgsUsage: "[KEY]",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Args().Len() > 1 {
				return usagef("config show takes at most one KEY")
			}
			cfg, err := loadConfigFor(cmd)
			if err != nil {
				return err
			}
			if key := cmd.Args().First(); key != "" {
				v, err := node.ConfigValue(cfg, key)
				if err != nil {
					return usageError{err}
				}
				return printOut(cmd, v, func(p *printer) { p.f("%s", plainValue(v)) })
			}
			return printOut(cmd, cfg, func(p *printer) {
				section := ""
				for _, k := range node.ConfigKeys() {
					v, _ := node.ConfigValue(cfg, k.Key)
					if s := sectionOf(k.Key); s != section {
						section = s
						p.f("%s", section)
					}
					when := "at restart"
					if k.Live {
						when = "at once"
					}
					p.f("  %-26s %s", strings.TrimPrefix(k.Key, "prefs."), plainValue(v))
					p.f("  %-26s # %s; applies %s", "", k.Doc, when)
				}
			})
		},
	}
}

func sectionOf(key string) string {
	switch {
	case strings.HasPrefix(key, "prefs."), key == "slots", key == "max_task_memory_mb":
		return "# preferences"
	case strings.HasPrefix(key, "nat."):
		return "# NAT traversal (nat.*)"
	default:
		return "# network"
	}
}

// plainValue prints a JSON value for people: strings without quotes, lists comma-separated.
func plainValue(raw json.RawMessage) string {
	if string(raw) == "null" {
		return "(none)"
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s == "" {
			return `""`
		}
		return s
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		if len(list) == 0 {
			return "(none)"
		}
		return strings.Join(list, ", ")
	}
	return string(raw)
}

func configSetCmd() *cli.Command {
	return &cli.Command{
		Name:      "set",
		Usage:     "change one key of config.json (checked before it is saved)",
		ArgsUsage: "KEY VALUE",
		Description: "KEY is as `config show` prints it (\"schedule\" or \"prefs.schedule\"). VALUE is text,\n" +
			"a number, true/false, a duration like 30s, or a comma-separated list.\n" +
			"Examples: config set slots 3; config set schedule \"18:00-08:00\"; config set bootstrap \"\"",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Args().Len() != 2 {
				return usagef("config set takes KEY VALUE, e.g. `allforone config set slots 2`")
			}
			key, value := cmd.Args().Get(0), cmd.Args().Get(1)
			cfg, err := loadConfigFor(cmd)
			if err != nil {
				return err
			}
			k, err := node.LookupConfigKey(key)
			if err != nil {
				return usageError{err}
			}
			if err := node.SetConfigValue(&cfg, key, value); err != nil {
				return usageError{err}
			}
			if err := cfg.Save(); err != nil {
				return err
			}
			v, _ := node.ConfigValue(cfg, k.Key)
			out := struct {
				Key     string          `json:"key"`
				Value   json.RawMessage `json:"value"`
				Applied string          `json:"applied"` // now, restart, or not-running
			}{Key: k.Key, Value: v}
			switch c, err := node.NewClient(cmd.String(flagData)); {
			case err != nil:
				out.Applied = "not-running"
			case !k.Live:
				out.Applied = "restart"
			default:
				if _, err := c.ReloadPrefs(ctx); err != nil {
					if errors.Is(err, node.ErrDaemonNotRunning) {
						out.Applied = "not-running"
					} else {
						return err
					}
				} else {
					out.Applied = "now"
				}
			}
			return printOut(cmd, out, func(p *printer) {
				p.f("%s = %s", strings.TrimPrefix(k.Key, "prefs."), plainValue(v))
				switch out.Applied {
				case "now":
					p.f("the running daemon applied it")
				case "restart":
					p.f("saved; restart the daemon to apply it")
				default:
					p.f("saved; the daemon uses it when it starts")
				}
			})
		},
	}
}
