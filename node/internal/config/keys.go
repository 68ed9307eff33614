package config

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Key is one setting of config.json: its key, the flag of `allforone init` and
// `allforone daemon` that overrides it (with its environment twin), what it does, and
// whether the running daemon applies it at once. Its kind, and so how `config set` parses it
// and `config show` prints it, follows from the type of the Config field it names.
type Key struct {
	// Key is as in config.json; keys of the "prefs" and "nat" objects are "prefs.<name>"
	// and "nat.<name>".
	Key string `json:"key"`
	// Flag is the init and daemon flag that sets it (without "--"), or "" for none. Its
	// environment twin is Env().
	Flag string `json:"flag,omitempty"`
	// Section groups the keys for `config show` and the flags in help.
	Section string `json:"section"`
	// Doc says what the setting does, with its unit; DefaultText adds the default.
	Doc string `json:"doc"`
	// Default is the default in words, for a setting whose Default value would
	// mislead (slots: the build machine's cores). Empty: Default's value, formatted.
	Default string `json:"-"`
	// Example is a valid value that differs from the default, as `config set` takes it.
	Example string `json:"example"`
	// Live means the running daemon applies a change at once (ReloadPrefs); otherwise at
	// its next start.
	Live bool `json:"live"`

	kind  Kind
	index []int // the field's index path in Config, for reflect.Value.FieldByIndex
}

// Kind is the type of a setting's value.
type Kind string

// Kinds of settings, after the Go type of their Config field.
const (
	KindString   Kind = "string"   // text as given
	KindInt      Kind = "int"      // a whole number
	KindBool     Kind = "bool"     // true or false
	KindDuration Kind = "duration" // a Go duration like 30s, 10m, 72h
	KindList     Kind = "list"     // strings: comma-separated, or a JSON array
)

// Sections of Keys, in the order `config show` prints them.
const (
	SectionNetwork = "network"
	SectionAPI     = "local API"
	SectionPrefs   = "preferences"
	SectionUpkeep  = "upkeep"
	SectionNAT     = "NAT traversal"
)

// exampleBootstrap is a valid bootstrap multiaddr for examples.
const exampleBootstrap = "/ip4/192.0.2.1/tcp/4501/p2p/12D3KooWFuSQZTJRHUVAX6CuAhwXNaeBQddBW7Rah8fr94Eoqcvk"

