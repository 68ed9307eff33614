// Package store is what a node keeps on disk: the data dir's files and format version
// (datadir.go, with the migrations between versions), its lock, the embedded datastore
// (pebble through go-ds-pebble, store.go) with its corruption reports, the sync points that
// tell a lost log tail from a crash (node/internal/durable), and the checks `allforone repair` runs
// (check.go). schema.go names every file and every datastore key.
package store

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
)

// The schema of a node's data dir, in one place: the files in it, every datastore key the
// node writes, and the format version that covers both. Whoever changes a name, a key or
// the encoding of a value so that older code would misread it raises DataDirVersion by one
// and appends the step to dataDirMigrations (datadir.go).

// DataDirVersion is the data dir format this code reads and writes.
const DataDirVersion = 1

// Files and folders in the data dir.
const (
	IdentityFile = "identity.key" // the node's Ed25519 private key (base64 protobuf, mode 0600)
	ConfigFile   = "config.json"  // the node's Config
	SwarmKeyFile = "swarm.key"    // the pre-shared key of a private swarm (optional)
	TokenFile    = "api.token"    // the bearer token of the local API (mode 0600)
	APIFile      = "api"          // host:port (or https://host:port) of the running daemon's API
	LockFile     = "repo.lock"    // held by the daemon, repair and upgrades
	// VersionFile holds the data dir's format version: a decimal number and a newline. A
	// data dir without it is version 0 (made before formats were versioned).
	VersionFile = "version"
	// BackupDir is where a migration first copies the data dir as it was, one subfolder per
	// upgrade (backups/version-<from>-<UTC time>/), and where `repair --move-aside` moves a
	// corrupt datastore (backups/datastore-corrupt-<UTC time>).
	BackupDir = "backups"
	// DatastoreDir is the datastore's folder (pebble).
	DatastoreDir = "datastore"
)

// Files in the datastore folder: they move with the datastore (repair --move-aside).
const (
	// corruptMarkFile remembers a corruption found while the node ran, so the next start
	// refuses the datastore until `allforone repair` checked it.
	corruptMarkFile = "allforone-corrupt.json"
	// syncedFile is the last sync point recorded (node/internal/durable).
	syncedFile = "allforone-synced.json"
)

// Datastore keys. A task index in a key is eight decimal digits, so keys sort by task.
const (
	// BatchPrefix: <batch CID> -> the signed manifest of a known batch (protobuf).
	BatchPrefix = "/batches/"
	// NamesSuffix: BatchPrefix<batch CID>NamesSuffix -> the batch's output names (JSON).
	NamesSuffix = "/names"
	// StewardPrefix: <batch CID>/<task> -> the steward's state of a task (protobuf).
	StewardPrefix = "/steward/"
	// StewardOfPrefix: <batch CID> -> this node is (or was) one of the batch's stewards: empty,
	// or the digest of its finished state (pb.StateDigest; node/dormant.go), written in the
	// same datastore batch as the states it sums up.
	StewardOfPrefix = "/steward-of/"
	// PromisePrefix: <batch CID> -> this steward's primary-epoch promise for the batch
	// (protocol/README.md section 10.12): the epoch, 8 bytes big endian, then the binary
	// peer ID it was granted to. Synced before any answer that depends on it goes out.
	PromisePrefix = "/steward-promise/"
	// VotersPrefix: <batch CID> -> the newest voting set of the batch this steward knows
	// (pb.VotingSet, protobuf): one a fenced primary fixed (protocol/README.md 10.12).
	VotersPrefix = "/steward-voters/"
	// ResultPrefix: <batch CID>/<task> -> an accepted result this node holds (protobuf).
	ResultPrefix = "/results/"
	// RanPrefix: <batch CID>/<task> -> the output CID this node computed for the task.
	RanPrefix = "/ran/"
	// UnrefPrefix: <blob CID> -> since when no batch refers to the blob (unix ms, 8 bytes).
	UnrefPrefix = "/gc/unref/"
	// FinishedPrefix: <batch CID> -> when this node first saw the batch finished (unix ms).
	FinishedPrefix = "/gc/finished/"
	// TrustPrefix: <peer ID> -> what this node knows of a peer's results (JSON).
	TrustPrefix = "/trust/"
	// BackupPeersKey -> peers this node was connected to, to bootstrap from (JSON).
	BackupPeersKey = "/node/backup-peers"
	// SyncMarkKey -> the number of the last sync point (8 bytes, big endian; node/internal/durable).
	SyncMarkKey = "/local/synced"
	// IncarnationKey -> the store's incarnation (8 bytes, big endian; node/internal/durable).
	IncarnationKey = "/local/incarnation"
	// DHTNamespace holds the DHT's records (provider records, values) under it.
	DHTNamespace = "/dht"
	// BlobPrefix: <CID> -> a blob's bytes. tasks.BlobStore owns it and its neighbours
	// /blobparts/<CID> (a large blob's descriptor) and /blobchunks/<group>/<index> (its
	// chunks); the node only checks and deletes blobs through it.
	BlobPrefix = "/blobs/"
)

