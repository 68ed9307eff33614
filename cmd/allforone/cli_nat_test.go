package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"allforone/node"
)

// initConfig runs init with args on a new data dir and returns the config it wrote and
// what init printed.
func initConfig(t *testing.T, args ...string) (node.Config, cliResult) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "node")
	r := runCLI(t, append([]string{"--data", dir, "init"}, args...)...)
	if r.code != 0 {
		t.Fatalf("init %v: exit %d: %s", args, r.code, r.stderr)
	}
	cfg, err := node.LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, r
}

func TestCLIInitPublicPreset(t *testing.T) {
	cfg, r := initConfig(t, "--public")
	def := node.DefaultConfig(cfg.DataDir)
	if cfg.DHTMode != node.DHTAuto || !cfg.NAT.PortMap || !cfg.NAT.RelayService || cfg.SwarmKeyFile != "" ||
		!slices.Equal(cfg.ListenAddrs, def.ListenAddrs) || cfg.NAT.PublicRendezvous {
		t.Fatalf("init --public wrote %+v", cfg)
	}
	if !strings.Contains(r.stdout, "bootstrap") || !strings.Contains(r.stdout, "Joining the public swarm") {
		t.Fatalf("init --public without --bootstrap says nothing about bootstrap peers:\n%s", r.stdout)
	}

	// Flags override the preset; with bootstrap peers there is nothing to add.
	const boot = "/ip4/127.0.0.1/tcp/4501/p2p/12D3KooWFuSQZTJRHUVAX6CuAhwXNaeBQddBW7Rah8fr94Eoqcvk"
	cfg, r = initConfig(t, "--public", "--dht-mode", "server", "--port-map=false", "--bootstrap", boot, "--listen", "/ip4/0.0.0.0/tcp/4601")
	if cfg.DHTMode != node.DHTServer || cfg.NAT.PortMap || !slices.Equal(cfg.BootstrapPeers, []string{boot}) ||
		!slices.Equal(cfg.ListenAddrs, []string{"/ip4/0.0.0.0/tcp/4601"}) {
		t.Fatalf("init --public with overrides wrote %+v", cfg)
	}
	if strings.Contains(r.stdout, "note:") {
		t.Fatalf("init --public with bootstrap peers still notes something:\n%s", r.stdout)
	}
}

func TestCLIInitPrivatePreset(t *testing.T) {
	cfg, r := initConfig(t, "--private", "--swarm", "lab")
	keyPath := filepath.Join(cfg.DataDir, node.SwarmKeyFile)
	key, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatalf("init --private made no swarm key: %v", err)
	}
	if _, err := node.DecodeSwarmKey(key); err != nil {
		t.Fatal(err)
	}
	if cfg.SwarmKeyFile != node.SwarmKeyFile || cfg.DHTMode != node.DHTAutoServer || cfg.NAT.PortMap || cfg.Swarm != "lab" {
		t.Fatalf("init --private wrote %+v", cfg)
	}
	for _, a := range cfg.ListenAddrs {
		if !strings.Contains(a, "/tcp/") {
			t.Fatalf("init --private listens on %s: a swarm key allows TCP only", a)
		}
	}
	if !strings.Contains(r.stdout, keyPath) || !strings.Contains(r.stdout, "copy it") {
		t.Fatalf("init --private does not say where the key is and what to do with it:\n%s", r.stdout)
	}

	// With --swarm-key the preset uses that key and makes none; --json says so.
	own := filepath.Join(t.TempDir(), "swarm.key")
	if r := runCLI(t, "swarm-key", own); r.code != 0 {
		t.Fatalf("swarm-key: %+v", r)
	}
	dir := filepath.Join(t.TempDir(), "node")
	r = runCLI(t, "--data", dir, "--json", "init", "--private", "--swarm-key", own)
	var out struct {
		Private     bool   `json:"private"`
		Preset      string `json:"preset"`
		NewSwarmKey string `json:"new_swarm_key"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &out) != nil || !out.Private || out.Preset != "private" || out.NewSwarmKey != "" {
		t.Fatalf("init --private --swarm-key: %+v", r)
	}
	want, _ := os.ReadFile(own)
	if got, _ := os.ReadFile(filepath.Join(dir, node.SwarmKeyFile)); !bytes.Equal(got, want) {
		t.Fatalf("init --private --swarm-key stored another key")
	}
}

func TestCLIInitPresetsExclusive(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "node")
	r := runCLI(t, "--data", dir, "init", "--public", "--private")
	if r.code != exitUsage || !strings.Contains(r.stderr, "choose one") {
		t.Fatalf("init --public --private: %+v", r)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused init left %s behind", dir)
	}
}

// The NAT flags and their environment twins end up in config.json, and config set
// changes nat.* keys (applied at restart).
func TestCLINATFlagsAndConfigKeys(t *testing.T) {
	const boot = "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWFuSQZTJRHUVAX6CuAhwXNaeBQddBW7Rah8fr94Eoqcvk"
	dir := filepath.Join(t.TempDir(), "node")
	r := runCLIEnv(t, []string{"ALLFORONE_PORT_MAP=true", "ALLFORONE_RENDEZVOUS_BOOTSTRAP=" + boot},
		"--data", dir, "init", "--listen", "/ip4/127.0.0.1/tcp/0", "--api", "127.0.0.1:0",
		"--reachability", "private", "--relay-service=false", "--auto-relay=false", "--hole-punching=false", "--public-rendezvous")
	if r.code != 0 {
		t.Fatalf("init with NAT flags: %+v", r)
	}
	cfg, err := node.LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := node.NATConfig{Reachability: node.ReachPrivate, PortMap: true, PublicRendezvous: true, RendezvousBootstrap: []string{boot},
		RelayMaxReservations: cfg.NAT.RelayMaxReservations, RelayMaxCircuits: cfg.NAT.RelayMaxCircuits}
	if !natEqual(cfg.NAT, want) {
		t.Fatalf("nat in config.json = %+v, want %+v", cfg.NAT, want)
	}
	if r := runCLI(t, "--data", dir, "init", "--reachability", "sometimes"); r.code != exitUsage || !strings.Contains(r.stderr, "reachability") {
		t.Fatalf("init --reachability sometimes: %+v", r)
	}
	if r := runCLI(t, "--data", dir, "config", "set", "nat.port_map", "false"); r.code != 0 {
		t.Fatalf("config set nat.port_map: %+v", r)
	}
	r = runCLI(t, "--data", dir, "config", "show")
	if r.code != 0 || !strings.Contains(r.stdout, "nat.port_map") || !strings.Contains(r.stdout, "# NAT") {
		t.Fatalf("config show has no nat keys: %+v", r)
	}
	if r := runCLI(t, "--data", dir, "config", "show", "nat.port_map"); strings.TrimSpace(r.stdout) != "false" {
		t.Fatalf("config show nat.port_map after set false: %+v", r)
	}
	if r := runCLI(t, "--data", dir, "config", "set", "nat.reachability", "sometimes"); r.code != exitUsage {
		t.Fatalf("config set nat.reachability sometimes: %+v", r)
	}
}

func natEqual(a, b node.NATConfig) bool {
	return a.Reachability == b.Reachability && a.RelayService == b.RelayService && a.AutoRelay == b.AutoRelay &&
		a.HolePunching == b.HolePunching && a.PortMap == b.PortMap && a.PublicRendezvous == b.PublicRendezvous &&
		a.RelayMaxReservations == b.RelayMaxReservations && a.RelayMaxCircuits == b.RelayMaxCircuits &&
		slices.Equal(a.RendezvousBootstrap, b.RendezvousBootstrap)
}
