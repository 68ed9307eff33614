package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"allforone/tasks"

	"github.com/cockroachdb/pebble/v2"
	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
)

// Checking a datastore from outside the daemon (`allforone repair` and `allforone doctor`),
// and moving a corrupt one aside.

// DatastoreReport is what CheckDatastore found.
type DatastoreReport struct {
	Dir string `json:"dir"`
	// OK is true when nothing is corrupt (a lost log tail is not corruption: the datastore
	// is usable, and the daemon fetches the rest again from its peers).
	OK      bool              `json:"ok"`
	Full    bool              `json:"full"`              // every key and value was read
	Missing bool              `json:"missing,omitempty"` // no datastore yet: the daemon makes one
	Corrupt []CorruptionError `json:"corrupt,omitempty"`
	// Marked is the corruption a running daemon found and recorded, if any. A full check
	// that reads everything back fine clears the mark (Cleared).
	Marked   *CorruptionError `json:"marked,omitempty"`
	Cleared  bool             `json:"cleared,omitempty"`
	BadBlobs []string         `json:"bad_blobs,omitempty"` // blobs whose bytes do not hash to their ID
	Lost     *DataLoss        `json:"lost,omitempty"`      // writes the log lost
	Counts   StoreCounts      `json:"counts"`
	Keys     int              `json:"keys,omitempty"`  // full: every key
	Bytes    int64            `json:"bytes,omitempty"` // full: keys and values
	Seconds  float64          `json:"seconds"`
}

// CheckDatastore checks the datastore of dataDir, which no daemon may be using: it opens it
// read-only (pebble checks the MANIFEST, replays the log and reads every table's footer,
// index and properties) and compares it with the last recorded sync point. A full check
// then reads every key and value (every block's checksum), checks the tables' key order
// and verifies every blob against its content ID; it takes about as long as reading the
// datastore from disk. The error is for a check that could not run; what it found is in
// the report.
func CheckDatastore(ctx context.Context, dataDir string, full bool) (*DatastoreReport, error) {
	start := time.Now()
	lock, err := LockDataDir(dataDir)
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	dir := filepath.Join(dataDir, DatastoreDir)
	r := &DatastoreReport{Dir: dir, Full: full}
	defer func() { r.Seconds = time.Since(start).Seconds() }()
	if isEmptyStore(dir) {
		r.OK, r.Missing = true, true
		return r, nil
	}
	r.Marked = ReadCorruptMark(dataDir)
	h := NewHealth(dataDir, slog.New(slog.DiscardHandler), func(err error) { panic(err) })
	d, err := Open(dataDir, h, true)
	if err != nil {
		var c *CorruptionError
		if !errors.As(err, &c) {
			return nil, err
		}
		r.Corrupt = []CorruptionError{*c}
		return r, nil
	}
	defer d.Close()
	if r.Counts, err = countStore(ctx, d); err != nil && h.First() == nil {
		return nil, err
	}
	rec, recErr := ReadSynced(dataDir)
	if kept, err := ReadSyncMark(ctx, d); err == nil && recErr == nil {
		if loss := CompareSynced(rec, kept, r.Counts, time.Now()); loss != nil && loss.Reason == "log" {
			r.Lost = loss
		}
	}
	if full {
		if err := readEverything(ctx, d, r); err != nil && h.First() == nil {
			r.Corrupt = append(r.Corrupt, CorruptionError{DataDir: dataDir, File: storeFile(dataDir, "", err), Detail: pebbleDetail(err)})
		}
		if err := d.DB.CheckLevels(nil); err != nil && h.First() == nil {
			r.Corrupt = append(r.Corrupt, CorruptionError{DataDir: dataDir, File: storeFile(dataDir, "", err), Detail: pebbleDetail(err)})
		}
	}
	r.Corrupt = append(r.Corrupt, h.All()...)
	r.OK = len(r.Corrupt) == 0 && len(r.BadBlobs) == 0 && (r.Marked == nil || full)
	if r.OK && r.Marked != nil {
		if err := ClearCorruptMark(dataDir); err != nil {
			return r, fmt.Errorf("clear the corruption mark: %w", err)
		}
		r.Cleared = true
	}
	return r, nil
}

// isEmptyStore reports whether dir holds no pebble files (the daemon creates them).
func isEmptyStore(dir string) bool {
	for _, pat := range []string{"MANIFEST-*", "*.sst", "*.log"} {
		if m, _ := filepath.Glob(filepath.Join(dir, pat)); len(m) > 0 {
			return false
		}
	}
	return true
}

