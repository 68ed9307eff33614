package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"allforone/node"

	"github.com/urfave/cli/v3"
)

// subcommand finds a subcommand of the app by name.
func subcommand(t *testing.T, name string) *cli.Command {
	t.Helper()
	for _, c := range newApp().Commands {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no subcommand %q", name)
	return nil
}

// commandOnlyFlags are flags of init and daemon that are no config.json setting.
var commandOnlyFlags = map[string][]string{
	"init":   {flagPublic, flagPrivate, flagTestnet},
	"daemon": {flagTestnet},
}

// Every flag that the config table names is a flag of init and of daemon, of the type the
// setting's kind takes, with its environment twin; every other flag of those commands is
// one of their own (presets, testnet mode). flagRanges names only flags that exist.
func TestNodeFlagsFromConfigKeys(t *testing.T) {
	wantType := map[node.ConfigKind]reflect.Type{
		node.KindString:   reflect.TypeFor[*cli.StringFlag](),
		node.KindInt:      reflect.TypeFor[*cli.IntFlag](),
		node.KindBool:     reflect.TypeFor[*cli.BoolFlag](),
		node.KindDuration: reflect.TypeFor[*cli.DurationFlag](),
		node.KindList:     reflect.TypeFor[*cli.StringSliceFlag](),
	}
	table := map[string]node.ConfigKey{}
	for _, k := range node.ConfigKeys() {
		if k.Flag != "" {
			table[k.Flag] = k
		}
	}
	if len(table) < 25 {
		t.Fatalf("the config table names %d flags; expected the node flags (at least 25)", len(table))
	}
	for _, name := range []string{"init", "daemon"} {
		cmd := subcommand(t, name)
		have := map[string]cli.Flag{}
		for _, f := range cmd.Flags {
			have[f.Names()[0]] = f
		}
		for flag, k := range table {
			f, ok := have[flag]
			if !ok {
				t.Errorf("%s has no --%s (config key %s)", name, flag, k.Key)
				continue
			}
			if got := reflect.TypeOf(f); got != wantType[k.Kind()] {
				t.Errorf("%s --%s is a %s; config key %s is a %s and wants a %s", name, flag, got, k.Key, k.Kind(), wantType[k.Kind()])
			}
			if envs := flagEnvKeys(f); !slices.Equal(envs, []string{k.Env()}) {
				t.Errorf("%s --%s reads %v from the environment, want [%s]", name, flag, envs, k.Env())
			}
			if u := f.(cli.DocGenerationFlag).GetUsage(); !strings.HasPrefix(u, k.Doc) {
				t.Errorf("%s --%s usage %q is not the doc of %s", name, flag, u, k.Key)
			}
		}
		for flag := range have {
			if _, ok := table[flag]; !ok && !slices.Contains(commandOnlyFlags[name], flag) {
				t.Errorf("%s --%s is neither in node/internal/config/keys.go nor one of %s's own flags: a setting's flag belongs in the config table", name, flag, name)
			}
		}
	}
	all := map[string]bool{}
	var walk func(*cli.Command)
	walk = func(c *cli.Command) {
		for _, f := range c.Flags {
			all[f.Names()[0]] = true
		}
		for _, s := range c.Commands {
			walk(s)
		}
	}
	walk(newApp())
	for flag := range flagRanges {
		if !all[flag] {
			t.Errorf("flagRanges names --%s, which no command has", flag)
		}
	}
}

// flagEnvKeys are the environment variables a flag reads.
func flagEnvKeys(f cli.Flag) []string {
	v := reflect.ValueOf(f).Elem().FieldByName("Sources")
	if !v.IsValid() {
		return nil
	}
	src := v.Interface().(cli.ValueSourceChain)
	return src.EnvKeys()
}

// probeFlags runs the daemon's flags over the config.json in dir, as daemon does, and
// returns the config it would run with and the preferences a reload would keep.
func probeFlags(t *testing.T, dir string, args ...string) (node.Config, node.Prefs) {
	t.Helper()
	var cfg node.Config
	var reloaded node.Prefs
	probe := &cli.Command{
		Name:  "probe",
		Flags: subcommand(t, "daemon").Flags,
		Action: func(ctx context.Context, cmd *cli.Command) error {
			var err error
			if cfg, err = node.LoadConfig(cmd.String(flagData)); err != nil {
				return err
			}
			reloaded = cfg.Prefs
			prefsOverride(cmd)(&reloaded)
			return applyNodeFlags(cmd, &cfg)
		},
	}
	app := &cli.Command{Name: "allforone", Flags: globalFlags(), Commands: []*cli.Command{probe}, Writer: &bytes.Buffer{}, ErrWriter: &bytes.Buffer{}}
	if err := app.Run(t.Context(), append([]string{"allforone", "--data", dir, "probe"}, args...)); err != nil {
		t.Fatalf("probe %v: %v", args, err)
	}
	return cfg, reloaded
}

// flagText is k's value in c as a flag or environment variable takes it ("" for an empty
// value, which an environment variable cannot set).
func flagText(k node.ConfigKey, c node.Config) string {
	if k.Kind() == node.KindList {
		var list []string
		if err := json.Unmarshal(k.Value(c), &list); err != nil {
			panic(err)
		}
		return strings.Join(list, ",")
	}
	if s := k.Format(c); s != `""` {
		return s
	}
	return ""
}

// Precedence for every setting with a flag: defaults < config.json < environment < flags,
// and a reload of config.json keeps the preferences that flags (or their twins) set.
func TestNodeFlagsPrecedence(t *testing.T) {
	for _, kv := range os.Environ() { // a developer's settings must not leak in
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "ALLFORONE_") {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
	dir := t.TempDir()
	defaults := node.DefaultConfig(dir)
	file := defaults
	var pairs [][2]string
	var flagged []node.ConfigKey
	for _, k := range node.ConfigKeys() {
		if k.Flag != "" {
			pairs = append(pairs, [2]string{k.Key, k.Example})
			flagged = append(flagged, k)
		}
	}
	if err := node.SetConfigValues(&file, pairs...); err != nil {
		t.Fatalf("every example in config.json: %v", err)
	}
	if err := file.Save(); err != nil {
		t.Fatal(err)
	}

	got, reloaded := probeFlags(t, dir)
	for _, k := range flagged {
		if a, b := k.Value(got), k.Value(file); !bytes.Equal(a, b) {
			t.Errorf("no flags: %s = %s, want config.json's %s", k.Key, a, b)
		}
	}
	if !reflect.DeepEqual(reloaded, file.Prefs) {
		t.Errorf("no flags: a reload keeps %+v, want config.json's %+v", reloaded, file.Prefs)
	}

	// The environment sets every setting back to its default, where a variable can.
	var envSet []node.ConfigKey
	for _, k := range flagged {
		if text := flagText(k, defaults); text != "" {
			t.Setenv(k.Env(), text)
			envSet = append(envSet, k)
		}
	}
	if len(envSet) < 20 {
		t.Fatalf("only %d settings have a non-empty default to set by environment", len(envSet))
	}
	got, reloaded = probeFlags(t, dir)
	for _, k := range envSet {
		if a, b := k.Value(got), k.Value(defaults); !bytes.Equal(a, b) {
			t.Errorf("%s=%s: %s = %s, want %s (environment over config.json)", k.Env(), flagText(k, defaults), k.Key, a, b)
		}
	}
	if reloaded.Retention != defaults.Prefs.Retention || reloaded.CPUBusyPercent != defaults.Prefs.CPUBusyPercent {
		t.Errorf("a reload after the environment set prefs: %+v, want the environment's values", reloaded)
	}

	// Flags set the examples again, over the environment.
	var args []string
	for _, k := range flagged {
		args = append(args, "--"+k.Flag+"="+flagText(k, file))
	}
	got, reloaded = probeFlags(t, dir, args...)
	for _, k := range flagged {
		if a, b := k.Value(got), k.Value(file); !bytes.Equal(a, b) {
			t.Errorf("--%s=%s: %s = %s, want %s (flag over environment)", k.Flag, flagText(k, file), k.Key, a, b)
		}
	}
	if !reflect.DeepEqual(reloaded, file.Prefs) {
		t.Errorf("a reload after flags set prefs: %+v, want the flags' %+v", reloaded, file.Prefs)
	}
	if got.ShutdownTimeout != defaults.ShutdownTimeout || got.RepairGrace != defaults.RepairGrace {
		t.Errorf("settings without a flag changed: shutdown %s, repair grace %s", got.ShutdownTimeout, got.RepairGrace)
	}
}

// --testnet-mode sets its own timers and limits over config.json, and a flag given with it
// still wins.
func TestTestnetModeYieldsToFlags(t *testing.T) {
	dir := t.TempDir()
	file := node.DefaultConfig(dir)
	if err := file.Save(); err != nil {
		t.Fatal(err)
	}
	want := node.TestConfig(dir).Prefs.CPUBusyPercent
	if want == file.Prefs.CPUBusyPercent {
		t.Fatalf("the test needs config.json's cpu busy percent (%d) to differ from the testnet's", want)
	}
	if cfg, reloaded := probeFlags(t, dir, "--testnet-mode"); cfg.Prefs.CPUBusyPercent != want || !cfg.UnlimitedResources || reloaded.CPUBusyPercent != want {
		t.Fatalf("--testnet-mode: cpu busy percent %d, after a reload of config.json %d (want %d); unlimited resources %v",
			cfg.Prefs.CPUBusyPercent, reloaded.CPUBusyPercent, want, cfg.UnlimitedResources)
	}
	if cfg, reloaded := probeFlags(t, dir, "--testnet-mode", "--cpu-busy-percent", "37"); cfg.Prefs.CPUBusyPercent != 37 || reloaded.CPUBusyPercent != 37 {
		t.Fatalf("--testnet-mode --cpu-busy-percent 37: %d, after a reload %d", cfg.Prefs.CPUBusyPercent, reloaded.CPUBusyPercent)
	}
}
