package node

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// ConfigKey documents one key of config.json, for `allforone config show`.
type ConfigKey struct {
	Key  string `json:"key"`  // as in config.json; preferences are "prefs.<name>"
	Doc  string `json:"doc"`  // what it does, its unit and default
	Live bool   `json:"live"` // the running daemon applies a change at once (else: at restart)
}

// ConfigKeys lists the keys of config.json with what they do. (JSON has no comments, so
// this is the config file's documentation; `allforone config show` prints it.)
func ConfigKeys() []ConfigKey {
	return []ConfigKey{
		{"swarm", "the swarm's name; swarms with different names never see each other", false},
		{"swarm_key_file", "pre-shared key of a private swarm (relative to the data dir); empty: public swarm", false},
		{"listen", "multiaddrs to listen on, comma-separated", false},
		{"bootstrap", "bootstrap peers: multiaddrs ending in /p2p/<peer ID>, comma-separated", false},
		{"bootstrap_floor", "redial bootstrap peers under this many connected peers (default 4)", false},
		{"bootstrap_interval", "how often the peer count is checked (default 30s)", false},
		{"routing_refresh", "how often the DHT refreshes its routing table (default 10m)", false},
		{"dht_mode", "auto-server (default), server, client or auto", false},
		{"api", "host:port of the local API and dashboard (default 127.0.0.1:4580)", false},
		{"conn_low", "connection manager low watermark (default 64)", false},
		{"conn_high", "connection manager high watermark (default 128)", false},
		{"repair_interval", "how often held results are checked for K live copies (default 30s)", false},
		{"repair_grace", "how long a holder that left still counts as holding before its results are copied elsewhere (default 30s)", false},
		{"sync_interval", "how often a peer is asked for running batches (default 1m)", false},
		{"blob_grace", "how long a blob no batch refers to (an upload awaiting its submission) is kept before collection (default 1h)", false},
		{"slots", "tasks run at once (default: CPU cores - 1, at least 1)", false},
		{"max_task_memory_mb", "memory one task may use, MiB (default 1024); batches that ask for more are left to others", false},
		{"task_priority", "OS priority of the processes that run tasks: idle (default) or normal", false},
		{"compile_budget", "CPU time compiling one module may take; a module over it is refused for its whole batch (default 60s)", false},
		{"compile_memory_mb", "memory a task runner may use while compiling a module, MiB (default 2048)", false},
		{"prefs.disk_quota_mb", "disk quota for blobs and results, MiB; 0: none (default 10240)", true},
		{"prefs.retention", "how long a finished batch's data stays before collection (default 72h)", true},
		{"prefs.gc_interval", "how often disk use is measured and garbage collected (default 1m)", true},
		{"prefs.cpu_busy_percent", "pause while other programs use more than this % of the CPU; 0: never (default 50)", true},
		{"prefs.cpu_busy_window", "the time over which that CPU use is averaged (default 30s)", true},
		{"prefs.run_on_battery", "compute while the machine runs on battery (default false)", true},
		{"prefs.schedule", `hours to compute, local time, e.g. "18:00-08:00" or "mon-fri 18:00-23:00, sat-sun 00:00-24:00"; empty: any time`, true},
		{"prefs.metrics_public", "serve /metrics without the API token (default false)", true},
		{"nat.reachability", "auto (default: AutoNAT finds out), public or private", false},
		{"nat.relay_service", "relay for NATed swarm peers while publicly reachable (default true)", false},
		{"nat.relay_max_reservations", "relay slots offered to NATed peers at once (default 32)", false},
		{"nat.relay_max_circuits", "relayed connections per peer at once (default 16)", false},
		{"nat.auto_relay", "while not reachable, reserve slots on relays among swarm peers (default true)", false},
		{"nat.hole_punching", "upgrade relayed connections to direct ones (default true)", false},
		{"nat.port_map", "ask the home router for a port mapping by UPnP or NAT-PMP (default false)", false},
		{"nat.public_rendezvous", "find swarm peers through the public IPFS DHT; opt-in (default false)", false},
		{"nat.rendezvous_bootstrap", "the public DHT's bootstrap multiaddrs, comma-separated; empty: the IPFS defaults", false},
	}
}

// configKeyPrefixes are the sections whose keys may be named without their prefix:
// "schedule" for "prefs.schedule", "port_map" for "nat.port_map".
var configKeyPrefixes = []string{"prefs.", "nat."}

