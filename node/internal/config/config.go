// Package config is the node's configuration: the Config struct with its presets (Default,
// Test), Validate, the config file (Load, Save), the volunteer's preferences (prefs.go) and
// the one table of settings (keys.go) that config show, config set and the flags of init and
// daemon are made from, with how each value is parsed and printed (value.go).
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"allforone/node/internal/api"
	"allforone/node/internal/p2p"
	"allforone/node/internal/reach"
	"allforone/node/internal/store"
	"allforone/protocol"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// DHT modes a Config may name.
const (
	// DHTAutoServer serves the DHT until AutoNAT says the node is not reachable. It is the
	// default: it works on loopback and LAN swarms, where plain auto mode never serves.
	DHTAutoServer = "auto-server"
	// DHTServer always serves: for always-on public nodes and testnets.
	DHTServer = "server"
	// DHTClient never serves: for nodes that others cannot dial.
	DHTClient = "client"
	// DHTAuto serves only once AutoNAT confirms public reachability.
	DHTAuto = "auto"
)

// Config is everything a node needs to run. The zero value is not valid: start from
// Default or Test. The JSON form is the config file in the data dir; fields with
// the tag "-" are for programs and tests only. Every other field has its row in keys.go
// (its doc, flag and example), which config show, config set and the flags of init and
// daemon are made from; TestConfigKeysNameEveryJSONKey fails on a field without one.
type Config struct {
	// DataDir holds identity.key, config.json, swarm.key, the datastore, api and api.token.
	DataDir string `json:"-"`

	// Swarm names the swarm. Its DHT protocol prefix and topic names derive from it, so
	// swarms with different names never see each other. Default protocol.DefaultSwarm.
	Swarm string `json:"swarm"`
	// SwarmKeyFile is the pre-shared key of a private swarm, in the IPFS swarm.key format.
	// A relative path is relative to DataDir. Empty means a public swarm. With a key the
	// node speaks TCP only (QUIC does not support private networks).
	SwarmKeyFile string `json:"swarm_key_file,omitempty"`

	// ListenAddrs are the multiaddrs the host listens on. Default TCP and QUIC on port 4501
	// on all IPv4 and IPv6 interfaces.
	ListenAddrs []string `json:"listen"`
	// BootstrapPeers are full multiaddrs with a /p2p/<peer ID> part. The node dials them
	// at start and whenever it has fewer than BootstrapFloor peers.
	BootstrapPeers []string `json:"bootstrap"`
	// BootstrapFloor is the peer count under which the node redials bootstrap peers.
	// Default 4.
	BootstrapFloor int `json:"bootstrap_floor"`
	// BootstrapInterval is how often the node checks its peer count. Default 30s.
	BootstrapInterval Duration `json:"bootstrap_interval"`

	// RoutingRefresh is how often the DHT refreshes its routing table. Default 10m.
	RoutingRefresh Duration `json:"routing_refresh"`

	// DHTMode is one of DHTAutoServer (default), DHTServer, DHTClient, DHTAuto.
	DHTMode string `json:"dht_mode"`

	// APIAddr is host:port of the local control API. Port 0 picks a free port; the address
	// actually used is written to <DataDir>/api. Default 127.0.0.1:4580.
	APIAddr string `json:"api"`
	// APITLSCert and APITLSKey (PEM files; relative paths are in DataDir) serve the API
	// over TLS. An API bound beyond loopback needs them, or APIInsecure.
	APITLSCert string `json:"api_tls_cert,omitempty"`
	APITLSKey  string `json:"api_tls_key,omitempty"`
	// APIInsecure allows an API beyond loopback without TLS: the token travels in clear.
	APIInsecure bool `json:"api_insecure,omitempty"`

	// ConnLow and ConnHigh are the connection manager's watermarks: above ConnHigh
	// connections it trims down to ConnLow. Defaults 64 and 128.
	ConnLow  int `json:"conn_low"`
	ConnHigh int `json:"conn_high"`

	// Slots is how many tasks run at once. Default: CPU cores - 1, at least 1.
	Slots int `json:"slots"`
	// MaxTaskMemoryMB caps the memory of one task, whatever its manifest asks. Default 1024.
	MaxTaskMemoryMB int `json:"max_task_memory_mb"`
	// TaskPriority is the OS priority of the runner processes that run tasks: "idle"
	// (default: nice 19 and SCHED_IDLE on Linux, nice 19 on macOS, IDLE_PRIORITY_CLASS on
	// Windows, so the machine never feels slower) or "normal".
	TaskPriority string `json:"task_priority"`
	// CompileBudget is the CPU time compiling one module may take (with a wall-time cap of
	// 10x). A module over it is refused for every task of its batch. Default 60s.
	CompileBudget Duration `json:"compile_budget"`
	// CompileMemoryMB is the memory a runner may use while it compiles a module, MiB
	// (measured on Linux). Default 2048.
	CompileMemoryMB int `json:"compile_memory_mb"`
	// RepairInterval is how often a node checks that the results it holds have K live
	// copies (it also checks soon after a peer leaves). Default 30s.
	RepairInterval Duration `json:"repair_interval"`
	// RepairGrace is how long a result holder that left still counts as holding: a node
	// that restarts comes back with its data, and copying its results elsewhere meanwhile
	// would be wasted work (under churn, a storm of it). It counts only while two copies
	// of the result stay live (tasks.NeedsCopies). Default 30s; 0 repairs at once.
	RepairGrace Duration `json:"repair_grace"`
	// SyncInterval is how often a node asks a peer which batches are running, in case it
	// missed an announcement. Default 60s.
	SyncInterval Duration `json:"sync_interval"`
	// BlobGrace is how long garbage collection keeps a blob that no batch refers to: an
	// upload (POST /api/v1/blobs) waiting for the submission that names it, or one left by
	// a refused submission or an older version. It counts from the upload, or else from
	// the first collection that finds the blob unreferenced. Default 1h: `submit` names
	// its uploads seconds after the last one; 0 collects at the next round.
	BlobGrace Duration `json:"blob_grace"`

	// ShutdownTimeout bounds a graceful stop: finishing or handing back running tasks,
	// handing steward roles over and copying held results. Default 30s.
	ShutdownTimeout Duration `json:"shutdown_timeout"`
	// PrimaryLeases makes this node's stewards elect one fenced primary per batch: a lease
	// from a majority of the batch's stewards, with epochs (protocol/README.md section
	// 10.12), the stewards found by a DHT lookup of the batch ID (node/steward_lookup.go),
	// the voting set moved by the primary as stewards leave and return. On by default;
	// off, the primary is the closest steward in each node's own view, unfenced (every
	// steward of a batch must be set alike).
	PrimaryLeases bool `json:"primary_leases"`

	// Prefs are the volunteer's preferences (see prefs.go).
	Prefs Prefs `json:"prefs"`
	// NAT is reachability, relays, hole punching and port mapping (reach.Config).
	NAT NATConfig `json:"nat"`

	// TestingAPI serves the fault-injection API (node/api_dashboard.go). Testnets only.
	TestingAPI bool `json:"-"`
	// UnlimitedResources turns off the libp2p resource manager's limits. Tests only: a
	// node on the internet needs them.
	UnlimitedResources bool `json:"-"`
	// GossipHeartbeat overrides gossipsub's heartbeat interval (default 1s). Tests use a
	// short one so meshes form quickly.
	GossipHeartbeat time.Duration `json:"-"`
}

