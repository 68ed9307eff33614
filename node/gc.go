package node

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"allforone/node/internal/store"
	"allforone/tasks"
	"allforone/tasks/steward"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Garbage collection keeps the datastore under the disk quota. A batch is finished when
// its steward state says so, a steward told this node no work is left, or its deadline has
// passed. Once a batch has been finished for Prefs.Retention (or at once, when the node is
// over its quota), the node drops:
//
//   - its module and input blobs, and the outputs this node computed for it;
//   - on a steward, the outputs it received, once every accepted result has K live holders;
//   - extra result copies: a result this node holds although it is not one of the K live
//     peers closest to the task, once all K of those confirm that they hold it.
//
// It never drops a result this node keeps as one of its K holders, nor a blob that a
// held result, or a batch that is not collectable, refers to. Manifests and steward state
// (small) stay, so the batch's status and results can still be asked for. Blobs that no
// batch refers to at all (uploads never submitted) go after Config.BlobGrace: gc_orphans.go.

const (
	statusTimeout = 5 * time.Second
	// diskMeasureEvery is how often disk use is measured between collections.
	diskMeasureEvery = 10 * time.Second
)

// GCReport says what one garbage collection round did.
type GCReport struct {
	Collectable    int       `json:"collectable_batches"`
	BlobsDeleted   int       `json:"blobs_deleted"`
	BytesFreed     int64     `json:"bytes_freed"`
	ResultsDropped int       `json:"results_dropped"` // extra copies
	OrphansDeleted int       `json:"orphans_deleted"` // of BlobsDeleted: blobs no batch referred to (gc_orphans.go)
	Usage          DiskUsage `json:"usage"`
}

// gcState is the collector's memory. The zero value is ready.
type gcState struct {
	mu      sync.Mutex
	usage   DiskUsage
	last    time.Time
	running sync.Mutex // one round at a time
	kick    atomic.Bool
}

// kickGC asks for a round soon (the quota or the retention changed).
func (n *Node) kickGC() { n.op.gc.kick.Store(true) }