// BatchKey is where the manifest of batch id is kept.
func BatchKey(id cid.Cid) datastore.Key { return datastore.NewKey(BatchPrefix + id.String()) }

// NamesKey is where the output names of batch id are kept.
func NamesKey(id cid.Cid) datastore.Key {
	return datastore.NewKey(BatchPrefix + id.String() + NamesSuffix)
}

// StewardKey is where the steward state of one task of batch id is kept.
func StewardKey(id cid.Cid, task int) datastore.Key {
	return datastore.NewKey(fmt.Sprintf("%s%s/%08d", StewardPrefix, id, task))
}

// StewardTasksPrefix is the prefix of every StewardKey of batch id.
func StewardTasksPrefix(id cid.Cid) string { return StewardPrefix + id.String() + "/" }

// StewardMarker marks batch id as one this node stewards.
func StewardMarker(id cid.Cid) datastore.Key {
	return datastore.NewKey(StewardOfPrefix + id.String())
}

// PromiseKey is where this steward's primary-epoch promise for batch id is kept.
func PromiseKey(id cid.Cid) datastore.Key {
	return datastore.NewKey(PromisePrefix + id.String())
}

// VotersKey is where this steward's voting set for batch id is kept.
func VotersKey(id cid.Cid) datastore.Key {
	return datastore.NewKey(VotersPrefix + id.String())
}

// ResultKey is where the accepted result of one task of batch id is kept.
func ResultKey(id cid.Cid, task int) datastore.Key {
	return datastore.NewKey(fmt.Sprintf("%s%s/%08d", ResultPrefix, id, task))
}

// ParseTaskKey reads the batch and the task back from a key of the form
// <prefix><batch CID>/<task> (ResultKey, StewardKey, RanKey); ok is false for any other.
func ParseTaskKey(key string) (id cid.Cid, task int, ok bool) {
	var r TaskKeyReader
	return r.Parse(key)
}

// TaskKeyReader is ParseTaskKey for the keys of a scan: the keys of one batch come
// together, and it decodes each batch's CID once (decoding it for every key was a tenth
// of a daemon's start).
type TaskKeyReader struct {
	last string // the batch part of the last key read
	id   cid.Cid
}

// Parse is ParseTaskKey.
func (r *TaskKeyReader) Parse(key string) (id cid.Cid, task int, ok bool) {
	key = strings.TrimSuffix(key, "/")
	slash := strings.LastIndexByte(key, '/')
	if slash < 0 {
		return cid.Undef, 0, false
	}
	digits := key[slash+1:]
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return cid.Undef, 0, false
	}
	task, err := strconv.Atoi(digits)
	if err != nil {
		return cid.Undef, 0, false
	}
	batch := key[strings.LastIndexByte(key[:slash], '/')+1 : slash]
	if batch != r.last || !r.id.Defined() {
		if r.id, err = cid.Decode(batch); err != nil {
			r.last, r.id = "", cid.Undef
			return cid.Undef, 0, false
		}
		r.last = batch
	}
	return r.id, task, true
}

// RanKey is where the output this node computed for one task of batch id is kept.
func RanKey(id cid.Cid, task int) datastore.Key {
	return datastore.NewKey(fmt.Sprintf("%s%s/%08d", RanPrefix, id, task))
}

// RanBatchPrefix is the prefix of every RanKey of batch id.
func RanBatchPrefix(id cid.Cid) string { return RanPrefix + id.String() + "/" }

// UnrefKey is where since when no batch refers to blob c is kept.
func UnrefKey(c cid.Cid) datastore.Key { return datastore.NewKey(UnrefPrefix + c.String()) }

// FinishedKey is where when batch id was first seen finished is kept.
func FinishedKey(id cid.Cid) datastore.Key { return datastore.NewKey(FinishedPrefix + id.String()) }

// TrustKey is where the trust record of a peer (its ID as a string) is kept.
func TrustKey(peerID string) datastore.Key { return datastore.NewKey(TrustPrefix + peerID) }

// BlobKey is where the bytes of a small blob c are kept (tasks.BlobStore's layout).
func BlobKey(c cid.Cid) datastore.Key { return datastore.NewKey(BlobPrefix + c.String()) }
