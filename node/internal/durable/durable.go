// Package durable keeps the node's record of lost writes. Pebble replays its write-ahead
// log at open and stops, silently, at the first record that is torn or damaged: it is built
// for a crash in the middle of a write, and so it also hides a log whose tail was truncated
// or overwritten later (a bad disk, a bad copy, a full disk), with everything after that
// point gone. To tell the two apart the node keeps a record of what it had made durable
// outside pebble's files: at every sync point (a submission, results sent to a steward,
// every Every while anything was written, and Close) it writes a counter under
// store.SyncMarkKey, fsyncs the log and then writes the counter, with how many batches,
// steward roles and results it held, to the synced file. At open, a datastore whose counter
// is behind the file lost writes that had been synced: the node says so (log, health, why,
// doctor) and fetches again what its peers have (the node's durable.go).
package durable

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-datastore"

	"allforone/node/internal/store"
)

const (
	// Every bounds how long a write stays unsynced (and unrecorded) while the node writes:
	// the WAL is fsynced only when something was written since the last time.
	Every = 15 * time.Second
	// recordEvery bounds how often the synced file is written (it costs an fsync and a
	// rename), except at a submission and a clean stop.
	recordEvery = time.Second
)

// Counter counts what the node keeps, from memory: every entry counted was written to the
// datastore before it was counted.
type Counter func() store.StoreCounts

// Points are the node's sync points. The zero value is ready for Lost; Open gives it the
// datastore.
type Points struct {
	ds      *store.Store
	dataDir string
	counts  Counter
	log     *slog.Logger

	mu      sync.Mutex // orders the counter's writes (lock order: before what counts takes)
	seq     uint64
	fileMu  sync.Mutex // one write of the synced file at a time
	fileSeq uint64
	fileAt  time.Time           // when the synced file was last written
	pending *store.SyncedRecord // a sync point to record, written by Loop
	synced  atomic.Uint64       // the log's bytes written before the last sync point
	marks   atomic.Uint64       // writes numbered so far (Mark)
	marked  atomic.Uint64       // the last of them that a completed sync point covers
	lossMu  sync.Mutex
	loss    *store.DataLoss // what this start found lost, or nil
	inc     uint64          // the store's incarnation (Incarnation), set by Check
}

// Open gives p the node's datastore in dataDir, how to count what it keeps and a logger.
func (p *Points) Open(ds *store.Store, dataDir string, counts Counter, log *slog.Logger) {
	p.ds, p.dataDir, p.counts, p.log = ds, dataDir, counts, log
}

// Check compares the datastore with the last recorded sync point, once at Start after the
// batches, steward states and results are loaded.
func (p *Points) Check(ctx context.Context) error {
	rec, err := store.ReadSynced(p.dataDir)
	if err != nil {
		p.log.Warn("cannot tell whether the datastore lost writes", "err", err)
		rec = nil
	}
	kept, err := store.ReadSyncMark(ctx, p.ds)
	if err != nil {
		return fmt.Errorf("read the datastore's sync point: %w", err)
	}
	p.seq = kept
	if rec != nil {
		p.seq = max(kept, rec.Seq)
		p.fileSeq = rec.Seq
	}
	if loss := store.CompareSynced(rec, kept, p.counts(), time.Now()); loss != nil {
		p.lossMu.Lock()
		p.loss = loss
		p.lossMu.Unlock()
		p.log.Warn("datastore lost data: fetching it again from peers", "what", loss.Summary(), "reason", loss.Reason,
			"sync_points_recorded", loss.Synced, "sync_points_kept", loss.Kept,
			"batches", fmt.Sprintf("%d -> %d", loss.Before.Batches, loss.After.Batches),
			"steward_roles", fmt.Sprintf("%d -> %d", loss.Before.StewardOf, loss.After.StewardOf),
			"results", fmt.Sprintf("%d -> %d", loss.Before.Results, loss.After.Results))
	}
	if err := p.incarnate(ctx); err != nil {
		return err
	}
	if rec != nil && rec.Reset != nil {
		// The reset is reported once; from now on the record is the new datastore's.
		return p.Sync(ctx, true)
	}
	return nil
}

// The store's incarnation tells peers whether what this node told them it holds still
// holds: it stays the same across restarts, crashes included (a node syncs before it says
// it holds something: SyncThrough), and changes when the store may have lost such
// writes: a start that found writes lost, or a new or reset datastore. A peer that
// confirmed copies here keeps them confirmed across a restart of this node only while the
// incarnation is the one it saw (the repair of the results it holds, node/repair.go).

