package gc

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"allforone/node/internal/config"
	"allforone/node/internal/store"
	"allforone/tasks"
)

// fakeBatch and fakeNode stand in for the node's batches: what the collector asks, answered
// from fields.
type fakeBatch struct {
	id cid.Cid
	m  *tasks.Manifest
}

func (b *fakeBatch) ID() cid.Cid               { return b.id }
func (b *fakeBatch) Manifest() *tasks.Manifest { return b.m }

type fakeNode struct {
	batches   []Batch
	done      map[cid.Cid]bool
	held      map[cid.Cid][]cid.Cid
	collected []cid.Cid
}

func (f *fakeNode) Batches() []Batch                                 { return f.batches }
func (f *fakeNode) Done(_ context.Context, b Batch, _ bool) bool     { return f.done[b.ID()] }
func (f *fakeNode) HeldOutputs(_ context.Context, b Batch) []cid.Cid { return f.held[b.ID()] }
func (f *fakeNode) DropExtraCopies(context.Context, Batch) []cid.Cid { return nil }
func (f *fakeNode) Collected(b Batch)                                { f.collected = append(f.collected, b.ID()) }
func (f *fakeNode) StewardOutputs(context.Context, Batch, bool) ([]cid.Cid, error) {
	return nil, nil
}

// A finished batch past its retention loses its module, unless a batch still running
// shares it or a held result names it; a running batch keeps everything.
func TestRoundCollectsFinishedBatches(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	ds, err := store.Open(dir, store.NewHealth(dir, slog.New(slog.DiscardHandler), func(err error) { panic(err) }), false)
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	blobs := tasks.NewBlobStore(ds)
	put := func(s string) cid.Cid {
		c, err := blobs.Put(ctx, []byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	now := time.Now()
	gone, shared, held := put("module of a finished batch"), put("module both use"), put("an output held")
	batch := func(name string, module cid.Cid) *fakeBatch {
		return &fakeBatch{id: tasks.ContentID([]byte(name)), m: &tasks.Manifest{
			Module: tasks.BlobRef{CID: module}, CreatedAt: now.Add(-time.Hour), Deadline: now.Add(time.Hour)}}
	}
	fin, fin2, running := batch("finished", gone), batch("finished too", shared), batch("running", shared)
	node := &fakeNode{batches: []Batch{fin, fin2, running},
		done: map[cid.Cid]bool{fin.id: true, fin2.id: true},
		held: map[cid.Cid][]cid.Cid{fin.id: {held}}}
	var c Collector
	prefs := config.DefaultPrefs()
	prefs.Retention = 0
	c.Open(ds, blobs, node, func() config.Prefs { return prefs }, time.Hour, slog.New(slog.DiscardHandler))
	rep, err := c.Round(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Collectable != 2 || rep.BlobsDeleted != 1 || len(node.collected) != 2 {
		t.Fatalf("report %+v, collected %v; want 2 batches collectable, 1 blob deleted", rep, node.collected)
	}
	for c, want := range map[cid.Cid]bool{gone: false, shared: true, held: true} {
		if has, _ := blobs.Has(ctx, c); has != want {
			t.Errorf("blob %s stored: %v, want %v", c, has, want)
		}
	}
	if u := c.Usage(); u.Measured.IsZero() || u.Blobs != 2 {
		t.Errorf("usage after the round: %+v, want 2 blobs measured", u)
	}
}
