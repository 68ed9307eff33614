// Package gc is the node's garbage collector: it keeps the datastore under the disk quota.
// A batch is finished when its steward state says so, a steward told this node no work is
// left, or its deadline has passed. Once a batch has been finished for Prefs.Retention (or
// at once, when the node is over its quota), the node drops:
//
//   - its module and input blobs, and the outputs this node computed for it;
//   - on a steward, the outputs it received, once every accepted result has K live holders;
//   - extra result copies: a result this node holds although it is not one of the K live
//     peers closest to the task, once all K of those confirm that they hold it.
//
// It never drops a result this node keeps as one of its K holders, nor a blob that a
// held result, or a batch that is not collectable, refers to. Manifests and steward state
// (small) stay, so the batch's status and results can still be asked for. Blobs that no
// batch refers to at all (uploads never submitted) go after Config.BlobGrace (orphans.go).
//
// What only the node knows (its batches, their steward states, the results it holds and
// who else holds them) the collector asks through Node, which the node implements.
package gc

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"

	"allforone/node/internal/apitypes"
	"allforone/node/internal/config"
	"allforone/node/internal/store"
	"allforone/tasks"
)

// Report says what one garbage collection round did.
type Report struct {
	Collectable    int                `json:"collectable_batches"`
	BlobsDeleted   int                `json:"blobs_deleted"`
	BytesFreed     int64              `json:"bytes_freed"`
	ResultsDropped int                `json:"results_dropped"` // extra copies
	OrphansDeleted int                `json:"orphans_deleted"` // of BlobsDeleted: blobs no batch referred to (orphans.go)
	Usage          apitypes.DiskUsage `json:"usage"`
}

// Batch is a batch the node knows.
type Batch interface {
	ID() cid.Cid
	Manifest() *tasks.Manifest
}

// Node is what the collector asks the node about its batches.
type Node interface {
	// Batches lists the batches the node knows.
	Batches() []Batch
	// Done reports whether the node knows b is finished: a steward said no work is left,
	// or its own steward state says so. When it does not and the node is not one of b's
	// stewards, ask says whether to ask b's steward.
	Done(ctx context.Context, b Batch, ask bool) bool
	// StewardOutputs are the outputs in b's steward state, if the node keeps one. When
	// collecting, it returns them only if every accepted result has K live holders (the
	// steward may still need them to store a result); when marking, it returns them all.
	StewardOutputs(ctx context.Context, b Batch, collecting bool) ([]cid.Cid, error)
	// HeldOutputs are the outputs of the results of b that the node holds.
	HeldOutputs(ctx context.Context, b Batch) []cid.Cid
	// DropExtraCopies deletes the results of b that the node holds although it is not one
	// of their K closest live peers, once all K of those say they hold them, and returns
	// their outputs (an undefined CID where it could not tell).
	DropExtraCopies(ctx context.Context, b Batch) []cid.Cid
	// Collected says that b's module and inputs may go now.
	Collected(b Batch)
}

// Collector is the garbage collector. The zero value is ready for Usage; Open gives it
// the rest.
type Collector struct {
	ds    *store.Store
	blobs *tasks.BlobStore
	node  Node
	prefs func() config.Prefs
	grace time.Duration // Config.BlobGrace
	log   *slog.Logger

	mu      sync.Mutex
	usage   apitypes.DiskUsage
	last    time.Time
	running sync.Mutex // one round at a time
	kick    atomic.Bool
}

// Open gives c the node's datastore and blob store, the node, its live preferences, the
// grace of unreferenced blobs and a logger.
func (c *Collector) Open(ds *store.Store, blobs *tasks.BlobStore, node Node, prefs func() config.Prefs, grace time.Duration, log *slog.Logger) {
	c.ds, c.blobs, c.node, c.prefs, c.grace, c.log = ds, blobs, node, prefs, grace, log
}

// Kick asks for a round soon (the quota or the retention changed).
func (c *Collector) Kick() { c.kick.Store(true) }

// Kicked reports whether a round was asked for since the last call.
func (c *Collector) Kicked() bool { return c.kick.Swap(false) }

// Usage is the disk use last measured, without the quota.
func (c *Collector) Usage() apitypes.DiskUsage {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.usage
}

// SetUsage replaces the disk use last measured.
func (c *Collector) SetUsage(u apitypes.DiskUsage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.usage = u
}