// configTable is the one list of settings. config show, config set and the flags of init
// and daemon (cmd/allforone/nodeflags.go) are made from it; a test checks that it names every
// json key of Config, and nothing else.
var configTable = []Key{
	{Key: "swarm", Flag: "swarm", Section: SectionNetwork, Example: "lab",
		Doc: "the swarm to join; swarms with different names never see each other"},
	{Key: "swarm_key_file", Flag: "swarm-key", Section: SectionNetwork, Example: "swarm.key",
		Doc: "pre-shared key file of a private swarm (allforone swarm-key makes one; init --swarm-key copies it into the data dir, which a relative path is relative to); empty: a public swarm"},
	{Key: "listen", Flag: "listen", Section: SectionNetwork, Example: "/ip4/0.0.0.0/tcp/4501",
		Default: "TCP and QUIC on port 4501, every IPv4 and IPv6 interface",
		Doc:     "multiaddrs to listen on (a list)"},
	{Key: "bootstrap", Flag: "bootstrap", Section: SectionNetwork, Example: exampleBootstrap,
		Doc: "bootstrap peers: multiaddrs ending in /p2p/<peer ID> (a list)"},
	{Key: "bootstrap_floor", Section: SectionNetwork, Example: "8",
		Doc: "redial the bootstrap peers while fewer than this many peers are connected"},
	{Key: "bootstrap_interval", Section: SectionNetwork, Example: "1m",
		Doc: "how often the peer count is checked"},
	{Key: "routing_refresh", Section: SectionNetwork, Example: "30m",
		Doc: "how often the DHT refreshes its routing table"},
	{Key: "dht_mode", Flag: "dht-mode", Section: SectionNetwork, Example: DHTClient,
		Doc: "auto-server (serve the DHT until AutoNAT says unreachable), server, client, or auto (serve once reachable)"},
	{Key: "conn_low", Section: SectionNetwork, Example: "32",
		Doc: "connection manager: trim down to this many connections"},
	{Key: "conn_high", Section: SectionNetwork, Example: "256",
		Doc: "connection manager: trim when there are more connections than this"},

	{Key: "api", Flag: "api", Section: SectionAPI, Example: "127.0.0.1:4581",
		Doc: "host:port of the local API and dashboard; port 0 picks a free one; beyond 127.0.0.1 it needs TLS or api_insecure"},
	{Key: "api_tls_cert", Flag: "api-tls-cert", Section: SectionAPI, Example: "api.crt",
		Doc: "serve the API over TLS with this certificate file (PEM, relative to the data dir); set api_tls_key with it"},
	{Key: "api_tls_key", Flag: "api-tls-key", Section: SectionAPI, Example: "api.key",
		Doc: "the private key file (PEM, relative to the data dir) of api_tls_cert"},
	{Key: "api_insecure", Flag: "api-insecure", Section: SectionAPI, Example: "true",
		Doc: "allow an API beyond 127.0.0.1 without TLS (the token then travels in clear text)"},

	{Key: "slots", Flag: "slots", Section: SectionPrefs, Example: "3", Default: "CPU cores - 1, at least 1",
		Doc: "tasks run at once"},
	{Key: "max_task_memory_mb", Flag: "max-task-memory", Section: SectionPrefs, Example: "2048",
		Doc: "memory one task may use, MiB (at most 4096); batches that ask for more are left to others"},
	{Key: "task_priority", Flag: "task-priority", Section: SectionPrefs, Example: PriorityNormal,
		Doc: "OS priority of the task runners: idle (only CPU time nobody else wants) or normal"},
	{Key: "compile_budget", Flag: "compile-budget", Section: SectionPrefs, Example: "2m",
		Doc: "CPU time compiling one module may take (wall time: 10x that); a module over it is refused for its whole batch"},
	{Key: "compile_memory_mb", Flag: "compile-memory", Section: SectionPrefs, Example: "4096",
		Doc: "memory a task runner may use while it compiles a module, MiB (measured on Linux)"},
	{Key: "prefs.disk_quota_mb", Flag: "disk-quota", Section: SectionPrefs, Live: true, Example: "20480",
		Doc: "disk quota for blobs and results, MiB; over it finished batches are collected at once and no task is taken; 0: none"},
	{Key: "prefs.retention", Flag: "retention", Section: SectionPrefs, Live: true, Example: "24h",
		Doc: "how long a finished batch's data stays before it is collected"},
	{Key: "prefs.gc_interval", Section: SectionPrefs, Live: true, Example: "5m",
		Doc: "how often disk use is measured and garbage collected"},
	{Key: "prefs.cpu_busy_percent", Flag: "cpu-busy-percent", Section: SectionPrefs, Live: true, Example: "80",
		Doc: "pause while other programs use more than this % of the CPU (Linux); 0: never"},
	{Key: "prefs.cpu_busy_window", Section: SectionPrefs, Live: true, Example: "1m",
		Doc: "the time over which other programs' CPU use is averaged"},
	{Key: "prefs.run_on_battery", Flag: "run-on-battery", Section: SectionPrefs, Live: true, Example: "true",
		Doc: "compute while the machine runs on battery"},
	{Key: "prefs.schedule", Flag: "schedule", Section: SectionPrefs, Live: true, Example: "18:00-08:00", Default: "any time",
		Doc: `hours to compute, local time, e.g. "18:00-08:00" or "mon-fri 18:00-23:00, sat-sun 00:00-24:00"; empty: any time`},
	{Key: "prefs.metrics_public", Flag: "metrics-public", Section: SectionPrefs, Live: true, Example: "true",
		Doc: "serve /metrics without the API token, for a Prometheus scraper"},

	{Key: "repair_interval", Section: SectionUpkeep, Example: "1m",
		Doc: "how often the results held here are checked for K live copies"},
	{Key: "repair_grace", Section: SectionUpkeep, Example: "1m",
		Doc: "how long a result holder that left still counts as holding, while two copies stay live; 0: copy at once"},
	{Key: "sync_interval", Section: SectionUpkeep, Example: "5m",
		Doc: "how often a peer is asked which batches are running, in case an announcement was missed"},
	{Key: "blob_grace", Section: SectionUpkeep, Example: "2h",
		Doc: "how long a blob no batch refers to (an upload awaiting its submission) is kept; 0: collect it at the next round"},
	{Key: "shutdown_timeout", Section: SectionUpkeep, Example: "1m",
		Doc: "how long a graceful stop may take to finish or hand back tasks, hand over steward roles and copy held results"},
	{Key: "primary_leases", Section: SectionUpkeep, Example: "false",
		Doc: "elect one fenced primary per batch (a lease from a majority of its stewards, with epochs; stewards found by DHT lookup); false: the closest steward in each node's own view acts as primary, unfenced (set every node of a swarm alike)"},

	{Key: "nat.reachability", Flag: "reachability", Section: SectionNAT, Example: ReachPrivate,
		Doc: "auto (AutoNAT finds out), public (dialable from the internet) or private (behind a NAT)"},
	{Key: "nat.relay_service", Flag: "relay-service", Section: SectionNAT, Example: "false",
		Doc: "relay for NATed swarm peers while this node is publicly reachable"},
	{Key: "nat.relay_max_reservations", Section: SectionNAT, Example: "8",
		Doc: "relay slots offered to NATed peers at once"},
	{Key: "nat.relay_max_circuits", Section: SectionNAT, Example: "4",
		Doc: "relayed connections per peer at once"},
	{Key: "nat.auto_relay", Flag: "auto-relay", Section: SectionNAT, Example: "false",
		Doc: "while not reachable, reserve slots on relays among swarm peers"},
	{Key: "nat.hole_punching", Flag: "hole-punching", Section: SectionNAT, Example: "false",
		Doc: "upgrade relayed connections to direct ones"},
	{Key: "nat.port_map", Flag: "port-map", Section: SectionNAT, Example: "true",
		Doc: "ask the home router for a port mapping by UPnP or NAT-PMP"},
	{Key: "nat.public_rendezvous", Flag: "public-rendezvous", Section: SectionNAT, Example: "true",
		Doc: "find swarm peers through the public IPFS DHT (opt-in: contacts its bootstrap nodes)"},
	{Key: "nat.rendezvous_bootstrap", Flag: "rendezvous-bootstrap", Section: SectionNAT, Example: exampleBootstrap,
		Default: "the IPFS ones", Doc: "bootstrap multiaddrs of the public DHT, for public_rendezvous (a list)"},
}

