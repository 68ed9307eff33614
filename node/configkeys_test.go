package node

import (
	"strings"
	"testing"
	"time"
)

func TestSetConfigValue(t *testing.T) {
	c := TestConfig(t.TempDir())
	set := func(key, value string) {
		t.Helper()
		if err := SetConfigValue(&c, key, value); err != nil {
			t.Fatalf("set %s %q: %v", key, value, err)
		}
	}
	set("slots", "3")
	set("schedule", "18:00-08:00")
	set("prefs.retention", "48h")
	set("run_on_battery", "true")
	set("bootstrap", "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWFuSQZTJRHUVAX6CuAhwXNaeBQddBW7Rah8fr94Eoqcvk, /ip4/127.0.0.1/tcp/2/p2p/12D3KooWFuSQZTJRHUVAX6CuAhwXNaeBQddBW7Rah8fr94Eoqcvk")
	if c.Slots != 3 || c.Prefs.Schedule != "18:00-08:00" || c.Prefs.Retention != Duration(48*time.Hour) ||
		!c.Prefs.RunOnBattery || len(c.BootstrapPeers) != 2 {
		t.Fatalf("config after sets: %+v", c)
	}
	set("bootstrap", "")
	if len(c.BootstrapPeers) != 0 {
		t.Fatalf("bootstrap not cleared: %v", c.BootstrapPeers)
	}
	before := c
	for _, bad := range []struct{ key, value, want string }{
		{"slots", "0", "slots"},
		{"slots", "two", "whole number"},
		{"schedule", "noon", "schedule"},
		{"run_on_battery", "maybe", "true or false"},
		{"retention", "soon", "retention"},
		{"colour", "blue", "no config key"},
		{"bootstrap", "/ip4/1.2.3.4/tcp/1", "no peer ID"},
	} {
		err := SetConfigValue(&c, bad.key, bad.value)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("set %s %q: %v, want an error about %q", bad.key, bad.value, err, bad.want)
		}
	}
	if c.Slots != before.Slots || c.Prefs.Schedule != before.Prefs.Schedule {
		t.Fatal("a refused value changed the config")
	}
	v, err := ConfigValue(c, "cpu_busy_percent")
	if err != nil || string(v) != "0" {
		t.Fatalf("ConfigValue = %s, %v", v, err)
	}
	// Every documented key resolves to a value in the JSON form of the config.
	for _, k := range ConfigKeys() {
		if v, err := ConfigValue(DefaultConfig("/x"), k.Key); err != nil || string(v) == "null" && k.Key != "bootstrap" && k.Key != "swarm_key_file" {
			t.Errorf("key %s: %s, %v", k.Key, v, err)
		}
	}
}
