package node

import (
	"context"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/pnet"

	"allforone/node/internal/p2p"
	"allforone/node/internal/store"
)

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