// Measure sums the sizes of blobs and results.
func (c *Collector) Measure(ctx context.Context) (apitypes.DiskUsage, error) {
	u := apitypes.DiskUsage{Measured: time.Now()}
	var err error
	if u.Blobs, u.BlobBytes, err = c.blobs.Usage(ctx); err != nil {
		return u, err
	}
	res, err := c.ds.Query(ctx, query.Query{Prefix: store.ResultPrefix, KeysOnly: true, ReturnsSizes: true})
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

// Round runs one round of garbage collection now. Its report's Usage is left to the
// caller, which knows the quota.
func (c *Collector) Round(ctx context.Context) (Report, error) {
	c.running.Lock()
	defer c.running.Unlock()
	var rep Report
	p := c.prefs()
	usage, err := c.Measure(ctx)
	if err != nil {
		return rep, err
	}
	over := p.DiskQuotaMB > 0 && usage.Total() > int64(p.DiskQuotaMB)<<20
	now := time.Now()
	var collect, keep []Batch
	for _, b := range c.node.Batches() {
		at, fin := c.finished(ctx, b, now, over)
		if fin && (over || now.Sub(at) >= time.Duration(p.Retention)) {
			collect = append(collect, b)
		} else {
			keep = append(keep, b)
		}
	}
	rep.Collectable = len(collect)
	if len(collect) > 0 {
		if err := c.collect(ctx, collect, keep, &rep); err != nil {
			return rep, err
		}
	}
	if err := c.collectOrphans(ctx, now, &rep); err != nil { // orphans.go
		return rep, err
	}
	if rep.BlobsDeleted > 0 || rep.ResultsDropped > 0 {
		if usage, err = c.Measure(ctx); err != nil {
			return rep, err
		}
	}
	c.mu.Lock()
	c.usage, c.last = usage, now
	c.mu.Unlock()
	return rep, nil
}

// finished reports whether b is finished and since when, remembering the first time this
// node saw it finished. A batch nothing local says anything about is asked about (from its
// steward) only when it is old or the node is over its quota.
func (c *Collector) finished(ctx context.Context, b Batch, now time.Time, ask bool) (time.Time, bool) {
	m := b.Manifest()
	if now.After(m.Deadline) {
		return m.Deadline, true
	}
	key := store.FinishedKey(b.ID())
	if raw, err := c.ds.Get(ctx, key); err == nil && len(raw) == 8 {
		return time.UnixMilli(int64(binary.BigEndian.Uint64(raw))), true
	}
	if !c.node.Done(ctx, b, ask || now.Sub(m.CreatedAt) > time.Duration(c.prefs().Retention)) {
		return time.Time{}, false
	}
	raw := binary.BigEndian.AppendUint64(nil, uint64(now.UnixMilli()))
	if err := c.ds.Put(ctx, key, raw); err != nil {
		c.log.Debug("remember finished batch", "batch", b.ID().String(), "err", err)
	}
	return now, true
}

// collect drops what the collectable batches no longer need.
func (c *Collector) collect(ctx context.Context, collect, keep []Batch, rep *Report) error {
	candidates := make(map[string]cid.Cid)
	add := func(id cid.Cid) {
		if id.Defined() {
			candidates[id.KeyString()] = id
		}
	}
	for _, b := range collect {
		dropped := c.node.DropExtraCopies(ctx, b)
		rep.ResultsDropped += len(dropped)
		for _, id := range dropped {
			add(id)
		}
		for _, id := range ManifestBlobs(b.Manifest()) {
			add(id)
		}
		ran, err := c.ranOutputs(ctx, b.ID())
		if err != nil {
			return err
		}
		for _, id := range ran {
			add(id)
		}
		outs, _ := c.node.StewardOutputs(ctx, b, true) // a loop that stopped gives nothing to collect
		for _, id := range outs {
			add(id)
		}
	}
	if len(candidates) == 0 {
		return nil
	}
	// Mark what is still referred to.
	for _, b := range keep {
		for _, id := range ManifestBlobs(b.Manifest()) {
			delete(candidates, id.KeyString())
		}
		ran, err := c.ranOutputs(ctx, b.ID())
		if err != nil {
			return err
		}
		for _, id := range ran {
			delete(candidates, id.KeyString())
		}
		outs, err := c.node.StewardOutputs(ctx, b, false)
		if err != nil {
			return fmt.Errorf("outputs of batch %s that its steward state refers to: %w", b.ID(), err)
		}
		for _, id := range outs {
			delete(candidates, id.KeyString())
		}
	}
	for _, b := range append(slices.Clone(keep), collect...) {
		for _, id := range c.node.HeldOutputs(ctx, b) {
			delete(candidates, id.KeyString())
		}
	}
	for _, b := range collect {
		c.forgetRan(ctx, b.ID())
		c.node.Collected(b) // its module and inputs may go below
	}
	for _, id := range candidates {
		size, err := c.blobs.Size(ctx, id)
		if errors.Is(err, tasks.ErrBlobNotFound) {
			continue
		}
		if err := c.blobs.Delete(ctx, id); err != nil {
			return err
		}
		rep.BlobsDeleted++
		rep.BytesFreed += int64(size)
	}
	return nil
}

// ManifestBlobs are the module and the blob inputs of m.
func ManifestBlobs(m *tasks.Manifest) []cid.Cid {
	out := []cid.Cid{m.Module.CID}
	for _, in := range m.Inputs {
		if in.Kind == tasks.InputBlob {
			out = append(out, in.Blob.CID)
		}
	}
	return out
}

// ranOutputs are the outputs this node computed for batch id (the worker records them).
func (c *Collector) ranOutputs(ctx context.Context, id cid.Cid) ([]cid.Cid, error) {
	res, err := c.ds.Query(ctx, query.Query{Prefix: store.RanBatchPrefix(id)})
	if err != nil {
		return nil, err
	}
	defer res.Close()
	var out []cid.Cid
	for e := range res.Next() {
		if e.Error != nil {
			return nil, e.Error
		}
		if o, err := cid.Cast(e.Value); err == nil {
			out = append(out, o)
		}
	}
	return out, nil
}

// forgetRan deletes the record of the outputs this node computed for batch id.
func (c *Collector) forgetRan(ctx context.Context, id cid.Cid) {
	res, err := c.ds.Query(ctx, query.Query{Prefix: store.RanBatchPrefix(id), KeysOnly: true})
	if err != nil {
		return
	}
	entries, _ := res.Rest()
	for _, e := range entries {
		c.ds.Delete(ctx, datastore.NewKey(e.Key))
	}
}