// configKeys is configTable with each key's field resolved. A key that names no field of
// Config, or a field of a kind config set cannot parse, is a mistake in this file: it
// panics on first use, which every test of this package reaches.
var configKeys = sync.OnceValue(func() []Key {
	keys := slices.Clone(configTable)
	for i := range keys {
		k := &keys[i]
		f, ok := fieldByKey(k.Key)
		if !ok {
			panic(fmt.Sprintf("node: config key %q names no field of Config", k.Key))
		}
		k.index, k.kind = f.Index, kindOf(f.Type)
		if k.kind == "" {
			panic(fmt.Sprintf("node: config key %q has a field of type %s, which config set cannot parse", k.Key, f.Type))
		}
	}
	return keys
})

// Keys lists every setting of config.json, in the order `config show` prints them.
// (JSON has no comments, so this is the config file's documentation.)
func Keys() []Key { return slices.Clone(configKeys()) }

// Kind is the type of the setting's value, after its Config field.
func (k Key) Kind() Kind { return k.kind }

// Env is the environment twin of the setting's flag ("" without a flag).
func (k Key) Env() string {
	if k.Flag == "" {
		return ""
	}
	return FlagEnv(k.Flag)
}

// ShortKey is the key as `config show` prints it: preferences without "prefs.".
func (k Key) ShortKey() string { return strings.TrimPrefix(k.Key, "prefs.") }

// DefaultText is the default in words: Default, or Default's value formatted.
func (k Key) DefaultText() string {
	if k.Default != "" {
		return k.Default
	}
	s := k.Format(Default(""))
	switch s {
	case `""`:
		return "empty"
	case noValue:
		return "none"
	}
	return s
}

// FlagEnv is the environment twin of a flag: "max-output" -> "ALLFORONE_MAX_OUTPUT".
func FlagEnv(flag string) string {
	return "ALLFORONE_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// configKeyPrefixes are the sections whose keys may be named without their prefix:
// "schedule" for "prefs.schedule", "port_map" for "nat.port_map".
var configKeyPrefixes = []string{"prefs.", "nat."}

// Lookup resolves a key as the user typed it: "prefs.schedule" or just
// "schedule", "nat.port_map" or just "port_map".
func Lookup(key string) (Key, error) {
	keys := configKeys()
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
		names[i] = k.ShortKey()
	}
	sort.Strings(names)
	return Key{}, fmt.Errorf("no config key %q: use one of %s (`allforone config show` says what each does)", key, strings.Join(names, ", "))
}

// fieldByKey finds the Config field that a dotted config.json key names.
func fieldByKey(key string) (reflect.StructField, bool) {
	t := reflect.TypeFor[Config]()
	var out reflect.StructField
	var index []int
	for i, part := range strings.Split(key, ".") {
		if i > 0 && t.Kind() != reflect.Struct {
			return out, false
		}
		f, ok := fieldByJSONName(t, part)
		if !ok {
			return out, false
		}
		index = append(index, f.Index...)
		out, t = f, f.Type
	}
	out.Index = index
	return out, true
}

// fieldByJSONName is the field of struct type t whose json tag names it.
func fieldByJSONName(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if tag, _, _ := strings.Cut(f.Tag.Get("json"), ","); tag == name && tag != "-" {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// kindOf is the Kind of a field type, or "" for a type config set cannot parse.
func kindOf(t reflect.Type) Kind {
	switch {
	case t == reflect.TypeFor[Duration]():
		return KindDuration
	case t.Kind() == reflect.String:
		return KindString
	case t.Kind() == reflect.Int:
		return KindInt
	case t.Kind() == reflect.Bool:
		return KindBool
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		return KindList
	}
	return ""
}
