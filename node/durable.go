package node

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/peer"

	"allforone/node/internal/store"
)

// Lost writes. Pebble replays its write-ahead log at open and stops, silently, at the first
// record that is torn or damaged: it is built for a crash in the middle of a write, and so
// it also hides a log whose tail was truncated or overwritten later (a bad disk, a bad copy,
// a full disk), with everything after that point gone. To tell the two apart the node keeps
// a record of what it had made durable outside pebble's files: at every sync point (a
// submission, results sent to a steward, every durableEvery while anything was written, and
// Close) it writes a counter under store.SyncMarkKey, fsyncs the log and then writes the counter,
// with how many batches, steward roles and results it held, to syncedFile. At open, a
// datastore whose counter is behind the file lost writes that had been synced: the node says
// so (log, health, why, doctor) and fetches again what its peers have (below).

const (
	// durableEvery bounds how long a write stays unsynced (and unrecorded) while the node
	// writes: the WAL is fsynced only when something was written since the last time.
	durableEvery = 15 * time.Second
	// recordEvery bounds how often syncedFile is written (it costs an fsync and a rename),
	// except at a submission and a clean stop.
	recordEvery = time.Second
)

// durableState is the node's side of the sync points.
type durableState struct {
	mu       sync.Mutex // orders the counter's writes (lock order: before Node.batchMu)
	seq      uint64
	fileMu   sync.Mutex // one write of syncedFile at a time
	fileSeq  uint64
	fileAt   time.Time           // when syncedFile was last written
	pending  *store.SyncedRecord // a sync point to record, written by durableLoop
	walBytes uint64              // the log's size in bytes after the last sync point (durableLoop)
	lossMu   sync.Mutex
	loss     *DataLoss // what this start found lost, or nil
}

// checkDurable compares the datastore with the last recorded sync point, once at Start
// after the batches, steward states and results are loaded.
func (n *Node) checkDurable(ctx context.Context) error {
	rec, err := store.ReadSynced(n.cfg.DataDir)
	if err != nil {
		n.logs.store.Warn("cannot tell whether the datastore lost writes", "err", err)
		rec = nil
	}
	kept, err := store.ReadSyncMark(ctx, n.ds)
	if err != nil {
		return fmt.Errorf("read the datastore's sync point: %w", err)
	}
	d := &n.durable
	d.seq = kept
	if rec != nil {
		d.seq = max(kept, rec.Seq)
		d.fileSeq = rec.Seq
	}
	if loss := store.CompareSynced(rec, kept, n.storeCounts(), time.Now()); loss != nil {
		d.lossMu.Lock()
		d.loss = loss
		d.lossMu.Unlock()
		n.logs.store.Warn("datastore lost data: fetching it again from peers", "what", loss.Summary(), "reason", loss.Reason,
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
	err := n.ds.Put(ctx, datastore.NewKey(store.SyncMarkKey), binary.BigEndian.AppendUint64(nil, seq))
	d.mu.Unlock()
	if err == nil {
		err = n.ds.Sync(ctx, datastore.NewKey("/"))
	}
	if err != nil {
		return fmt.Errorf("sync the datastore: %w", err)
	}
	d.fileMu.Lock()
	defer d.fileMu.Unlock()
	rec := &store.SyncedRecord{Seq: seq, At: time.Now().UTC(), Counts: counts}
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
func (n *Node) writeRecordLocked(rec *store.SyncedRecord) {
	d := &n.durable
	if rec.Seq <= d.fileSeq {
		return
	}
	if d.pending != nil && d.pending.Seq <= rec.Seq {
		d.pending = nil
	}
	if err := store.WriteSynced(n.cfg.DataDir, rec); err != nil {
		// The data is durable; only the check at the next start is weaker.
		n.logs.store.Warn("record the datastore's sync point", "err", err)
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
				n.logs.store.Warn("periodic datastore sync", "err", err)
				continue
			}
			d.walBytes = n.ds.DB.Metrics().WAL.BytesIn
		}
	}
}

// After a loss (durable.go) the node fetches again what its peers hold. It cannot know
// what it lost exactly, so it asks: the running batches from several peers (not one a
// minute as syncLoop does), then, for every batch it is a steward of, the state the other
// stewards keep. The results it held come back from their other holders: a restarted node
// has left and come back, so their repair rounds ask it again what it holds (repair.go).

const (
	// resyncPeers is how many peers a node that lost data asks for the running batches.
	resyncPeers = 3
	// resyncFor bounds how long it keeps looking for peers to ask.
	resyncFor = 10 * time.Minute
)

// resync runs once after a start that found data lost.
func (n *Node) resync(nodeCtx context.Context) {
	ctx, cancel := context.WithTimeout(nodeCtx, resyncFor)
	defer cancel()
	asked := make(map[peer.ID]bool)
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		peers := n.host.Network().Peers()
		for _, p := range peers {
			if len(asked) >= resyncPeers {
				break
			}
			if !asked[p] && n.syncFrom(ctx, p) {
				asked[p] = true
			}
		}
		if len(asked) >= min(resyncPeers, max(len(peers), 1)) {
			break
		}
		select {
		case <-ctx.Done():
			if nodeCtx.Err() == nil {
				n.logs.store.Warn("resync after data loss: not enough peers answered", "asked", len(asked), "within", resyncFor)
			}
			return
		case <-t.C:
		}
	}
	pulled := 0
	for _, b := range n.listBatches() {
		stewards := n.stewardsOf(b)
		if !slices.Contains(stewards, n.id) || len(stewards) < 2 {
			continue
		}
		l, err := n.becomeSteward(ctx, b)
		if err != nil {
			n.logs.store.Warn("resync steward state", "batch", b.id.String(), "err", err)
			continue
		}
		others := slices.DeleteFunc(slices.Clone(stewards), func(p peer.ID) bool { return p == n.id })
		n.pullInto(ctx, l, others)
		pulled++
	}
	n.durable.lossMu.Lock()
	if n.durable.loss != nil {
		n.durable.loss.Resynced = true
	}
	n.durable.lossMu.Unlock()
	c := n.storeCounts()
	n.logs.store.Info("resync after data loss done", "peers_asked", len(asked), "steward_states_pulled", pulled,
		"batches", c.Batches, "steward_roles", c.StewardOf, "results", c.Results)
}
