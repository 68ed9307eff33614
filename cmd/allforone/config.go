package main

import (
	"context"
	"encoding/json"
	"errors"

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
				k, err := node.LookupConfigKey(key)
				if err != nil {
					return usageError{err}
				}
				return printOut(cmd, k.Value(cfg), func(p *printer) { p.f("%s", k.Format(cfg)) })
			}
			return printOut(cmd, cfg, func(p *printer) {
				section := ""
				for _, k := range node.ConfigKeys() {
					if k.Section != section {
						section = k.Section
						p.f("# %s", section)
					}
					p.f("  %-26s %s", k.ShortKey(), k.Format(cfg))
					p.f("  %-26s # %s", "", keyNote(k))
				}
			})
		},
	}
}

// keyNote is what config show says under a key: what it does, its default, its flag and
// when the daemon applies a change.
func keyNote(k node.ConfigKey) string {
	note := k.Doc + "; default " + k.DefaultText()
	if k.Flag != "" {
		note += "; flag --" + k.Flag
	}
	if k.Live {
		return note + "; applies at once"
	}
	return note + "; applies at restart"
}

func configSetCmd() *cli.Command {
	return &cli.Command{
		Name:      "set",
		Usage:     "change keys of config.json (checked before they are saved)",
		ArgsUsage: "KEY VALUE [KEY VALUE ...]",
		Description: "KEY is as `config show` prints it (\"schedule\" or \"prefs.schedule\"). VALUE is text,\n" +
			"a number, true/false, a duration like 30s, or a comma-separated list (\"\" for none).\n" +
			"Several pairs are checked and saved together, for keys that go together.\n" +
			"Examples: config set slots 3; config set schedule \"18:00-08:00\"; config set bootstrap \"\";\n" +
			"config set api_tls_cert api.crt api_tls_key api.key",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			args := cmd.Args().Slice()
			if len(args) == 0 || len(args)%2 != 0 {
				return usagef("config set takes KEY VALUE pairs, e.g. `allforone config set slots 2`")
			}
			cfg, err := loadConfigFor(cmd)
			if err != nil {
				return err
			}
			var keys []node.ConfigKey
			var pairs [][2]string
			allLive, anyLive := true, false
			for i := 0; i < len(args); i += 2 {
				k, err := node.LookupConfigKey(args[i])
				if err != nil {
					return usageError{err}
				}
				keys, pairs = append(keys, k), append(pairs, [2]string{args[i], args[i+1]})
				allLive, anyLive = allLive && k.Live, anyLive || k.Live
			}
			if err := node.SetConfigValues(&cfg, pairs...); err != nil {
				return usageError{err}
			}
			if err := cfg.Save(); err != nil {
				return err
			}
			type keyValue struct {
				Key   string          `json:"key,omitempty"`
				Value json.RawMessage `json:"value,omitempty"`
			}
			out := struct {
				keyValue            // the key set, when there was one
				Set      []keyValue `json:"set"`
				Applied  string     `json:"applied"`            // now, restart, or not-running
				Reloaded bool       `json:"reloaded,omitempty"` // restart, but the preferences among the keys are applied
			}{}
			for _, k := range keys {
				out.Set = append(out.Set, keyValue{k.Key, k.Value(cfg)})
			}
			if len(out.Set) == 1 {
				out.keyValue = out.Set[0]
			}
			// The daemon reloads the preferences (the live keys) at once; other keys wait
			// for its restart.
			switch c, err := node.NewClient(cmd.String(flagData)); {
			case err != nil:
				out.Applied = "not-running"
			case anyLive:
				switch _, err := c.ReloadPrefs(ctx); {
				case errors.Is(err, node.ErrDaemonNotRunning):
					out.Applied = "not-running"
				case err != nil:
					return err
				case allLive:
					out.Applied = "now"
				default:
					out.Applied, out.Reloaded = "restart", true
				}
			default:
				out.Applied = "restart"
			}
			return printOut(cmd, out, func(p *printer) {
				for _, k := range keys {
					p.f("%s = %s", k.ShortKey(), k.Format(cfg))
				}
				switch out.Applied {
				case "now":
					p.f("the running daemon applied it")
				case "restart":
					if out.Reloaded {
						p.f("saved; the running daemon applied the preferences; restart it to apply the rest")
					} else {
						p.f("saved; restart the daemon to apply it")
					}
				default:
					p.f("saved; the daemon uses it when it starts")
				}
			})
		},
	}
}
