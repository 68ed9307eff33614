package main

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCLIThreeDaemonsThroughTheAPI(t *testing.T) {
	a := initNode(t)
	startDaemon(t, a)
	var idA struct {
		PeerID string   `json:"peer_id"`
		Addrs  []string `json:"addrs"`
	}
	r := runCLI(t, "--data", a, "id", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &idA); err != nil || idA.PeerID == "" || len(idA.Addrs) == 0 {
		t.Fatalf("id --json: %v: %q", err, r.stdout)
	}
	b := initNode(t, "--bootstrap", idA.Addrs[0])
	c := initNode(t, "--bootstrap", idA.Addrs[0])
	startDaemon(t, b)
	startDaemon(t, c)

	// Every node ends up seeing the other two.
	for _, dir := range []string{a, b, c} {
		deadline := time.Now().Add(30 * time.Second)
		for {
			var peers []struct {
				PeerID string `json:"peer_id"`
			}
			r := runCLI(t, "--data", dir, "peers", "--json")
			if r.code != 0 {
				t.Fatalf("peers: exit %d: %s", r.code, r.stderr)
			}
			if err := json.Unmarshal([]byte(r.stdout), &peers); err != nil {
				t.Fatalf("peers --json is not a JSON list: %v: %q", err, r.stdout)
			}
			if len(peers) >= 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %s sees %d peers after 30s, want 2", dir, len(peers))
			}
			time.Sleep(100 * time.Millisecond) // polling interval
		}
	}

	// The API refuses requests without the token, and with a wrong one.
	addr, _ := os.ReadFile(filepath.Join(a, "api"))
	url := "http://" + strings.TrimSpace(string(addr)) + "/api/v1/peers"
	for _, auth := range []string{"", "Bearer nope"} {
		req, _ := http.NewRequest("GET", url, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET peers with Authorization %q: %d, want 401", auth, resp.StatusCode)
		}
	}
	// Text output names the peers too.
	if r := runCLI(t, "--data", a, "peers"); !strings.Contains(r.stdout, "2 peers") {
		t.Errorf("peers text output: %q", r.stdout)
	}
}

func TestCLIBadInput(t *testing.T) {
	cases := []struct {
		name string
		args func(t *testing.T) []string
		code int
		want string
	}{
		{"malformed listen multiaddr", func(t *testing.T) []string {
			return []string{"--data", filepath.Join(t.TempDir(), "n"), "init", "--listen", "/ip4/999.1.1.1/tcp/1"}
		}, exitUsage, "not a multiaddr"},
		{"bootstrap without peer ID", func(t *testing.T) []string {
			return []string{"--data", filepath.Join(t.TempDir(), "n"), "init", "--bootstrap", "/ip4/127.0.0.1/tcp/4501"}
		}, exitUsage, "has no peer ID"},
		{"daemon on a missing data dir", func(t *testing.T) []string {
			return []string{"--data", filepath.Join(t.TempDir(), "missing"), "daemon"}
		}, exitUsage, "allforone init"},
		{"swarm key in the wrong format", func(t *testing.T) []string {
			key := filepath.Join(t.TempDir(), "swarm.key")
			os.WriteFile(key, []byte("not a key\n"), 0o600)
			return []string{"--data", filepath.Join(t.TempDir(), "n"), "init", "--swarm-key", key}
		}, exitFailure, "swarm.key format"},
		{"bad swarm name", func(t *testing.T) []string {
			return []string{"--data", filepath.Join(t.TempDir(), "n"), "init", "--swarm", "Not Valid"}
		}, exitUsage, "swarm name"},
		{"id without a daemon", func(t *testing.T) []string {
			return []string{"--data", initNode(t), "id"}
		}, exitUnavailable, "allforone daemon"},
		{"unknown flag", func(t *testing.T) []string {
			return []string{"version", "--bogus"}
		}, exitUsage, "bogus"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, tc.args(t)...)
			if r.code != tc.code {
				t.Errorf("exit code %d, want %d (stderr %q)", r.code, tc.code, r.stderr)
			}
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr %q does not say %q", r.stderr, tc.want)
			}
		})
	}
}

func TestCLIInitNeverClobbers(t *testing.T) {
	dir := initNode(t)
	before, _ := os.ReadFile(filepath.Join(dir, "identity.key"))
	r := runCLI(t, "--data", dir, "init")
	if r.code == 0 || !strings.Contains(r.stderr, "already initialized") {
		t.Fatalf("second init: exit %d, stderr %q", r.code, r.stderr)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "identity.key"))
	if string(before) != string(after) {
		t.Fatal("second init changed the identity key")
	}
	// A failed init with a bad swarm key leaves no half-made data dir behind.
	key := filepath.Join(t.TempDir(), "bad.key")
	os.WriteFile(key, []byte("/key/swarm/psk/1.0.0/\n/base16/\nzz\n"), 0o600)
	fresh := filepath.Join(t.TempDir(), "fresh")
	if r := runCLI(t, "--data", fresh, "init", "--swarm-key", key); r.code == 0 {
		t.Fatal("init with a bad swarm key succeeded")
	}
	if _, err := os.Stat(filepath.Join(fresh, "identity.key")); err == nil {
		t.Fatal("failed init left an identity behind")
	}
}

func TestCLICorruptIdentity(t *testing.T) {
	dir := initNode(t)
	path := filepath.Join(dir, "identity.key")
	os.WriteFile(path, []byte("garbage!\n"), 0o600)
	r := runCLI(t, "--data", dir, "daemon")
	if r.code != exitFailure || !strings.Contains(r.stderr, "corrupt") || !strings.Contains(r.stderr, "allforone init") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if b, _ := os.ReadFile(path); string(b) != "garbage!\n" {
		t.Fatal("the corrupt key was overwritten")
	}
}

func TestCLIAPIPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := initNode(t)
	r := runCLI(t, "--data", dir, "daemon", "--api", ln.Addr().String())
	if r.code != exitFailure || !strings.Contains(r.stderr, "already in use") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestCLISwarmKeyNeverOverwrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "swarm.key")
	if r := runCLI(t, "swarm-key", path); r.code != 0 {
		t.Fatalf("swarm-key: %d %s", r.code, r.stderr)
	}
	first, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(first), "/key/swarm/psk/1.0.0/\n/base16/\n") {
		t.Fatalf("swarm key format: %q", first)
	}
	if r := runCLI(t, "swarm-key", path); r.code != exitUsage {
		t.Fatalf("second swarm-key: exit %d", r.code)
	}
	if again, _ := os.ReadFile(path); string(again) != string(first) {
		t.Fatal("swarm key overwritten")
	}
	// And a private node starts with it.
	dir := initNode(t, "--swarm-key", path)
	startDaemon(t, dir)
	r := runCLI(t, "--data", dir, "id", "--json")
	if !strings.Contains(r.stdout, `"private": true`) {
		t.Fatalf("id of a private node: %s", r.stdout)
	}
}
