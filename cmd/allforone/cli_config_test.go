package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"allforone/node"
)

// Through the built binary: one config set with every key of the table (its example) saves
// them all, config show --json reads each one back, config show KEY prints it as the table
// formats it, and the text of config show names every key with its flag.
func TestCLIConfigSetEveryKey(t *testing.T) {
	dir := initNode(t)
	args := []string{"--data", dir, "--json", "config", "set"}
	want := node.DefaultConfig(dir)
	var pairs [][2]string
	for _, k := range node.ConfigKeys() {
		args = append(args, k.ShortKey(), k.Example)
		pairs = append(pairs, [2]string{k.Key, k.Example})
	}
	if err := node.SetConfigValues(&want, pairs...); err != nil {
		t.Fatalf("the examples together: %v", err)
	}
	r := runCLI(t, args...)
	var out struct {
		Set     []struct{ Key string }
		Applied string
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &out) != nil || len(out.Set) != len(node.ConfigKeys()) || out.Applied != "not-running" {
		t.Fatalf("config set every key: %+v", r)
	}
	r = runCLI(t, "--data", dir, "--json", "config", "show")
	var got node.Config
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &got) != nil {
		t.Fatalf("config show --json: %+v", r)
	}
	for _, k := range node.ConfigKeys() {
		if a, b := k.Value(got), k.Value(want); !bytes.Equal(a, b) {
			t.Errorf("after config set, %s = %s, want %s", k.Key, a, b)
		}
	}
	for _, key := range []string{"shutdown_timeout", "api_insecure", "nat.rendezvous_bootstrap", "retention"} {
		k, _ := node.LookupConfigKey(key)
		if r := runCLI(t, "--data", dir, "config", "show", key); r.code != 0 || strings.TrimSpace(r.stdout) != k.Format(want) {
			t.Errorf("config show %s: %+v, want %q", key, r, k.Format(want))
		}
	}
	r = runCLI(t, "--data", dir, "config", "show")
	if r.code != 0 {
		t.Fatalf("config show: %+v", r)
	}
	for _, k := range node.ConfigKeys() {
		if !strings.Contains(r.stdout, "\n  "+k.ShortKey()+" ") {
			t.Errorf("config show has no line for %s", k.ShortKey())
		}
		if k.Flag != "" && !strings.Contains(r.stdout, "flag --"+k.Flag+";") {
			t.Errorf("config show does not name --%s for %s", k.Flag, k.Key)
		}
	}
	if strings.Count(r.stdout, "# preferences\n") != 1 {
		t.Errorf("config show prints the preferences heading %d times, want once", strings.Count(r.stdout, "# preferences\n"))
	}
	for _, bad := range [][]string{{"slots"}, {"slots", "2", "retention"}, {}} {
		if r := runCLI(t, append([]string{"--data", dir, "config", "set"}, bad...)...); r.code != exitUsage || !strings.Contains(r.stderr, "KEY VALUE pairs") {
			t.Errorf("config set %q: %+v, want exit %d and the usage", bad, r, exitUsage)
		}
	}
	if r := runCLI(t, "--data", dir, "config", "set", "api_tls_cert", ""); r.code != exitUsage || !strings.Contains(r.stderr, "api_tls_key FILE") {
		t.Errorf("config set api_tls_cert alone: %+v, want exit %d saying to set both", r, exitUsage)
	}
}
