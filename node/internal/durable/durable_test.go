package durable

import (
	"context"
	"log/slog"
	"testing"

	"allforone/node/internal/store"

	"github.com/ipfs/go-datastore"
)

// TestSyncThroughSyncsOnlyWhatIsNew: a write numbered by Mark is made durable by the first
// SyncThrough that names it and costs nothing after; a sync point for a later write
// covers the earlier ones too.
func TestSyncThroughSyncsOnlyWhatIsNew(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(dir, store.NewHealth(dir, slog.Default(), func(error) {}), false)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var p Points
	p.Open(st, dir, func() store.StoreCounts { return store.StoreCounts{} }, slog.Default())
	syncs := func() uint64 { p.mu.Lock(); defer p.mu.Unlock(); return p.seq }
	put := func(key string) uint64 {
		if err := st.Put(ctx, datastore.NewKey(key), []byte("v")); err != nil {
			t.Fatal(err)
		}
		return p.Mark()
	}
	step := func(what string, mark uint64, want uint64) {
		t.Helper()
		before := syncs()
		if err := p.SyncThrough(ctx, mark); err != nil {
			t.Fatal(err)
		}
		if got := syncs() - before; got != want {
			t.Errorf("%s: %d sync points, want %d", what, got, want)
		}
	}
	a := put("/a")
	step("a new write", a, 1)
	step("the same write again", a, 0)
	b, c := put("/b"), put("/c")
	step("the first of two new writes", b, 1)
	step("the second, covered by that sync point", c, 0)
	step("the oldest", a, 0)
	put("/d")
	step("an old write while a new one waits", b, 0)
}
