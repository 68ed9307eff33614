package node

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"allforone/node/internal/store"
	"allforone/protocol/pb"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	"google.golang.org/protobuf/proto"
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
func (n *Node) collectOrphans(ctx context.Context, now time.Time, rep *GCReport) error {
	refs, err := n.referencedBlobs(ctx)
	if err != nil {
		return err
	}
	since, err := n.unrefMarks(ctx)
	if err != nil {
		return err
	}
	grace := time.Duration(n.cfg.BlobGrace)
	var expired []cid.Cid
	err = n.blobs.List(ctx, func(c cid.Cid) {
		k := c.KeyString()
		at, marked := since[k]
		delete(since, k) // what stays in since names no stored blob
		switch {
		case refs[k]:
			if marked {
				n.ds.Delete(ctx, store.UnrefKey(c)) // submitted: no longer waiting
			}
		case !marked:
			n.putUnref(ctx, c, now)
		case now.Sub(at) >= grace:
			expired = append(expired, c)
		}
	})
	if err != nil {
		return err
	}
	for _, c := range expired {
		size, err := n.blobs.Size(ctx, c)
		if err != nil {
			continue
		}
		if err := n.blobs.Delete(ctx, c); err != nil {
			return err
		}
		n.ds.Delete(ctx, store.UnrefKey(c))
		rep.OrphansDeleted++
		rep.BlobsDeleted++
		rep.BytesFreed += int64(size)
		n.logs.gc.Debug("unreferenced blob collected", "cid", c.String(), "bytes", size)
	}
	// Chunks of uploads cut short (or of a blob stored twice at once).
	freed, err := n.blobs.CollectChunks(ctx, now.Add(-grace))
	if err != nil {
		return err
	}
	rep.BytesFreed += freed
	// Marks of blobs gone (collected with their batch, or an upload that failed halfway).
	for k, at := range since {
		if now.Sub(at) >= grace {
			if c, err := cid.Cast([]byte(k)); err == nil {
				n.ds.Delete(ctx, store.UnrefKey(c))
			}
		}
	}
	return nil
}

func (n *Node) putUnref(ctx context.Context, c cid.Cid, at time.Time) {
	if err := n.ds.Put(ctx, store.UnrefKey(c), binary.BigEndian.AppendUint64(nil, uint64(at.UnixMilli()))); err != nil {
		n.logs.gc.Debug("mark unreferenced blob", "cid", c.String(), "err", err)
	}
}

// unrefMarks reads the unreferenced-since times, by content ID key string.
func (n *Node) unrefMarks(ctx context.Context) (map[string]time.Time, error) {
	res, err := n.ds.Query(ctx, query.Query{Prefix: store.UnrefPrefix})
	if err != nil {
		return nil, err
	}
	defer res.Close()
	out := make(map[string]time.Time)
	for e := range res.Next() {
		if e.Error != nil {
			return nil, e.Error
		}
		c, err := cid.Decode(strings.TrimPrefix(e.Key, store.UnrefPrefix))
		if err != nil || len(e.Value) != 8 {
			n.ds.Delete(ctx, datastore.NewKey(e.Key))
			continue
		}
		out[c.KeyString()] = time.UnixMilli(int64(binary.BigEndian.Uint64(e.Value)))
	}
	return out, nil
}

// referencedBlobs is every blob something on this node refers to, by content ID key
// string: the module and blob inputs of every known batch, the outputs this node ran
// (/ran/), the outputs of the results it holds (/results/) and those in its steward states.
func (n *Node) referencedBlobs(ctx context.Context) (map[string]bool, error) {
	refs := make(map[string]bool)
	add := func(c cid.Cid) {
		if c.Defined() {
			refs[c.KeyString()] = true
		}
	}
	for _, b := range n.listBatches() {
		for _, c := range manifestBlobs(b.m) {
			add(c)
		}
		outs, err := n.stewardOutputs(ctx, b, false)
		if err != nil {
			return nil, fmt.Errorf("outputs of batch %s that its steward state refers to: %w", b.id, err)
		}
		for _, c := range outs {
			add(c)
		}
	}
	ran, err := n.ds.Query(ctx, query.Query{Prefix: store.RanPrefix})
	if err != nil {
		return nil, err
	}
	for e := range ran.Next() {
		if e.Error != nil {
			ran.Close()
			return nil, e.Error
		}
		if c, err := cid.Cast(e.Value); err == nil {
			add(c)
		}
	}
	ran.Close()
	held, err := n.ds.Query(ctx, query.Query{Prefix: store.ResultPrefix})
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
			if c, err := cid.Cast(p.GetOutputCid()); err == nil {
				add(c) // any output named, agreed or not: keeping too much is safe
			}
		}
	}
	return refs, nil
}