// LookupConfigKey resolves a key as the user typed it: "prefs.schedule" or just
// "schedule", "nat.port_map" or just "port_map". It returns the full key.
func LookupConfigKey(key string) (ConfigKey, error) {
	keys := ConfigKeys()
	for _, k := range keys {
		if k.Key == key {
			return k, nil
		}
		for _, p := range configKeyPrefixes {
			if k.Key == p+key {
				return k, nil
			}
		}
	}
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = strings.TrimPrefix(k.Key, "prefs.")
	}
	sort.Strings(names)
	return ConfigKey{}, fmt.Errorf("no config key %q: use one of %s", key, strings.Join(names, ", "))
}

// ConfigValue returns the value of key in c as JSON.
func ConfigValue(c Config, key string) (json.RawMessage, error) {
	k, err := LookupConfigKey(key)
	if err != nil {
		return nil, err
	}
	m, err := configMap(c)
	if err != nil {
		return nil, err
	}
	parent, name := walk(m, k.Key)
	return json.Marshal(parent[name])
}

// SetConfigValue sets key in c to value, parsed after the key's type: text for strings,
// numbers, true/false, durations like "30s", comma-separated lists (or a JSON array). It
// validates the result and changes c only when it is valid.
func SetConfigValue(c *Config, key, value string) error {
	k, err := LookupConfigKey(key)
	if err != nil {
		return err
	}
	m, err := configMap(*c)
	if err != nil {
		return err
	}
	parent, name := walk(m, k.Key)
	var v any
	old := parent[name]
	if old == nil {
		old = zeroJSON(reflect.TypeOf(Config{}), k.Key) // a key left out of the JSON (omitempty)
	}
	switch old := old.(type) {
	case string:
		v = value
	case bool:
		b, err := strconv.ParseBool(value)
		if err != nil {
			return fmt.Errorf("%s takes true or false, not %q", k.Key, value)
		}
		v = b
	case float64:
		f, err := strconv.ParseFloat(value, 64)
		if err != nil || f != float64(int64(f)) {
			return fmt.Errorf("%s takes a whole number, not %q", k.Key, value)
		}
		v = int64(f)
	case []any, nil:
		_ = old
		var list []string
		switch t := strings.TrimSpace(value); {
		case strings.HasPrefix(t, "["):
			if err := json.Unmarshal([]byte(t), &list); err != nil {
				return fmt.Errorf("%s: %q is not a JSON list of strings: %v", k.Key, value, err)
			}
		case t != "":
			for _, s := range strings.Split(t, ",") {
				if s = strings.TrimSpace(s); s != "" {
					list = append(list, s)
				}
			}
		}
		v = list
	default:
		return fmt.Errorf("%s cannot be set from the command line: edit config.json", k.Key)
	}
	parent[name] = v
	raw, err := json.Marshal(m)
	if err != nil {
		return err
	}
	next := *c
	// json.Unmarshal reuses a slice's backing array: give next its own, so a refused
	// value leaves c as it was.
	next.ListenAddrs, next.BootstrapPeers = slices.Clone(c.ListenAddrs), slices.Clone(c.BootstrapPeers)
	next.NAT.RendezvousBootstrap = slices.Clone(c.NAT.RendezvousBootstrap)
	if err := json.Unmarshal(raw, &next); err != nil {
		return fmt.Errorf("%s: %v", k.Key, err)
	}
	if err := next.Validate(); err != nil {
		return err
	}
	*c = next
	return nil
}

// zeroJSON is the JSON form of the zero value of the field at the dotted key in t: "",
// false, 0 or nil (lists), for keys that omitempty leaves out of the JSON.
func zeroJSON(t reflect.Type, key string) any {
	for _, part := range strings.Split(key, ".") {
		f, ok := fieldByJSONName(t, part)
		if !ok {
			return nil
		}
		t = f.Type
	}
	switch t.Kind() {
	case reflect.String:
		return ""
	case reflect.Bool:
		return false
	case reflect.Int, reflect.Int64:
		return float64(0)
	}
	return nil
}

func fieldByJSONName(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if tag, _, _ := strings.Cut(f.Tag.Get("json"), ","); tag == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// configMap is c as config.json has it.
func configMap(c Config) (map[string]any, error) {
	raw, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(raw, &m)
}

// walk returns the object holding the last part of a dotted key, and that part.
func walk(m map[string]any, key string) (map[string]any, string) {
	parts := strings.Split(key, ".")
	for _, p := range parts[:len(parts)-1] {
		sub, _ := m[p].(map[string]any)
		if sub == nil {
			sub = map[string]any{}
			m[p] = sub
		}
		m = sub
	}
	return m, parts[len(parts)-1]
}
