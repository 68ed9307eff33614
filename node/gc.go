package node

import (
	"context"
	"errors"
	"time"

	"allforone/node/internal/gc"
	"allforone/node/internal/store"
	"allforone/tasks"
	"allforone/tasks/steward"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Garbage collection keeps the datastore under the disk quota: the rules are package gc's
// (node/internal/gc), which asks the node about its batches through gcNode. Here are the
// housekeeping loop that runs it and the node's side of gc.Node.

const (
	statusTimeout = 5 * time.Second
	// diskMeasureEvery is how often disk use is measured between collections.
	diskMeasureEvery = 10 * time.Second
)

// GCReport says what one garbage collection round did.
type GCReport = gc.Report

// kickGC asks for a round soon (the quota or the retention changed).
func (n *Node) kickGC() { n.op.gc.Kick() }

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
			if u, err := n.op.gc.Measure(ctx); err == nil {
				n.op.gc.SetUsage(u)
			}
			measure = now.Add(diskMeasureEvery)
		}
		if !now.Before(next) || n.op.gc.Kicked() {
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
	u := n.op.gc.Usage()
	u.QuotaBytes = int64(n.Prefs().DiskQuotaMB) << 20
	return u
}

// overQuota reports the bytes used and whether they exceed the quota after collection.
func (n *Node) overQuota() (int64, bool) {
	u := n.Usage()
	return u.Total(), u.QuotaBytes > 0 && !u.Measured.IsZero() && u.Total() > u.QuotaBytes
}

// CollectGarbage runs one round of garbage collection now.
func (n *Node) CollectGarbage(ctx context.Context) (GCReport, error) {
	rep, err := n.op.gc.Round(ctx)
	if err != nil {
		return rep, err
	}
	rep.Usage = n.Usage()
	return rep, nil
}

// ID is the batch's ID (gc.Batch).
func (b *batch) ID() cid.Cid { return b.id }

// Manifest is the batch's manifest (gc.Batch).
func (b *batch) Manifest() *tasks.Manifest { return b.m }

// gcNode is the node as the garbage collector asks it (gc.Node); its batches are *batch.
type gcNode struct{ n *Node }

func (g gcNode) Batches() []gc.Batch {
	bs := g.n.listBatches()
	out := make([]gc.Batch, len(bs))
	for i, b := range bs {
		out[i] = b
	}
	return out
}

func (g gcNode) Done(ctx context.Context, gb gc.Batch, ask bool) bool {
	n, b := g.n, gb.(*batch)
	b.mu.Lock()
	fin := b.workDone
	b.mu.Unlock()
	steward := n.stewardHere(b)
	fin = fin || n.stewardDone(b)
	if !fin && !steward && ask {
		sctx, cancel := context.WithTimeout(ctx, statusTimeout)
		st, err := n.Status(sctx, b.id)
		cancel()
		fin = err == nil && st.State != tasks.BatchRunning
	}
	return fin
}

func (g gcNode) StewardOutputs(ctx context.Context, b gc.Batch, collecting bool) ([]cid.Cid, error) {
	return g.n.stewardOutputs(ctx, b.(*batch), collecting)
}

func (g gcNode) HeldOutputs(ctx context.Context, b gc.Batch) []cid.Cid {
	var out []cid.Cid
	for _, task := range g.n.held.list(b.ID()) {
		if c, err := g.n.heldOutput(ctx, b.ID(), task); err == nil {
			out = append(out, c)
		}
	}
	return out
}

func (g gcNode) DropExtraCopies(ctx context.Context, b gc.Batch) []cid.Cid {
	return g.n.dropExtraCopies(ctx, b.(*batch))
}

func (g gcNode) Collected(b gc.Batch) { b.(*batch).blobsHere.Store(false) }

// stewardOutputs are the outputs in b's steward state. When collecting, it returns them
// only if every accepted result has K live holders (the steward may still need them to
// store a result); when marking, it returns them all. A dormant state (dormant.go) gives
// none either way: its results have their holders, and it is not loaded for this.
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