// Task priorities a Config may name.
const (
	PriorityIdle   = "idle"   // the lowest OS priority: tasks use only CPU nobody else wants
	PriorityNormal = "normal" // the priority of the daemon itself
)

// Default is the configuration of a volunteer's node with its data in dataDir.
func Default(dataDir string) Config {
	return Config{
		DataDir: dataDir,
		Swarm:   protocol.DefaultSwarm,
		ListenAddrs: []string{
			"/ip4/0.0.0.0/tcp/4501",
			"/ip4/0.0.0.0/udp/4501/quic-v1",
			"/ip6/::/tcp/4501",
			"/ip6/::/udp/4501/quic-v1",
		},
		BootstrapFloor:    4,
		BootstrapInterval: Duration(30 * time.Second),
		RoutingRefresh:    Duration(10 * time.Minute),
		DHTMode:           DHTAutoServer,
		APIAddr:           "127.0.0.1:4580",
		ConnLow:           64,
		ConnHigh:          128,
		Slots:             max(1, runtime.NumCPU()-1),
		MaxTaskMemoryMB:   1024,
		TaskPriority:      PriorityIdle,
		CompileBudget:     Duration(60 * time.Second),
		CompileMemoryMB:   2048,
		RepairInterval:    Duration(30 * time.Second),
		RepairGrace:       Duration(30 * time.Second),
		SyncInterval:      Duration(time.Minute),
		BlobGrace:         Duration(time.Hour),
		ShutdownTimeout:   Duration(30 * time.Second),
		PrimaryLeases:     true,
		Prefs:             DefaultPrefs(),
		NAT:               DefaultNATConfig(),
	}
}

