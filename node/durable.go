package node

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-datastore"
)

// Lost writes. Pebble replays its write-ahead log at open and stops, silently, at the first
// record that is torn or damaged: it is built for a crash in the middle of a write, and so
// it also hides a log whose tail was truncated or overwritten later (a bad disk, a bad copy,
// a full disk), with everything after that point gone. To tell the two apart the node keeps
// a record of what it had made durable outside pebble's files: at every sync point (a
// submission, results sent to a steward, every durableEvery while anything was written, and
// Close) it writes a counter under syncMarkKey, fsyncs the log and then writes the counter,
// with how many batches, steward roles and results it held, to syncedFile. At open, a
// datastore whose counter is behind the file lost writes that had been synced: the node says
// so (log, health, why, doctor) and fetches again what its peers have (resync.go).

const (
	// syncedFile, in the datastore folder, is the last sync point recorded. It moves with
	// the datastore (repair --move-aside), so an empty datastore never looks like a loss.
	syncedFile = "allforone-synced.json"
	// syncMarkKey holds the number of the last sync point in the datastore itself.
	syncMarkKey = "/local/synced"
	// durableEvery bounds how long a write stays unsynced (and unrecorded) while the node
	// writes: the WAL is fsynced only when something was written since the last time.
	durableEvery = 15 * time.Second
	// recordEvery bounds how often syncedFile is written (it costs an fsync and a rename),
	// except at a submission and a clean stop.
	recordEvery = time.Second
)

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

// syncedRecord is the content of syncedFile.
type syncedRecord struct {
	Seq    uint64      `json:"seq"`
	At     time.Time   `json:"at"`
	Counts StoreCounts `json:"counts"`
	// Reset is set by `allforone repair --move-aside` in the new, empty datastore.
	Reset *resetRecord `json:"reset,omitempty"`
}

type resetRecord struct {
	At     time.Time   `json:"at"`
	Backup string      `json:"backup"`
	Before StoreCounts `json:"before"`
}

// durableState is the node's side of the sync points.
type durableState struct {
	mu       sync.Mutex // orders the counter's writes (lock order: before Node.batchMu)
	seq      uint64
	fileMu   sync.Mutex // one write of syncedFile at a time
	fileSeq  uint64
	fileAt   time.Time     // when syncedFile was last written
	pending  *syncedRecord // a sync point to record, written by durableLoop
	walBytes uint64        // the log's size in bytes after the last sync point (durableLoop)
	lossMu   sync.Mutex
	loss     *DataLoss // what this start found lost, or nil
}

func syncedPath(dataDir string) string { return filepath.Join(dataDir, DatastoreDir, syncedFile) }

// readSynced returns the recorded sync point, or nil when there is none (a datastore from
// before sync points were recorded, or a new one).
func readSynced(dataDir string) (*syncedRecord, error) {
	b, err := os.ReadFile(syncedPath(dataDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r syncedRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s is not a sync record: %w", syncedPath(dataDir), err)
	}
	return &r, nil
}

func writeSynced(dataDir string, r *syncedRecord) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return writeFileAtomic(syncedPath(dataDir), append(b, '\n'), 0o600)
}

