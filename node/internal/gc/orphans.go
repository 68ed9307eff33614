package gc

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	"google.golang.org/protobuf/proto"

	"allforone/node/internal/store"
	"allforone/protocol/pb"
)

// Orphan blobs are blobs that nothing on this node refers to: no known batch names them as
// its module or an input, no result record (held, run here, or in steward state) names them
// as an output. They are uploads whose submission never came or was refused, and blobs an
// older version stored before it checked a submission. collectOrphans deletes one once it
// has been unreferenced for Config.BlobGrace; the time is kept under store.UnrefPrefix (set at
// upload, or by the first round that finds the blob unreferenced), so the grace survives
// restarts. A blob stored a moment before the record that refers to it (a worker's output,
// a result being stored) is safe: the record exists long before the grace ends.

// collectOrphans deletes the blobs unreferenced for longer than the grace.
func (c *Collector) collectOrphans(ctx context.Context, now time.Time, rep *Report) error {
	refs, err := c.referencedBlobs(ctx)
	if err != nil {
		return err
	}
	since, err := c.unrefMarks(ctx)
	if err != nil {
		return err
	}
	grace := c.grace
	var expired []cid.Cid
	err = c.blobs.List(ctx, func(id cid.Cid) {
		k := id.KeyString()
		at, marked := since[k]
		delete(since, k) // what stays in since names no stored blob
		switch {
		case refs[k]:
			if marked {
				c.ds.Delete(ctx, store.UnrefKey(id)) // submitted: no longer waiting
			}
		case !marked:
			c.putUnref(ctx, id, now)
		case now.Sub(at) >= grace:
			expired = append(expired, id)
		}
	})
	if err != nil {
		return err
	}
	for _, id := range expired {
		size, err := c.blobs.Size(ctx, id)
		if err != nil {
			continue
		}
		if err := c.blobs.Delete(ctx, id); err != nil {
			return err
		}
		c.ds.Delete(ctx, store.UnrefKey(id))
		rep.OrphansDeleted++
		rep.BlobsDeleted++
		rep.BytesFreed += int64(size)
		c.log.Debug("unreferenced blob collected", "cid", id.String(), "bytes", size)
	}
	// Chunks of uploads cut short (or of a blob stored twice at once).
	freed, err := c.blobs.CollectChunks(ctx, now.Add(-grace))
	if err != nil {
		return err
	}
	rep.BytesFreed += freed
	// Marks of blobs gone (collected with their batch, or an upload that failed halfway).
	for k, at := range since {
		if now.Sub(at) >= grace {
			if id, err := cid.Cast([]byte(k)); err == nil {
				c.ds.Delete(ctx, store.UnrefKey(id))
			}
		}
	}
	return nil
}

func (c *Collector) putUnref(ctx context.Context, id cid.Cid, at time.Time) {
	if err := c.ds.Put(ctx, store.UnrefKey(id), binary.BigEndian.AppendUint64(nil, uint64(at.UnixMilli()))); err != nil {
		c.log.Debug("mark unreferenced blob", "cid", id.String(), "err", err)
	}
}

// unrefMarks reads the unreferenced-since times, by content ID key string.
func (c *Collector) unrefMarks(ctx context.Context) (map[string]time.Time, error) {
	res, err := c.ds.Query(ctx, query.Query{Prefix: store.UnrefPrefix})
	if err != nil {
		return nil, err
	}
	defer res.Close()
	out := make(map[string]time.Time)
	for e := range res.Next() {
		if e.Error != nil {
			return nil, e.Error
		}
		id, err := cid.Decode(strings.TrimPrefix(e.Key, store.UnrefPrefix))
		if err != nil || len(e.Value) != 8 {
			c.ds.Delete(ctx, datastore.NewKey(e.Key))
			continue
		}
		out[id.KeyString()] = time.UnixMilli(int64(binary.BigEndian.Uint64(e.Value)))
	}
	return out, nil
}

// referencedBlobs is every blob something on this node refers to, by content ID key
// string: the module and blob inputs of every known batch, the outputs this node ran
// (/ran/), the outputs of the results it holds (/results/) and those in its steward states.
func (c *Collector) referencedBlobs(ctx context.Context) (map[string]bool, error) {
	refs := make(map[string]bool)
	add := func(id cid.Cid) {
		if id.Defined() {
			refs[id.KeyString()] = true
		}
	}
	for _, b := range c.node.Batches() {
		for _, id := range ManifestBlobs(b.Manifest()) {
			add(id)
		}
		outs, err := c.node.StewardOutputs(ctx, b, false)
		if err != nil {
			return nil, fmt.Errorf("outputs of batch %s that its steward state refers to: %w", b.ID(), err)
		}
		for _, id := range outs {
			add(id)
		}
	}
	ran, err := c.ds.Query(ctx, query.Query{Prefix: store.RanPrefix})
	if err != nil {
		return nil, err
	}
	for e := range ran.Next() {
		if e.Error != nil {
			ran.Close()
			return nil, e.Error
		}
		if id, err := cid.Cast(e.Value); err == nil {
			add(id)
		}
	}
	ran.Close()
	held, err := c.ds.Query(ctx, query.Query{Prefix: store.ResultPrefix})
	if err != nil {
		return nil, err
	}
	defer held.Close()
	for e := range held.Next() {
		if e.Error != nil {
			return nil, e.Error
		}
		var sr pb.StoredResult
		if proto.Unmarshal(e.Value, &sr) != nil {
			continue
		}
		for _, p := range sr.GetRecords() {
			if id, err := cid.Cast(p.GetOutputCid()); err == nil {
				add(id) // any output named, agreed or not: keeping too much is safe
			}
		}
	}
	return refs, nil
}
