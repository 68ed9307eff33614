package config

import (
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	good := Test("/tmp/x")
	if err := good.Validate(); err != nil {
		t.Fatalf("TestConfig is not valid: %v", err)
	}
	if d := Default("/tmp/x"); d.Validate() != nil {
		t.Fatalf("Default() is not valid: %v", d.Validate())
	}
	cases := []struct {
		name string
		mod  func(c *Config)
		want string
	}{
		{"no data dir", func(c *Config) { c.DataDir = "" }, "data dir"},
		{"bad swarm", func(c *Config) { c.Swarm = "Bad Name" }, "swarm name"},
		{"bad listen", func(c *Config) { c.ListenAddrs = []string{"tcp/1"} }, "not a multiaddr"},
		{"no listen", func(c *Config) { c.ListenAddrs = nil }, "no listen"},
		{"bootstrap without ID", func(c *Config) { c.BootstrapPeers = []string{"/ip4/1.2.3.4/tcp/1"} }, "no peer ID"},
		{"bad dht mode", func(c *Config) { c.DHTMode = "fast" }, "dht mode"},
		{"bad api", func(c *Config) { c.APIAddr = "localhost" }, "host:port"},
		{"conn limits", func(c *Config) { c.ConnLow, c.ConnHigh = 10, 5 }, "connection limits"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Test("/tmp/x")
			tc.mod(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want an error about %q", err, tc.want)
			}
		})
	}
}

func TestConfigRoundTrip(t *testing.T) {
	dir := t.TempDir()
	c := Test(dir)
	c.BootstrapPeers = []string{"/ip4/127.0.0.1/tcp/4501/p2p/12D3KooWFuSQZTJRHUVAX6CuAhwXNaeBQddBW7Rah8fr94Eoqcvk"}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.BootstrapInterval != c.BootstrapInterval || got.Swarm != c.Swarm || got.BootstrapPeers[0] != c.BootstrapPeers[0] {
		t.Fatalf("config changed across save and load: %+v vs %+v", got, c)
	}
}

func TestPrefsValidate(t *testing.T) {
	if p := DefaultPrefs(); p.Validate() != nil {
		t.Fatalf("DefaultPrefs: %v", p.Validate())
	}
	for name, mod := range map[string]func(p *Prefs){
		"disk_quota_mb":    func(p *Prefs) { p.DiskQuotaMB = -1 },
		"retention":        func(p *Prefs) { p.Retention = -1 },
		"gc_interval":      func(p *Prefs) { p.GCInterval = 0 },
		"cpu_busy_percent": func(p *Prefs) { p.CPUBusyPercent = 101 },
		"cpu_busy_window":  func(p *Prefs) { p.CPUBusyWindow = 0 },
		"schedule":         func(p *Prefs) { p.Schedule = "noon" },
	} {
		p := DefaultPrefs()
		mod(&p)
		if err := p.Validate(); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: validate() = %v", name, err)
		}
	}
}