// readSyncMark returns the sync point number the datastore holds (0 when none).
func readSyncMark(ctx context.Context, d datastore.Read) (uint64, error) {
	b, err := d.Get(ctx, datastore.NewKey(syncMarkKey))
	if errors.Is(err, datastore.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if len(b) != 8 {
		return 0, fmt.Errorf("%s holds %d bytes, not 8", syncMarkKey, len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}

// compareSynced finds what the datastore lost against the record; after is what it holds.
func compareSynced(rec *syncedRecord, kept uint64, after StoreCounts, now time.Time) *DataLoss {
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

// checkDurable compares the datastore with the last recorded sync point, once at Start
// after the batches, steward states and results are loaded.
func (n *Node) checkDurable(ctx context.Context) error {
	rec, err := readSynced(n.cfg.DataDir)
	if err != nil {
		n.log.Warn("cannot tell whether the datastore lost writes", "err", err)
		rec = nil
	}
	kept, err := readSyncMark(ctx, n.ds)
	if err != nil {
		return fmt.Errorf("read the datastore's sync point: %w", err)
	}
	d := &n.durable
	d.seq = kept
	if rec != nil {
		d.seq = max(kept, rec.Seq)
		d.fileSeq = rec.Seq
	}
	if loss := compareSynced(rec, kept, n.storeCounts(), time.Now()); loss != nil {
		d.lossMu.Lock()
		d.loss = loss
		d.lossMu.Unlock()
		n.log.Warn("datastore lost data: fetching it again from peers", "what", loss.Summary(), "reason", loss.Reason,
			"sync_points_recorded", loss.Synced, "sync_points_kept", loss.Kept,
			"batches", fmt.Sprintf("%d -> %d", loss.Before.Batches, loss.After.Batches),
			"steward_roles", fmt.Sprintf("%d -> %d", loss.Before.StewardOf, loss.After.StewardOf),
			"results", fmt.Sprintf("%d -> %d", loss.Before.Results, loss.After.Results))
	}
	if rec != nil && rec.Reset != nil {
		// The reset is reported once; from now on the record is the new datastore's.
		return n.syncDatastore(ctx, true)
	}
	return nil
}

// DataLost returns what the datastore had lost when this node started, or nil.
func (n *Node) DataLost() *DataLoss {
	n.durable.lossMu.Lock()
	defer n.durable.lossMu.Unlock()
	if n.durable.loss == nil {
		return nil
	}
	l := *n.durable.loss
	return &l
}

// storeCounts counts what the node keeps, from memory. Every entry counted was written to
// the datastore before it was counted.
func (n *Node) storeCounts() StoreCounts {
	var c StoreCounts
	for _, b := range n.listBatches() {
		c.Batches++
		if n.stewardOf(b) != nil {
			c.StewardOf++
		}
	}
	n.held.mu.Lock()
	for _, m := range n.held.tasks {
		c.Results += len(m)
	}
	n.held.mu.Unlock()
	return c
}

// syncDatastore makes everything written so far durable and records the sync point. The
// record is written at once when now is set (a submission, a clean stop), else at most
// once per recordEvery (results sent to stewards come in bursts): it may lag the datastore
// by that much, which only makes the check at the next start look less far back.
func (n *Node) syncDatastore(ctx context.Context, now bool) error {
	d := &n.durable
	d.mu.Lock()
	counts := n.storeCounts() // before the counter: all of it precedes the sync
	d.seq++
	seq := d.seq
	err := n.ds.Put(ctx, datastore.NewKey(syncMarkKey), binary.BigEndian.AppendUint64(nil, seq))
	d.mu.Unlock()
	if err == nil {
		err = n.ds.Sync(ctx, datastore.NewKey("/"))
	}
	if err != nil {
		return fmt.Errorf("sync the datastore: %w", err)
	}
	d.fileMu.Lock()
	defer d.fileMu.Unlock()
	rec := &syncedRecord{Seq: seq, At: time.Now().UTC(), Counts: counts}
	if !now && time.Since(d.fileAt) < recordEvery {
		if d.pending == nil || seq > d.pending.Seq {
			d.pending = rec // durableLoop writes it
		}
		return nil
	}
	n.writeRecordLocked(rec)
	return nil
}

// writeRecordLocked writes rec unless a later sync point is recorded; d.fileMu is held.
func (n *Node) writeRecordLocked(rec *syncedRecord) {
	d := &n.durable
	if rec.Seq <= d.fileSeq {
		return
	}
	if d.pending != nil && d.pending.Seq <= rec.Seq {
		d.pending = nil
	}
	if err := writeSynced(n.cfg.DataDir, rec); err != nil {
		// The data is durable; only the check at the next start is weaker.
		n.log.Warn("record the datastore's sync point", "err", err)
		return
	}
	d.fileSeq, d.fileAt = rec.Seq, time.Now()
}

// durableLoop writes the sync point record that syncDatastore left for later, and syncs
// the datastore every durableEvery if anything was written meanwhile: results stored for
// other stewards, steward state and DHT records are written unsynced.
func (n *Node) durableLoop(ctx context.Context) {
	t := time.NewTicker(recordEvery)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		d := &n.durable
		d.fileMu.Lock()
		if d.pending != nil {
			n.writeRecordLocked(d.pending)
		}
		d.fileMu.Unlock()
		if time.Since(last) < durableEvery {
			continue
		}
		last = time.Now()
		if w := n.ds.DB.Metrics().WAL.BytesIn; w != d.walBytes {
			if err := n.syncDatastore(ctx, false); err != nil {
				n.log.Warn("periodic datastore sync", "err", err)
				continue
			}
			d.walBytes = n.ds.DB.Metrics().WAL.BytesIn
		}
	}
}
