package config

import (
	"strings"
	"testing"
	"time"
)

func TestSetConfigValue(t *testing.T) {
	c := Test(t.TempDir())
	set := func(key, value string) {
		t.Helper()
		if err := SetValue(&c, key, value); err != nil {
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
		err := SetValue(&c, bad.key, bad.value)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("set %s %q: %v, want an error about %q", bad.key, bad.value, err, bad.want)
		}
	}
	if c.Slots != before.Slots || c.Prefs.Schedule != before.Prefs.Schedule {
		t.Fatal("a refused value changed the config")
	}
	v, err := Value(c, "cpu_busy_percent")
	if err != nil || string(v) != "0" {
		t.Fatalf("Value = %s, %v", v, err)
	}
}

func TestSetNATConfigValues(t *testing.T) {
	c := Test(t.TempDir())
	const boot = "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWFuSQZTJRHUVAX6CuAhwXNaeBQddBW7Rah8fr94Eoqcvk"
	for _, kv := range [][2]string{
		{"nat.port_map", "true"},
		{"public_rendezvous", "true"}, // the section may be left out, as with prefs
		{"nat.reachability", "private"},
		{"nat.relay_service", "true"},
		{"nat.relay_max_circuits", "4"},
		{"nat.rendezvous_bootstrap", boot},
	} {
		if err := SetValue(&c, kv[0], kv[1]); err != nil {
			t.Fatalf("set %s %q: %v", kv[0], kv[1], err)
		}
	}
	if !c.NAT.PortMap || !c.NAT.PublicRendezvous || c.NAT.Reachability != ReachPrivate || !c.NAT.RelayService ||
		c.NAT.RelayMaxCircuits != 4 || len(c.NAT.RendezvousBootstrap) != 1 {
		t.Fatalf("nat after sets: %+v", c.NAT)
	}
	if k, err := Lookup("port_map"); err != nil || k.Key != "nat.port_map" || k.Live {
		t.Fatalf("Lookup(port_map) = %+v, %v; want nat.port_map, applied at restart", k, err)
	}
	before := c.NAT
	before.RendezvousBootstrap = append([]string(nil), c.NAT.RendezvousBootstrap...)
	for _, bad := range []struct{ key, value, want string }{
		{"nat.reachability", "sometimes", "reachability"},
		{"nat.relay_max_circuits", "0", "relay limits"},
		{"nat.rendezvous_bootstrap", "/ip4/1.2.3.4/tcp/1", "no peer ID"},
		{"nat.port_map", "yes please", "true or false"},
	} {
		err := SetValue(&c, bad.key, bad.value)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("set %s %q: %v, want an error about %q", bad.key, bad.value, err, bad.want)
		}
	}
	if c.NAT.Reachability != before.Reachability || c.NAT.RelayMaxCircuits != before.RelayMaxCircuits ||
		len(c.NAT.RendezvousBootstrap) != 1 || c.NAT.RendezvousBootstrap[0] != boot {
		t.Fatalf("a refused value changed the config: %+v", c.NAT)
	}
	if err := SetValue(&c, "nat.rendezvous_bootstrap", ""); err != nil || len(c.NAT.RendezvousBootstrap) != 0 {
		t.Fatalf("clear rendezvous_bootstrap: %v, %v", err, c.NAT.RendezvousBootstrap)
	}
}
