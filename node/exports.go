package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/pnet"

	"allforone/node/internal/api"
	"allforone/node/internal/apitypes"
	"allforone/node/internal/client"
	"allforone/node/internal/config"
	"allforone/node/internal/operator"
	"allforone/node/internal/p2p"
	"allforone/node/internal/store"
	"allforone/node/internal/submit"
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
	PriorityIdle   = config.PriorityIdle   // the lowest OS priority: tasks use only CPU nobody else wants
	PriorityNormal = config.PriorityNormal // the priority of the daemon itself
)

// Reachability settings a NATConfig may name.
const (
	ReachAuto    = config.ReachAuto    // AutoNAT finds out whether peers can dial this node
	ReachPublic  = config.ReachPublic  // the node is dialable from outside
	ReachPrivate = config.ReachPrivate // it is not
)

// Kinds of ConfigKey.
const (
	KindString   = config.KindString   // text as given
	KindInt      = config.KindInt      // a whole number
	KindBool     = config.KindBool     // true or false
	KindDuration = config.KindDuration // a Go duration like 30s, 10m, 72h
	KindList     = config.KindList     // strings: comma-separated, or a JSON array
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

// The data dir and its datastore are package store's (node/internal/store: schema.go has
// every file name, datastore key and the format version); these are the names of it that
// the commands use.

// Files and folders in the data dir (see the package doc).
const (
	IdentityFile = store.IdentityFile // the node's private key
	ConfigFile   = store.ConfigFile   // the node's Config
	SwarmKeyFile = store.SwarmKeyFile // the pre-shared key of a private swarm
	TokenFile    = store.TokenFile    // the bearer token of the local API
	APIFile      = store.APIFile      // host:port of the running daemon's API
	LockFile     = store.LockFile     // held while a daemon or a repair uses the data dir
	VersionFile  = store.VersionFile  // the data dir's format version
	BackupDir    = store.BackupDir    // backups made before upgrades, datastores moved aside
	DatastoreDir = store.DatastoreDir // the embedded key-value store (pebble)
)

// DataDirVersion is the data dir format this code reads and writes.
const DataDirVersion = store.DataDirVersion

var (
	// ErrNotInitialized means the data dir has no config or identity yet.
	ErrNotInitialized = store.ErrNotInitialized
	// ErrDatastoreCorrupt means the datastore is damaged; errors.As gives a
	// *CorruptionError with the file and what to do.
	ErrDatastoreCorrupt = store.ErrDatastoreCorrupt
	// ErrDataDirTooNew means the data dir was written by a newer allforone.
	ErrDataDirTooNew = store.ErrDataDirTooNew
)

type (
	// CorruptionError says what in a node's datastore is damaged and how to get out of it.
	CorruptionError = store.CorruptionError
	// DatastoreReport is what CheckDatastore found.
	DatastoreReport = store.DatastoreReport
	// DataLoss says what a node's datastore lost before this start.
	DataLoss = store.DataLoss
	// StoreCounts is how much a node keeps in its datastore.
	StoreCounts = store.StoreCounts
	// DataDirUpgrade says what an upgrade of the data dir's format did.
	DataDirUpgrade = store.DataDirUpgrade
)

// ReadDataDirVersion returns the format version of the data dir: 0 when it has no version
// file.
func ReadDataDirVersion(dataDir string) (int, error) { return store.ReadDataDirVersion(dataDir) }

// RepairAdvice is what to do about a corrupt datastore in dataDir.
func RepairAdvice(dataDir string) string { return store.RepairAdvice(dataDir) }

// CheckDatastore checks the datastore of dataDir, which no daemon may be using; a full
// check reads every key and value (store.CheckDatastore says what it checks).
func CheckDatastore(ctx context.Context, dataDir string, full bool) (*DatastoreReport, error) {
	return store.CheckDatastore(ctx, dataDir, full)
}

// DeleteBlobs removes the named blobs from the datastore of dataDir (no daemon may be
// using it): bad copies, which the node fetches again from their providers.
func DeleteBlobs(ctx context.Context, dataDir string, ids []string) error {
	return store.DeleteBlobs(ctx, dataDir, ids)
}

// MoveDatastoreAside moves the datastore of dataDir (no daemon may be using it) to the
// backups folder and leaves an empty one that remembers the move; it returns where the
// old datastore went.
func MoveDatastoreAside(dataDir string, now time.Time) (string, error) {
	return store.MoveDatastoreAside(dataDir, now)
}

// ErrCorruptIdentity means the identity key file cannot be read as a key.
var ErrCorruptIdentity = p2p.ErrCorruptIdentity

// LoadIdentity reads the node's private key from the data dir.
func LoadIdentity(dataDir string) (crypto.PrivKey, error) { return p2p.LoadIdentity(dataDir) }

// PeerIDOf returns the peer ID of the data dir's identity.
func PeerIDOf(dataDir string) (peer.ID, error) { return p2p.PeerIDOf(dataDir) }

// NewSwarmKey makes a new pre-shared key for a private swarm, in the IPFS swarm.key format.
func NewSwarmKey() ([]byte, error) { return p2p.NewSwarmKey() }

// DecodeSwarmKey parses a swarm key in the IPFS swarm.key format.
func DecodeSwarmKey(b []byte) (pnet.PSK, error) { return p2p.DecodeSwarmKey(b) }

// The JSON bodies of the local API are package apitypes' (node/internal/apitypes), and its
// client is package client's; these are their names for the commands and the testnet. The
// CLI prints the bodies as they are with --json.

// Client talks to a running daemon's local API (client.Client).
type Client = client.Client

// StatusError is an API answer with an error status (client.StatusError).
type StatusError = client.StatusError

// ErrDaemonNotRunning means no daemon's API could be reached for a data dir.
var ErrDaemonNotRunning = client.ErrDaemonNotRunning

// NewClient returns a client for the daemon that runs on dataDir.
func NewClient(dataDir string) (*Client, error) { return client.New(dataDir) }

// NewClientAt returns a client for the API at host:port with the given token.
func NewClientAt(addr, token string) *Client { return client.NewAt(addr, token) }

// Bodies of the local API.
type (
	IDInfo           = apitypes.IDInfo           // GET /api/v1/id
	PeerInfo         = apitypes.PeerInfo         // one of GET /api/v1/peers
	Health           = apitypes.Health           // GET /api/v1/health
	SubmitRequest    = apitypes.SubmitRequest    // POST /api/v1/batches
	SubmitInput      = apitypes.SubmitInput      // one input of a SubmitRequest
	SubmitResult     = apitypes.SubmitResult     // the answer to a submission
	BatchStatus      = apitypes.BatchStatus      // a batch's progress
	TaskFailure      = apitypes.TaskFailure      // why one task failed
	PeerStatus       = apitypes.PeerStatus       // one peer's share of a batch
	BatchInfo        = apitypes.BatchInfo        // one line of `allforone batches`
	FetchReport      = apitypes.FetchReport      // how a fetch of results went
	OutputNames      = apitypes.OutputNames      // how a batch's output files are named
	OutputName       = apitypes.OutputName       // the names of one input's outputs
	Dashboard        = apitypes.Dashboard        // GET /api/v1/dashboard
	DashBatch        = apitypes.DashBatch        // a batch on the dashboard
	PrefsInfo        = apitypes.PrefsInfo        // GET /api/v1/prefs
	DiskUsage        = apitypes.DiskUsage        // what blobs and results take
	PartitionRequest = apitypes.PartitionRequest // POST /api/v1/testing/partition
	HealRequest      = apitypes.HealRequest      // POST /api/v1/testing/heal
	TestingPeers     = apitypes.TestingPeers     // the partition, heal and blocked answers
	SlowRequest      = apitypes.SlowRequest      // POST /api/v1/testing/slow
	TestingSlow      = apitypes.TestingSlow      // its answer
	TestingHeld      = apitypes.TestingHeld      // GET /api/v1/testing/held/{batch}
	TestingTasks     = apitypes.TestingTasks     // GET /api/v1/testing/tasks/{batch}
	TaskCounts       = apitypes.TaskCounts       // one task as a steward sees it
	BlobInfo         = apitypes.BlobInfo         // POST /api/v1/blobs
	ConnectRequest   = apitypes.ConnectRequest   // POST /api/v1/peers/connect
)

// KindNoQuorum is a failed task's kind when its executions succeeded but disagreed.
const KindNoQuorum = apitypes.KindNoQuorum

// APIError is the body of every API error response.
type APIError = api.Error

// MaxSubmitJSON bounds the JSON body of POST /api/v1/batches (node/internal/api).
const MaxSubmitJSON = api.MaxSubmitJSON

// What the node is doing and has just done (operator.Record keeps it).
type (
	// Activity is what the node is doing and has just done.
	Activity = operator.Activity
	// RunningTask is a task running on this node now.
	RunningTask = operator.RunningTask
	// RecentResult is a task this node ran.
	RecentResult = operator.RecentResult
	// ThroughputPoint counts the tasks this node finished in one bucket of time.
	ThroughputPoint = operator.ThroughputPoint
)

// ErrBadSubmission means a submission was refused for what it contains.
var ErrBadSubmission = submit.ErrBad

// CheckSubmission checks everything in req that can be checked without its blobs — the
// task count (by arithmetic), limits, R and K, names, inline sizes — as Submit will, so a
// client can refuse a bad batch before it uploads anything (submit.Check).
func CheckSubmission(req SubmitRequest) error { return submit.Check(req) }

// Init prepares cfg.DataDir: a new identity, the API token, the swarm key (copied from
// swarmKeyPath when it is not empty) and the config file. It refuses a data dir that
// already has an identity, and on failure removes only what it created.
func Init(cfg Config, swarmKeyPath string) (peer.ID, error) {
	var key []byte
	if swarmKeyPath != "" {
		b, err := os.ReadFile(swarmKeyPath)
		if err != nil {
			return "", fmt.Errorf("read swarm key: %w", err)
		}
		if _, err := DecodeSwarmKey(b); err != nil {
			return "", fmt.Errorf("swarm key %s: %w", swarmKeyPath, err)
		}
		key = b
	}
	return InitWithSwarmKey(cfg, key)
}

// InitWithSwarmKey is Init with the swarm key given as its contents (nil: a public swarm),
// for a new private swarm whose key was just made with NewSwarmKey. The key is stored as
// SwarmKeyFile in the data dir.
func InitWithSwarmKey(cfg Config, key []byte) (peer.ID, error) {
	if err := cfg.Validate(); err != nil {
		return "", err
	}
	if key != nil {
		if _, err := DecodeSwarmKey(key); err != nil {
			return "", err
		}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return "", fmt.Errorf("create data dir: %w", err)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, IdentityFile)); err == nil {
		return "", fmt.Errorf("%s is already initialized (it has an %s): use it as it is, or choose another --data dir", cfg.DataDir, IdentityFile)
	}
	var created []string
	undo := func() {
		for _, p := range created {
			os.Remove(p)
		}
	}
	sk, err := p2p.NewIdentity(cfg.DataDir)
	if err != nil {
		return "", err
	}
	created = append(created, filepath.Join(cfg.DataDir, IdentityFile))
	if err := ensureToken(cfg.DataDir); err != nil {
		undo()
		return "", err
	}
	if key != nil {
		p := filepath.Join(cfg.DataDir, SwarmKeyFile)
		if err := store.WriteFileAtomic(p, key, 0o600); err != nil {
			undo()
			return "", err
		}
		created = append(created, p)
		cfg.SwarmKeyFile = SwarmKeyFile
	}
	if err := store.WriteDataDirVersion(cfg.DataDir, DataDirVersion); err != nil {
		undo()
		return "", err
	}
	created = append(created, filepath.Join(cfg.DataDir, VersionFile))
	if err := cfg.Save(); err != nil {
		undo()
		return "", err
	}
	return peer.IDFromPrivateKey(sk)
}

// ensureToken creates the API token file if it does not exist yet.
func ensureToken(dataDir string) error {
	path := filepath.Join(dataDir, TokenFile)
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	err := store.WriteFileExclusive(path, []byte(hex.EncodeToString(b)+"\n"), 0o600)
	if err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("write api token: %w", err)
	}
	return nil
}