// Test is a node for tests and local testnets: loopback only, free ports, fast
// timers, the DHT always serving and no resource limits.
func Test(dataDir string) Config {
	c := Default(dataDir)
	c.Swarm = "test"
	c.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
	c.BootstrapInterval = Duration(time.Second)
	c.RoutingRefresh = Duration(15 * time.Second)
	c.Slots = 2
	// Tasks at normal priority: a test asserts that tasks finish, and on a machine kept busy
	// by other work an idle-priority task gets almost no CPU (that is what idle means). The
	// idle default is tested where it is set (tasks/runner, and testnet's daemons).
	c.TaskPriority = PriorityNormal
	c.MaxTaskMemoryMB = 256
	c.RepairInterval = Duration(2 * time.Second)
	c.RepairGrace = 0
	c.SyncInterval = Duration(2 * time.Second)
	c.ShutdownTimeout = Duration(3 * time.Second)
	c.DHTMode = DHTServer
	c.APIAddr = "127.0.0.1:0"
	c.UnlimitedResources = true
	c.TestingAPI = true
	c.GossipHeartbeat = 100 * time.Millisecond
	c.Prefs.CPUBusyPercent = 0 // many nodes share the test machine's CPU: never pause for it
	// Loopback: AutoNAT never probes, so relays and hole punching would only cost memory.
	c.NAT.RelayService, c.NAT.AutoRelay, c.NAT.HolePunching = false, false, false
	return c
}

// Validate checks every field and returns all problems at once, each saying what to fix.
func (c *Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("data dir is empty: pass --data DIR or set ALLFORONE_PATH"))
	}
	if err := protocol.ValidateSwarmName(c.Swarm); err != nil {
		errs = append(errs, err)
	}
	if len(c.ListenAddrs) == 0 {
		errs = append(errs, errors.New("no listen addresses: give at least one, e.g. --listen /ip4/0.0.0.0/tcp/4501"))
	}
	for _, s := range c.ListenAddrs {
		if _, err := ma.NewMultiaddr(s); err != nil {
			errs = append(errs, fmt.Errorf("listen address %q is not a multiaddr (%v): use a form like /ip4/0.0.0.0/tcp/4501", s, err))
		}
	}
	if _, err := ParseBootstrapPeers(c.BootstrapPeers); err != nil {
		errs = append(errs, err)
	}
	switch c.DHTMode {
	case DHTAutoServer, DHTServer, DHTClient, DHTAuto:
	default:
		errs = append(errs, fmt.Errorf("dht mode %q is not known: use %s, %s, %s or %s", c.DHTMode, DHTAutoServer, DHTServer, DHTClient, DHTAuto))
	}
	if _, _, err := net.SplitHostPort(c.APIAddr); err != nil {
		errs = append(errs, fmt.Errorf("api address %q is not host:port (%v): use e.g. 127.0.0.1:4580, or port 0 for a free port", c.APIAddr, err))
	}
	if err := c.validateAPIExposure(); err != nil {
		errs = append(errs, err)
	}
	if c.ConnLow < 1 || c.ConnHigh < c.ConnLow {
		errs = append(errs, fmt.Errorf("connection limits low=%d high=%d: need 1 <= low <= high", c.ConnLow, c.ConnHigh))
	}
	if c.BootstrapFloor < 0 {
		errs = append(errs, fmt.Errorf("bootstrap floor %d is negative", c.BootstrapFloor))
	}
	if c.Slots < 1 {
		errs = append(errs, fmt.Errorf("slots %d: run at least 1 task at a time", c.Slots))
	}
	if c.MaxTaskMemoryMB < 1 || c.MaxTaskMemoryMB > 4096 {
		errs = append(errs, fmt.Errorf("max task memory %d MB: use 1 to 4096", c.MaxTaskMemoryMB))
	}
	if c.TaskPriority != PriorityIdle && c.TaskPriority != PriorityNormal {
		errs = append(errs, fmt.Errorf("task priority %q: use %s (default) or %s", c.TaskPriority, PriorityIdle, PriorityNormal))
	}
	if c.CompileBudget < Duration(100*time.Millisecond) {
		errs = append(errs, fmt.Errorf("compile budget %s: use at least 100ms, e.g. 60s", c.CompileBudget))
	}
	if c.CompileMemoryMB < 64 {
		errs = append(errs, fmt.Errorf("compile memory %d MB: use at least 64, e.g. 2048", c.CompileMemoryMB))
	}
	if c.ShutdownTimeout < 0 {
		errs = append(errs, fmt.Errorf("shutdown timeout %s must not be negative", c.ShutdownTimeout))
	}
	if c.RepairGrace < 0 {
		errs = append(errs, fmt.Errorf("repair grace %s must not be negative", c.RepairGrace))
	}
	if c.BlobGrace < 0 {
		errs = append(errs, fmt.Errorf("blob grace %s must not be negative: use a duration like 1h", c.BlobGrace))
	}
	if c.RepairInterval <= 0 || c.SyncInterval <= 0 {
		errs = append(errs, fmt.Errorf("repair interval %s and sync interval %s must be positive", c.RepairInterval, c.SyncInterval))
	}
	if err := c.Prefs.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.NAT.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.RoutingRefresh <= 0 {
		errs = append(errs, fmt.Errorf("routing refresh interval %s must be positive", c.RoutingRefresh))
	}
	if c.BootstrapInterval <= 0 {
		errs = append(errs, fmt.Errorf("bootstrap interval %s must be positive", c.BootstrapInterval))
	}
	return errors.Join(errs...)
}

