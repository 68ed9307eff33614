package main

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"allforone/node"
)

// doctorRun runs `doctor --json` on dir and returns its checks by name (the last line of
// each name wins, except that a FAIL is never hidden by a later line).
func doctorRun(t *testing.T, dir string) (map[string]checkResult, cliResult) {
	t.Helper()
	r := runCLI(t, "--data", dir, "--json", "doctor")
	var list []checkResult
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
		t.Fatalf("doctor --json: %v: %+v", err, r)
	}
	checks := make(map[string]checkResult)
	for _, c := range list {
		if checks[c.Check].Status != statusFail {
			checks[c.Check] = c
		}
	}
	return checks, r
}

func TestDoctorFreshDataDir(t *testing.T) {
	dir := initNode(t)
	checks, r := doctorRun(t, dir)
	if r.code != 0 {
		t.Fatalf("doctor on a fresh data dir: exit %d: %+v", r.code, r)
	}
	for name, c := range checks {
		if c.Status == statusFail {
			t.Errorf("%s: FAIL %s", name, c.Detail)
		}
	}
	for _, name := range []string{"data dir", "format", "identity", "config", "swarm key", "listen", "clock"} {
		if checks[name].Status != statusOK {
			t.Errorf("%s: %+v, want ok", name, checks[name])
		}
	}
	if c := checks["daemon"]; c.Status != statusWarn || c.Fix == "" {
		t.Errorf("daemon: %+v, want a warning that it does not run, with the fix", c)
	}
	if c := checks["bootstrap"]; c.Status != statusWarn {
		t.Errorf("bootstrap without peers nor rendezvous: %+v, want a warning", c)
	}
	// The text form prints one line per check and a summary.
	r = runCLI(t, "--data", dir, "doctor")
	if r.code != 0 || !strings.Contains(r.stdout, "warn  daemon") || !strings.Contains(r.stdout, "0 failed") {
		t.Fatalf("doctor text: %+v", r)
	}
}

func TestDoctorFindsFaults(t *testing.T) {
	// A corrupt config.
	dir := initNode(t)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte("{\"swarm\": "), 0o600); err != nil {
		t.Fatal(err)
	}
	checks, r := doctorRun(t, dir)
	if r.code != exitFailure || checks["config"].Status != statusFail || !strings.Contains(checks["config"].Detail, "not valid JSON") {
		t.Fatalf("doctor on a corrupt config: exit %d, config %+v", r.code, checks["config"])
	}

	// A listen port taken by another program, an unreachable bootstrap peer, a missing
	// swarm key.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	gone, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone.Close()
	dir = initNode(t, "--bootstrap", "/ip4/127.0.0.1/tcp/"+portOf(gone.Addr())+"/p2p/12D3KooWFuSQZTJRHUVAX6CuAhwXNaeBQddBW7Rah8fr94Eoqcvk")
	for _, kv := range [][2]string{{"listen", "/ip4/127.0.0.1/tcp/" + portOf(l.Addr())}, {"swarm_key_file", "missing.key"}} {
		if r := runCLI(t, "--data", dir, "config", "set", kv[0], kv[1]); r.code != 0 {
			t.Fatalf("config set %s: %+v", kv[0], r)
		}
	}
	checks, r = doctorRun(t, dir)
	if r.code != exitFailure {
		t.Fatalf("doctor with faults: exit %d: %+v", r.code, r)
	}
	for _, name := range []string{"listen", "bootstrap", "swarm key"} {
		if c := checks[name]; c.Status != statusFail || c.Fix == "" {
			t.Errorf("%s: %+v, want FAIL with a fix", name, c)
		}
	}

	// No data dir at all.
	checks, r = doctorRun(t, filepath.Join(t.TempDir(), "nothing"))
	if r.code != exitFailure || checks["data dir"].Status != statusFail {
		t.Fatalf("doctor without a data dir: exit %d, %+v", r.code, checks)
	}
}

func portOf(a net.Addr) string {
	_, port, _ := net.SplitHostPort(a.String())
	return port
}

// With daemons running: a node bootstrapped from another one is connected, its bootstrap
// peer answers, and the daemon's state is reported.
func TestDoctorWithARunningDaemon(t *testing.T) {
	first := initNode(t)
	startDaemon(t, first)
	r := runCLI(t, "--data", first, "--json", "id")
	var id struct{ Addrs []string }
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &id) != nil || len(id.Addrs) == 0 {
		t.Fatalf("id of the first node: %+v", r)
	}
	dir := initNode(t, "--bootstrap", id.Addrs[0])
	startDaemon(t, dir)
	deadline := time.Now().Add(30 * time.Second)
	var checks map[string]checkResult
	for {
		checks, r = doctorRun(t, dir)
		if checks["peers"].Status == statusOK || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond) // polling interval
	}
	if r.code != 0 {
		t.Fatalf("doctor with a running daemon: exit %d: %+v", r.code, r)
	}
	for _, name := range []string{"daemon", "peers", "bootstrap", "listen", "reachability", "dht", "clock"} {
		if checks[name].Status != statusOK {
			t.Errorf("%s: %+v, want ok", name, checks[name])
		}
	}
	if !strings.Contains(checks["listen"].Detail, "running daemon") || !strings.Contains(checks["bootstrap"].Detail, "answers") {
		t.Errorf("listen %q, bootstrap %q", checks["listen"].Detail, checks["bootstrap"].Detail)
	}
}

// What doctor says about reachability, relays and the DHT mode, for each answer of a daemon.
func TestDoctorReachability(t *testing.T) {
	cfg := node.DefaultConfig(t.TempDir())
	for _, tc := range []struct {
		info node.IDInfo
		want map[string]string // check -> status
	}{
		{node.IDInfo{Reachability: "public", DHTServer: true}, map[string]string{"reachability": statusOK, "dht": statusOK}},
		{node.IDInfo{Reachability: "private"}, map[string]string{"reachability": statusWarn, "relays": statusWarn, "dht": statusOK}},
		{node.IDInfo{Reachability: "private", Relays: []string{"12D3KooWRelay"}}, map[string]string{"reachability": statusWarn, "relays": statusOK}},
		{node.IDInfo{Reachability: "unknown", DHTServer: true}, map[string]string{"reachability": statusOK, "dht": statusOK}},
		{node.IDInfo{}, map[string]string{}}, // a daemon too old to say
	} {
		d := &doctor{}
		d.checkReachability(cfg, true, tc.info)
		got := make(map[string]string)
		for _, r := range d.results {
			got[r.Check] = r.Status
			if r.Status != statusOK && r.Fix == "" {
				t.Errorf("%+v: %s %s without a fix", tc.info, r.Status, r.Check)
			}
		}
		for check, status := range tc.want {
			if got[check] != status {
				t.Errorf("%+v: %s is %q, want %q (%+v)", tc.info, check, got[check], status, d.results)
			}
		}
		if len(tc.want) == 0 && len(got) > 0 {
			t.Errorf("a daemon without reachability: %+v", d.results)
		}
	}
	d := &doctor{}
	d.checkReachability(node.Config{NAT: node.NATConfig{AutoRelay: false}}, true, node.IDInfo{Reachability: "private"})
	if r := d.results[1]; r.Check != "relays" || !strings.Contains(r.Detail, "auto_relay is off") {
		t.Errorf("private with auto_relay off: %+v", d.results)
	}
}