// incarnate reads the store's incarnation, or makes a new one (durably) when the store
// lost data or has none.
func (p *Points) incarnate(ctx context.Context) error {
	b, err := p.ds.Get(ctx, datastore.NewKey(store.IncarnationKey))
	switch {
	case err == nil && len(b) == 8 && p.Lost() == nil:
		p.inc = binary.BigEndian.Uint64(b)
		if p.inc != 0 {
			return nil
		}
	case err != nil && !errors.Is(err, datastore.ErrNotFound):
		return fmt.Errorf("read the datastore's incarnation: %w", err)
	}
	for p.inc == 0 {
		var r [8]byte
		rand.Read(r[:])
		p.inc = binary.BigEndian.Uint64(r[:])
	}
	if err := p.ds.Put(ctx, datastore.NewKey(store.IncarnationKey), binary.BigEndian.AppendUint64(nil, p.inc)); err != nil {
		return fmt.Errorf("write the datastore's incarnation: %w", err)
	}
	return p.Sync(ctx, false)
}

// Incarnation is the store's incarnation (above); Check sets it.
func (p *Points) Incarnation() uint64 { return p.inc }

// SyncWritten makes what was written since the last sync point durable, when anything
// was (Loop's periodic sync; an answer naming held results uses SyncThrough).
func (p *Points) SyncWritten(ctx context.Context) error {
	if p.ds.DB.Metrics().WAL.BytesIn == p.synced.Load() {
		return nil
	}
	return p.Sync(ctx, false)
}

// Mark numbers a write that returned, one the node must make durable before it names it
// to a peer (a result it holds): SyncThrough(mark) does.
func (p *Points) Mark() uint64 { return p.marks.Add(1) }

// SyncThrough makes the writes numbered up to mark durable: nothing to do when a sync point
// since covered them, else one sync point. An answer that names results stored long ago
// costs no fsync, however busy the store is.
func (p *Points) SyncThrough(ctx context.Context, mark uint64) error {
	if mark <= p.marked.Load() {
		return nil
	}
	return p.Sync(ctx, false)
}

// Lost returns a copy of what the datastore had lost when this node started, or nil.
func (p *Points) Lost() *store.DataLoss {
	p.lossMu.Lock()
	defer p.lossMu.Unlock()
	if p.loss == nil {
		return nil
	}
	l := *p.loss
	return &l
}

// Resynced notes that what was lost has been fetched again.
func (p *Points) Resynced() {
	p.lossMu.Lock()
	defer p.lossMu.Unlock()
	if p.loss != nil {
		p.loss.Resynced = true
	}
}

// Sync makes everything written so far durable and records the sync point. The record is
// written at once when now is set (a submission, a clean stop), else at most once per
// recordEvery (results sent to stewards come in bursts): it may lag the datastore by that
// much, which only makes the check at the next start look less far back.
func (p *Points) Sync(ctx context.Context, now bool) error {
	p.mu.Lock()
	counts := p.counts() // before the counter: all of it precedes the sync
	p.seq++
	seq := p.seq
	err := p.ds.Put(ctx, datastore.NewKey(store.SyncMarkKey), binary.BigEndian.AppendUint64(nil, seq))
	p.mu.Unlock()
	written := p.ds.DB.Metrics().WAL.BytesIn // all of it precedes the sync below
	marks := p.marks.Load()                  // and so do these writes
	if err == nil {
		err = p.ds.Sync(ctx, datastore.NewKey("/"))
	}
	if err != nil {
		return fmt.Errorf("sync the datastore: %w", err)
	}
	raise(&p.synced, written) // a concurrent Sync may have covered more
	raise(&p.marked, marks)
	p.fileMu.Lock()
	defer p.fileMu.Unlock()
	rec := &store.SyncedRecord{Seq: seq, At: time.Now().UTC(), Counts: counts}
	if !now && time.Since(p.fileAt) < recordEvery {
		if p.pending == nil || seq > p.pending.Seq {
			p.pending = rec // Loop writes it
		}
		return nil
	}
	p.writeRecordLocked(rec)
	return nil
}

// writeRecordLocked writes rec unless a later sync point is recorded; p.fileMu is held.
func (p *Points) writeRecordLocked(rec *store.SyncedRecord) {
	if rec.Seq <= p.fileSeq {
		return
	}
	if p.pending != nil && p.pending.Seq <= rec.Seq {
		p.pending = nil
	}
	if err := store.WriteSynced(p.dataDir, rec); err != nil {
		// The data is durable; only the check at the next start is weaker.
		p.log.Warn("record the datastore's sync point", "err", err)
		return
	}
	p.fileSeq, p.fileAt = rec.Seq, time.Now()
}

// Loop writes the sync point record that Sync left for later, and syncs the datastore every
// Every if anything was written meanwhile: results stored for other stewards, steward
// state and DHT records are written unsynced.
func (p *Points) Loop(ctx context.Context) {
	t := time.NewTicker(recordEvery)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p.fileMu.Lock()
		if p.pending != nil {
			p.writeRecordLocked(p.pending)
		}
		p.fileMu.Unlock()
		if time.Since(last) < Every {
			continue
		}
		last = time.Now()
		if err := p.SyncWritten(ctx); err != nil {
			p.log.Warn("periodic datastore sync", "err", err)
		}
	}
}

// raise sets v to x unless it holds more already.
func raise(v *atomic.Uint64, x uint64) {
	for {
		was := v.Load()
		if x <= was || v.CompareAndSwap(was, x) {
			return
		}
	}
}
