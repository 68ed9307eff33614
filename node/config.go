package node

import (
	"encoding/json"

	"github.com/libp2p/go-libp2p/core/peer"

	"allforone/node/internal/config"
)

// The configuration is package config's (node/internal/config); these are its names that
// the commands and the testnet use.

// Config is everything a node needs to run (config.Config has every field). Start from
// DefaultConfig or TestConfig.
type Config = config.Config

// Prefs are the volunteer's preferences (config.Prefs).
type Prefs = config.Prefs

// Duration is a time.Duration that reads and writes as a string like "30s" in JSON.
type Duration = config.Duration

// NATConfig is how the node copes with NATs (reach.Config has every field).
type NATConfig = config.NATConfig

// ConfigKey is one setting of config.json (config.Key).
type ConfigKey = config.Key

// ConfigKind is how a setting's value is written: a string, int, bool, duration or list.
type ConfigKind = config.Kind

// DHT modes a Config may name.
const (
	DHTAutoServer = config.DHTAutoServer // serve until AutoNAT says the node is not reachable
	DHTServer     = config.DHTServer     // always serve
	DHTClient     = config.DHTClient     // never serve
	DHTAuto       = config.DHTAuto       // serve once AutoNAT confirms public reachability
)

// Task priorities a Config may name.
const (
	PriorityIdle   = config.PriorityIdle
	PriorityNormal = config.PriorityNormal
)

// Reachability settings a NATConfig may name.
const (
	ReachAuto    = config.ReachAuto
	ReachPublic  = config.ReachPublic
	ReachPrivate = config.ReachPrivate
)

// Kinds of ConfigKey.
const (
	KindString   = config.KindString
	KindInt      = config.KindInt
	KindBool     = config.KindBool
	KindDuration = config.KindDuration
	KindList     = config.KindList
)

// Sections of ConfigKeys, in the order `config show` prints them.
const (
	SectionNetwork = config.SectionNetwork
	SectionAPI     = config.SectionAPI
	SectionPrefs   = config.SectionPrefs
	SectionUpkeep  = config.SectionUpkeep
	SectionNAT     = config.SectionNAT
)

// DefaultConfig is the configuration of a volunteer's node with its data in dataDir.
func DefaultConfig(dataDir string) Config { return config.Default(dataDir) }

// TestConfig is a node for tests and local testnets: loopback only, free ports, fast
// timers, the DHT always serving and no resource limits.
func TestConfig(dataDir string) Config { return config.Test(dataDir) }

// LoadConfig reads <dataDir>/config.json over DefaultConfig(dataDir).
func LoadConfig(dataDir string) (Config, error) { return config.Load(dataDir) }

// DefaultPrefs are the preferences of a new node.
func DefaultPrefs() Prefs { return config.DefaultPrefs() }

// DefaultNATConfig is a home volunteer's NAT configuration.
func DefaultNATConfig() NATConfig { return config.DefaultNATConfig() }

// ParseBootstrapPeers parses full multiaddrs with a /p2p/ part into peer infos, merging
// addresses of the same peer.
func ParseBootstrapPeers(addrs []string) ([]peer.AddrInfo, error) {
	return config.ParseBootstrapPeers(addrs)
}

// ConfigKeys lists every setting of config.json in the order `config show` prints them.
func ConfigKeys() []ConfigKey { return config.Keys() }

// LookupConfigKey resolves a key as the user typed it: "prefs.schedule" or just "schedule".
func LookupConfigKey(key string) (ConfigKey, error) { return config.Lookup(key) }

// FlagEnv is the environment twin of a flag.
func FlagEnv(flag string) string { return config.FlagEnv(flag) }

// ConfigValue is the JSON value of the setting key in c.
func ConfigValue(c Config, key string) (json.RawMessage, error) { return config.Value(c, key) }

// SetConfigValue parses value for the setting key and sets it in c.
func SetConfigValue(c *Config, key, value string) error { return config.SetValue(c, key, value) }

// SetConfigValues sets several settings at once: all of them or, on an error, none.
func SetConfigValues(c *Config, pairs ...[2]string) error { return config.SetValues(c, pairs...) }