// housekeepingLoop samples the CPU for the busy preference every second and collects
// garbage every Prefs.GCInterval.
func (n *Node) housekeepingLoop(ctx context.Context) {
	s := n.prefsInit()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	next := time.Now() // collect (and measure the disk) at start
	measure := next.Add(diskMeasureEvery)
	for {
		now := time.Now()
		p := n.Prefs()
		if p.CPUBusyPercent > 0 {
			s.cpu.Sample(now, time.Duration(p.CPUBusyWindow)+time.Second)
		}
		if !now.Before(measure) {
			// Keep the dashboard's disk figure fresh between collections.
			if u, err := n.measureDisk(ctx); err == nil {
				n.op.gc.mu.Lock()
				u.QuotaBytes = n.op.gc.usage.QuotaBytes
				n.op.gc.usage = u
				n.op.gc.mu.Unlock()
			}
			measure = now.Add(diskMeasureEvery)
		}
		if !now.Before(next) || n.op.gc.kick.Swap(false) {
			rep, err := n.CollectGarbage(ctx)
			switch {
			case err != nil && ctx.Err() == nil:
				n.logs.gc.Warn("garbage collection", "err", err)
			case rep.BlobsDeleted > 0 || rep.ResultsDropped > 0:
				n.logs.gc.Info("garbage collected", "batches", rep.Collectable, "blobs", rep.BlobsDeleted,
					"unreferenced_blobs", rep.OrphansDeleted, "bytes", rep.BytesFreed,
					"extra_results", rep.ResultsDropped, "used_bytes", rep.Usage.Total())
			}
			next = time.Now().Add(time.Duration(p.GCInterval))
			measure = time.Now().Add(diskMeasureEvery)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Usage returns the disk use measured by the last garbage collection round.
func (n *Node) Usage() DiskUsage {
	n.op.gc.mu.Lock()
	defer n.op.gc.mu.Unlock()
	u := n.op.gc.usage
	u.QuotaBytes = int64(n.Prefs().DiskQuotaMB) << 20
	return u
}

// overQuota reports the bytes used and whether they exceed the quota after collection.
func (n *Node) overQuota() (int64, bool) {
	u := n.Usage()
	return u.Total(), u.QuotaBytes > 0 && !u.Measured.IsZero() && u.Total() > u.QuotaBytes
}

// measureDisk sums the sizes of blobs and results.
func (n *Node) measureDisk(ctx context.Context) (DiskUsage, error) {
	u := DiskUsage{Measured: time.Now()}
	var err error
	if u.Blobs, u.BlobBytes, err = n.blobs.Usage(ctx); err != nil {
		return u, err
	}
	res, err := n.ds.Query(ctx, query.Query{Prefix: store.ResultPrefix, KeysOnly: true, ReturnsSizes: true})
	if err != nil {
		return u, err
	}
	defer res.Close()
	for e := range res.Next() {
		if e.Error != nil {
			return u, e.Error
		}
		u.ResultBytes += int64(e.Size)
		u.Results++
	}
	return u, nil
}

// CollectGarbage runs one round of garbage collection now.
func (n *Node) CollectGarbage(ctx context.Context) (GCReport, error) {
	n.op.gc.running.Lock()
	defer n.op.gc.running.Unlock()
	var rep GCReport
	p := n.Prefs()
	usage, err := n.measureDisk(ctx)
	if err != nil {
		return rep, err
	}
	over := p.DiskQuotaMB > 0 && usage.Total() > int64(p.DiskQuotaMB)<<20
	now := time.Now()
	var collect, keep []*batch
	for _, b := range n.listBatches() {
		at, fin := n.batchFinished(ctx, b, now, over)
		if fin && (over || now.Sub(at) >= time.Duration(p.Retention)) {
			collect = append(collect, b)
		} else {
			keep = append(keep, b)
		}
	}
	rep.Collectable = len(collect)
	if len(collect) > 0 {
		if err := n.collect(ctx, collect, keep, &rep); err != nil {
			return rep, err
		}
	}
	if err := n.collectOrphans(ctx, now, &rep); err != nil { // gc_orphans.go
		return rep, err
	}
	if rep.BlobsDeleted > 0 || rep.ResultsDropped > 0 {
		if usage, err = n.measureDisk(ctx); err != nil {
			return rep, err
		}
	}
	n.op.gc.mu.Lock()
	n.op.gc.usage, n.op.gc.last = usage, now
	n.op.gc.mu.Unlock()
	rep.Usage = n.Usage()
	return rep, nil
}

// batchFinished reports whether b is finished and since when, remembering the first time
// this node saw it finished. A batch nothing local says anything about is asked about
// (from its steward) only when it is old or the node is over its quota.
func (n *Node) batchFinished(ctx context.Context, b *batch, now time.Time, ask bool) (time.Time, bool) {
	if now.After(b.m.Deadline) {
		return b.m.Deadline, true
	}
	key := store.FinishedKey(b.id)
	if raw, err := n.ds.Get(ctx, key); err == nil && len(raw) == 8 {
		return time.UnixMilli(int64(binary.BigEndian.Uint64(raw))), true
	}
	b.mu.Lock()
	fin := b.workDone
	b.mu.Unlock()
	steward := n.stewardOf(b) != nil
	fin = fin || n.stewardDone(b)
	if !fin && !steward && (ask || now.Sub(b.m.CreatedAt) > time.Duration(n.Prefs().Retention)) {
		sctx, cancel := context.WithTimeout(ctx, statusTimeout)
		st, err := n.Status(sctx, b.id)
		cancel()
		fin = err == nil && st.State != tasks.BatchRunning
	}
	if !fin {
		return time.Time{}, false
	}
	raw := binary.BigEndian.AppendUint64(nil, uint64(now.UnixMilli()))
	if err := n.ds.Put(ctx, key, raw); err != nil {
		n.logs.gc.Debug("remember finished batch", "batch", b.id.String(), "err", err)
	}
	return now, true
}

// collect drops what the collectable batches no longer need.
func (n *Node) collect(ctx context.Context, collect, keep []*batch, rep *GCReport) error {
	candidates := make(map[string]cid.Cid)
	add := func(c cid.Cid) {
		if c.Defined() {
			candidates[c.KeyString()] = c
		}
	}
	for _, b := range collect {
		dropped := n.dropExtraCopies(ctx, b)
		rep.ResultsDropped += len(dropped)
		for _, c := range dropped {
			add(c)
		}
		for _, c := range manifestBlobs(b.m) {
			add(c)
		}
		ran, err := n.ranOutputs(ctx, b.id)
		if err != nil {
			return err
		}
		for _, c := range ran {
			add(c)
		}
		outs, _ := n.stewardOutputs(ctx, b, true) // a loop that stopped gives nothing to collect
		for _, c := range outs {
			add(c)
		}
	}
	if len(candidates) == 0 {
		return nil
	}
	// Mark what is still referred to.
	for _, b := range keep {
		for _, c := range manifestBlobs(b.m) {
			delete(candidates, c.KeyString())
		}
		ran, err := n.ranOutputs(ctx, b.id)
		if err != nil {
			return err
		}
		for _, c := range ran {
			delete(candidates, c.KeyString())
		}
		outs, err := n.stewardOutputs(ctx, b, false)
		if err != nil {
			return fmt.Errorf("outputs of batch %s that its steward state refers to: %w", b.id, err)
		}
		for _, c := range outs {
			delete(candidates, c.KeyString())
		}
	}
	for _, b := range append(slices.Clone(keep), collect...) {
		for _, task := range n.held.list(b.id) {
			if c, err := n.heldOutput(ctx, b.id, task); err == nil {
				delete(candidates, c.KeyString())
			}
		}
	}
	for _, b := range collect {
		n.forgetRan(ctx, b.id)
		b.blobsHere.Store(false) // its module and inputs may go below
	}
	for _, c := range candidates {
		size, err := n.blobs.Size(ctx, c)
		if errors.Is(err, tasks.ErrBlobNotFound) {
			continue
		}
		if err := n.blobs.Delete(ctx, c); err != nil {
			return err
		}
		rep.BlobsDeleted++
		rep.BytesFreed += int64(size)
	}
	return nil
}

// manifestBlobs are the module and the blob inputs of m.
func manifestBlobs(m *tasks.Manifest) []cid.Cid {
	out := []cid.Cid{m.Module.CID}
	for _, in := range m.Inputs {
		if in.Kind == tasks.InputBlob {
			out = append(out, in.Blob.CID)
		}
	}
	return out
}

// ranOutputs are the outputs this node computed for batch id (worker.go records them).
func (n *Node) ranOutputs(ctx context.Context, id cid.Cid) ([]cid.Cid, error) {
	res, err := n.ds.Query(ctx, query.Query{Prefix: store.RanBatchPrefix(id)})
	if err != nil {
		return nil, err
	}
	defer res.Close()
	var out []cid.Cid
	for e := range res.Next() {
		if e.Error != nil {
			return nil, e.Error
		}
		if c, err := cid.Cast(e.Value); err == nil {
			out = append(out, c)
		}
	}
	return out, nil
}

// forgetRan deletes the record of the outputs this node computed for batch id.
func (n *Node) forgetRan(ctx context.Context, id cid.Cid) {
	res, err := n.ds.Query(ctx, query.Query{Prefix: store.RanBatchPrefix(id), KeysOnly: true})
	if err != nil {
		return
	}
	entries, _ := res.Rest()
	for _, e := range entries {
		n.ds.Delete(ctx, datastore.NewKey(e.Key))
	}
}

// stewardOutputs are the outputs in b's steward state. When collecting, it returns them
// only if every accepted result has K live holders (the steward may still need them to
// store a result); when marking, it returns them all.
func (n *Node) stewardOutputs(ctx context.Context, b *batch, collecting bool) ([]cid.Cid, error) {
	l := n.stewardOf(b)
	if l == nil {
		return nil, nil
	}
	k, v := int(max(b.m.Replication, 1)), n.liveView()
	var out []cid.Cid
	err := l.inspect(ctx, func(s *steward.Steward) {
		st := s.State()
		if collecting && len(st.UnderReplicated(k, v.LiveState)) > 0 {
			return
		}
		for i := range st.NumTasks() {
			for _, r := range st.Task(i).Results {
				if r.OK() {
					out = append(out, r.Output)
				}
			}
		}
	})
	return out, err
}

// heldOutput is the output content ID of a held result.
func (n *Node) heldOutput(ctx context.Context, id cid.Cid, task int) (cid.Cid, error) {
	sr, err := n.loadResult(ctx, id, task, false)
	if err != nil {
		return cid.Undef, err
	}
	for _, p := range sr.GetRecords() {
		if r, err := tasks.ResultFromPB(p); err == nil && r.OK() {
			return r.Output, nil
		}
	}
	return cid.Undef, errors.New("no successful record")
}

// dropExtraCopies deletes the results of b that this node holds although it is not one of
// their K closest live peers, once all K of those say they hold them. It returns the
// outputs of the results it dropped.
func (n *Node) dropExtraCopies(ctx context.Context, b *batch) []cid.Cid {
	k := int(max(b.m.Replication, 1))
	ask := make(map[peer.ID][]int)
	need := make(map[int][]peer.ID)
	v := n.liveView()
	for _, task := range n.held.list(b.id) {
		holders, extra := v.ExtraCopy(tasks.TaskID(b.id, task), k)
		if !extra {
			continue // short of K live peers, or this node is one of the K: keep it
		}
		need[task] = holders
		for _, h := range holders {
			ask[h] = append(ask[h], task)
		}
	}
	confirmed := make(map[int]int)
	for h, ts := range ask {
		qctx, cancel := context.WithTimeout(ctx, statusTimeout)
		have, err := n.resultClient.Have(qctx, h, b.id, toUint32s(ts))
		cancel()
		if err != nil {
			continue
		}
		for _, t := range have {
			confirmed[int(t)]++
		}
	}
	var dropped []cid.Cid
	for task, holders := range need {
		if confirmed[task] < len(holders) {
			continue
		}
		out, _ := n.heldOutput(ctx, b.id, task)
		if err := n.ds.Delete(ctx, store.ResultKey(b.id, task)); err != nil {
			continue
		}
		n.held.remove(b.id, task)
		dropped = append(dropped, out) // an undefined CID is skipped by the caller
	}
	return dropped
}

// remove forgets a held result.
func (h *heldSet) remove(id cid.Cid, task int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.version++
	if m := h.tasks[id.KeyString()]; m != nil {
		delete(m, task)
		if len(m) == 0 {
			delete(h.tasks, id.KeyString())
		}
	}
}
