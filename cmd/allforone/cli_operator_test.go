package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"allforone/node"
)

// config, why and dashboard through the built binary: set checks values, a running daemon
// applies a preference at once, why explains, dashboard prints a working address.
func TestCLIConfigWhyDashboard(t *testing.T) {
	dir := initNode(t, "--slots", "1", "--schedule", "18:00-08:00")
	if r := runCLI(t, "--data", dir, "config", "show", "schedule"); r.code != 0 || strings.TrimSpace(r.stdout) != "18:00-08:00" {
		t.Fatalf("init --schedule not saved: %+v", r)
	}
	if r := runCLI(t, "--data", dir, "config", "set", "schedule", "25:00-26:00"); r.code != exitUsage || !strings.Contains(r.stderr, "HH:MM") && !strings.Contains(r.stderr, "24:00") {
		t.Fatalf("bad schedule: %+v", r)
	}
	if r := runCLI(t, "--data", dir, "config", "set", "colour", "blue"); r.code != exitUsage || !strings.Contains(r.stderr, "no config key") {
		t.Fatalf("unknown key: %+v", r)
	}
	if r := runCLI(t, "--data", dir, "config", "show"); r.code != 0 || !strings.Contains(r.stdout, "cpu_busy_percent") || !strings.Contains(r.stdout, "# preferences") {
		t.Fatalf("config show: %+v", r)
	}
	if r := runCLI(t, "--data", dir, "why"); r.code != exitUnavailable {
		t.Fatalf("why without a daemon: exit %d, want %d", r.code, exitUnavailable)
	}
	startDaemon(t, dir)
	r := runCLI(t, "--data", dir, "--json", "config", "set", "schedule", "")
	var set struct{ Applied string }
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &set) != nil || set.Applied != "now" {
		t.Fatalf("config set with a daemon: %+v", r)
	}
	if r := runCLI(t, "--data", dir, "config", "set", "slots", "2"); r.code != 0 || !strings.Contains(r.stdout, "restart") {
		t.Fatalf("config set slots: %+v", r)
	}
	r = runCLI(t, "--data", dir, "--json", "config", "set", "retention", "48h", "slots", "3")
	var mixed struct {
		Applied  string
		Reloaded bool
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &mixed) != nil || mixed.Applied != "restart" || !mixed.Reloaded {
		t.Fatalf("config set of a preference and a restart key with a daemon: %+v, want applied restart, reloaded", r)
	}
	var prefs node.PrefsInfo
	if c, err := node.NewClient(dir); err != nil || c.Get(t.Context(), "/api/v1/prefs", &prefs) != nil || prefs.Retention != node.Duration(48*time.Hour) || prefs.Slots == 3 {
		t.Fatalf("the daemon's preferences after the mixed set: %+v, %v; want retention 48h in force and slots as it started", prefs, err)
	}
	r = runCLI(t, "--data", dir, "--json", "why")
	var why struct {
		Reasons []struct{ Code, Fix string }
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &why) != nil || len(why.Reasons) == 0 || why.Reasons[0].Code != "no_peers" {
		t.Fatalf("why of a lone daemon: %+v", r)
	}
	if r := runCLI(t, "--data", dir, "why"); r.code != 0 || !strings.Contains(r.stdout, "bootstrap") {
		t.Fatalf("why text: %+v", r)
	}
	r = runCLI(t, "--data", dir, "dashboard", "--print")
	url := strings.TrimSpace(r.stdout)
	if r.code != 0 || !strings.Contains(url, "/#token=") {
		t.Fatalf("dashboard --print: %+v", r)
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
}
