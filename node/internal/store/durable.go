package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ipfs/go-datastore"
)

// Sync points (package node/internal/durable explains them): the record of the last one, kept in
// syncedFile outside pebble's files, and the counter under SyncMarkKey inside them. A
// datastore whose counter is behind the record lost writes that had been synced.

// StoreCounts is how much a node keeps in its datastore.
type StoreCounts struct {
	Batches   int `json:"batches"`    // manifests of known batches
	StewardOf int `json:"steward_of"` // batches whose steward state it keeps
	Results   int `json:"results"`    // results it holds
}

// DataLoss says what a node's datastore lost before this start. The node fetches again
// what its peers hold: running batches (ListBatches), the steward state of the batches it
// stewards (from the other stewards), and the results it holds (their other holders copy
// them back when they see it lacks them).
type DataLoss struct {
	// Reason is "log" (the write-ahead log ended before writes that had been synced: it
	// was truncated or damaged) or "reset" (`allforone repair --move-aside` replaced a
	// corrupt datastore with an empty one).
	Reason     string      `json:"reason"`
	Found      time.Time   `json:"found"`                // when this node found it
	Synced     uint64      `json:"synced"`               // sync points recorded outside the datastore
	Kept       uint64      `json:"kept"`                 // sync points the datastore still had
	LastSynced time.Time   `json:"last_synced,omitzero"` // when the last recorded one was made
	Before     StoreCounts `json:"before"`               // at the last recorded sync point
	After      StoreCounts `json:"after"`                // what this start found
	Backup     string      `json:"backup,omitempty"`     // reset: where the old datastore went
	Resynced   bool        `json:"resynced,omitempty"`   // batches were listed again by peers
}

// Summary is the loss in one sentence.
func (l *DataLoss) Summary() string {
	var what string
	switch l.Reason {
	case "reset":
		what = "the datastore was replaced with an empty one by `allforone repair --move-aside`"
		if l.Backup != "" {
			what += " (the old one is in " + l.Backup + ")"
		}
	default:
		what = fmt.Sprintf("the datastore's log ended early: it lacks the last %d of %d recorded sync points", l.Synced-l.Kept, l.Synced)
		if !l.LastSynced.IsZero() {
			what += " (the last one made at " + l.LastSynced.Format(time.RFC3339) + ")"
		}
	}
	var lost []string
	for _, c := range []struct {
		name          string
		before, after int
	}{{"batches", l.Before.Batches, l.After.Batches}, {"steward roles", l.Before.StewardOf, l.After.StewardOf},
		{"results", l.Before.Results, l.After.Results}} {
		if c.before != c.after {
			lost = append(lost, fmt.Sprintf("%s %d -> %d", c.name, c.before, c.after))
		}
	}
	if len(lost) > 0 {
		what += ": " + strings.Join(lost, ", ")
	}
	return what
}

// SyncedRecord is the content of syncedFile.
type SyncedRecord struct {
	Seq    uint64      `json:"seq"`
	At     time.Time   `json:"at"`
	Counts StoreCounts `json:"counts"`
	// Reset is set by `allforone repair --move-aside` in the new, empty datastore.
	Reset *ResetRecord `json:"reset,omitempty"`
}

type ResetRecord struct {
	At     time.Time   `json:"at"`
	Backup string      `json:"backup"`
	Before StoreCounts `json:"before"`
}

func SyncedPath(dataDir string) string { return filepath.Join(dataDir, DatastoreDir, syncedFile) }

// ReadSynced returns the recorded sync point, or nil when there is none (a datastore from
// before sync points were recorded, or a new one).
func ReadSynced(dataDir string) (*SyncedRecord, error) {
	b, err := os.ReadFile(SyncedPath(dataDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r SyncedRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s is not a sync record: %w", SyncedPath(dataDir), err)
	}
	return &r, nil
}

func WriteSynced(dataDir string, r *SyncedRecord) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return WriteFileAtomic(SyncedPath(dataDir), append(b, '\n'), 0o600)
}

// ReadSyncMark returns the sync point number the datastore holds (0 when none).
func ReadSyncMark(ctx context.Context, d datastore.Read) (uint64, error) {
	b, err := d.Get(ctx, datastore.NewKey(SyncMarkKey))
	if errors.Is(err, datastore.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if len(b) != 8 {
		return 0, fmt.Errorf("%s holds %d bytes, not 8", SyncMarkKey, len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}

// CompareSynced finds what the datastore lost against the record; after is what it holds.
func CompareSynced(rec *SyncedRecord, kept uint64, after StoreCounts, now time.Time) *DataLoss {
	switch {
	case rec == nil:
		return nil
	case rec.Reset != nil:
		return &DataLoss{Reason: "reset", Found: now, LastSynced: rec.Reset.At, Backup: rec.Reset.Backup,
			Before: rec.Reset.Before, After: after}
	case rec.Seq > kept:
		return &DataLoss{Reason: "log", Found: now, Synced: rec.Seq, Kept: kept, LastSynced: rec.At,
			Before: rec.Counts, After: after}
	}
	return nil
}