// ParseBootstrapPeers parses full multiaddrs with a /p2p/ part into peer infos, merging
// addresses of the same peer (p2p.ParseBootstrapPeers).
func ParseBootstrapPeers(addrs []string) ([]peer.AddrInfo, error) {
	return p2p.ParseBootstrapPeers(addrs)
}

// SwarmKeyPath is the absolute path of the swarm key, or "" for a public swarm.
func (c *Config) SwarmKeyPath() string {
	if c.SwarmKeyFile == "" || filepath.IsAbs(c.SwarmKeyFile) {
		return c.SwarmKeyFile
	}
	return filepath.Join(c.DataDir, c.SwarmKeyFile)
}

// Load reads <dataDir>/config.json over Default(dataDir).
func Load(dataDir string) (Config, error) {
	c := Default(dataDir)
	path := filepath.Join(dataDir, store.ConfigFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return c, fmt.Errorf("%s not found: run `allforone init --data %s` first: %w", path, dataDir, store.ErrNotInitialized)
	}
	if err != nil {
		return c, fmt.Errorf("read config: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("config file %s is not valid JSON (%v): fix it by hand or move it away and run `allforone init` again", path, err)
	}
	c.DataDir = dataDir
	return c, nil
}

// Save writes the config file atomically.
func (c *Config) Save() error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return store.WriteFileAtomic(filepath.Join(c.DataDir, store.ConfigFile), append(b, '\n'), 0o600)
}

// Duration is a time.Duration that reads and writes as a string like "30s" in JSON.
type Duration time.Duration

// String formats the duration like time.Duration.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a string like "30s" (or a number of nanoseconds).
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if err2 := json.Unmarshal(b, &n); err2 != nil {
			return fmt.Errorf("duration must be a string like \"30s\": %w", err)
		}
		*d = Duration(n)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// The local API listens on loopback. An operator who binds it elsewhere must give it TLS
// (a certificate and key), or say explicitly that they accept clear text.

// validateAPIExposure is part of Config.Validate.
func (c *Config) validateAPIExposure() error {
	host, _, err := net.SplitHostPort(c.APIAddr)
	if err != nil {
		return nil // reported by Validate
	}
	if (c.APITLSCert == "") != (c.APITLSKey == "") {
		return errors.New("api TLS needs both a certificate and a key: give --api-tls-cert and --api-tls-key, or set both at once: allforone config set api_tls_cert FILE api_tls_key FILE")
	}
	if !api.IsLoopbackHost(host) && c.APITLSCert == "" && !c.APIInsecure {
		return fmt.Errorf("api address %s can be reached from other machines: give it TLS (--api-tls-cert and --api-tls-key), or pass --api-insecure if you accept that the token travels in clear text, or keep it on 127.0.0.1", c.APIAddr)
	}
	return nil
}

// NATConfig is how the node copes with NATs (reach.Config has every field).
type NATConfig = reach.Config

// DefaultNATConfig is a home volunteer's: find out, relay while public, use relays and
// hole punching while not; no UPnP and no public rendezvous unless asked.
func DefaultNATConfig() NATConfig { return reach.DefaultConfig() }

// Reachability settings a NATConfig may name.
const (
	ReachAuto    = reach.ReachAuto    // AutoNAT finds out whether peers can dial this node
	ReachPublic  = reach.ReachPublic  // the node is dialable from outside
	ReachPrivate = reach.ReachPrivate // it is not
)