// countStore counts batches, steward roles and results by their keys.
func countStore(ctx context.Context, d *Store) (StoreCounts, error) {
	var c StoreCounts
	for _, q := range []struct {
		prefix string
		n      *int
		skip   string
	}{{BatchPrefix, &c.Batches, NamesSuffix}, {StewardOfPrefix, &c.StewardOf, ""}, {ResultPrefix, &c.Results, ""}} {
		res, err := d.Query(ctx, query.Query{Prefix: q.prefix, KeysOnly: true})
		if err != nil {
			return c, err
		}
		for e := range res.Next() {
			if e.Error != nil {
				res.Close()
				return c, e.Error
			}
			if q.skip == "" || !strings.HasSuffix(e.Key, q.skip) {
				*q.n++
			}
		}
		res.Close()
	}
	return c, nil
}

// readEverything reads every key and value, and verifies every blob through a BlobStore.
func readEverything(ctx context.Context, d *Store, r *DatastoreReport) error {
	it, err := d.DB.NewIter(&pebble.IterOptions{})
	if err != nil {
		return err
	}
	var blobs []cid.Cid
	blobPrefix := []byte(BlobPrefix)
	for it.First(); it.Valid(); it.Next() {
		if ctx.Err() != nil {
			it.Close()
			return ctx.Err()
		}
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return err
		}
		r.Keys++
		r.Bytes += int64(len(it.Key()) + len(v))
		if k := it.Key(); bytes.HasPrefix(k, blobPrefix) {
			if c, err := cid.Decode(string(k[len(blobPrefix):])); err == nil {
				blobs = append(blobs, c)
			} else {
				r.BadBlobs = append(r.BadBlobs, string(k))
			}
		}
	}
	if err := it.Close(); err != nil {
		return err
	}
	bs := tasks.NewBlobStore(d)
	for _, c := range blobs {
		if _, err := bs.Get(ctx, c); err != nil {
			if errors.Is(err, tasks.ErrCorrupt) {
				r.BadBlobs = append(r.BadBlobs, c.String())
				continue
			}
			return err
		}
	}
	return nil
}

// DeleteBlobs removes the named blobs from the datastore of dataDir (no daemon may be
// using it): bad copies, which the node fetches again from their providers.
func DeleteBlobs(ctx context.Context, dataDir string, ids []string) error {
	lock, err := LockDataDir(dataDir)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	h := NewHealth(dataDir, slog.New(slog.DiscardHandler), func(err error) { panic(err) })
	d, err := Open(dataDir, h, false)
	if err != nil {
		return err
	}
	for _, id := range ids {
		key := datastore.NewKey(id)
		if c, err := cid.Decode(id); err == nil {
			key = BlobKey(c)
		}
		if err := d.Delete(ctx, key); err != nil {
			d.Close()
			return fmt.Errorf("delete blob %s: %w", id, err)
		}
	}
	return d.Close()
}

// MoveDatastoreAside moves the datastore of dataDir (no daemon may be using it) to
// backups/datastore-corrupt-<UTC time> and leaves an empty one that remembers the move, so
// the daemon's next start says what was lost and fetches it again from its peers. The
// identity, config, keys and API token stay. It returns where the old datastore went.
func MoveDatastoreAside(dataDir string, now time.Time) (string, error) {
	lock, err := LockDataDir(dataDir)
	if err != nil {
		return "", err
	}
	defer lock.Unlock()
	dir := filepath.Join(dataDir, DatastoreDir)
	if _, err := os.Stat(dir); err != nil {
		return "", fmt.Errorf("move the datastore aside: %w", err)
	}
	var before StoreCounts
	if abs, err := filepath.Abs(dataDir); err == nil {
		dataDir, dir = abs, filepath.Join(abs, DatastoreDir) // the backup's path is printed and logged
	}
	if rec, err := ReadSynced(dataDir); err == nil && rec != nil {
		before = rec.Counts
	}
	backup := filepath.Join(dataDir, BackupDir, "datastore-corrupt-"+now.UTC().Format("20060102T150405Z"))
	if err := os.MkdirAll(filepath.Dir(backup), 0o700); err != nil {
		return "", fmt.Errorf("move the datastore aside: %w", err)
	}
	if err := os.Rename(dir, backup); err != nil {
		return "", fmt.Errorf("move the datastore aside to %s: %w", backup, err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return backup, fmt.Errorf("make an empty datastore (the old one is in %s): %w", backup, err)
	}
	rec := &SyncedRecord{Reset: &ResetRecord{At: now.UTC(), Backup: backup, Before: before}}
	if err := WriteSynced(dataDir, rec); err != nil {
		return backup, fmt.Errorf("the old datastore is in %s, but: %w", backup, err)
	}
	return backup, nil
}
