package node

import (
	"path/filepath"
	"testing"

	"github.com/ipfs/go-datastore"
)

// BenchmarkSyncPoint compares a recorded sync point with the bare fsync of the log that
// the node made at the same places before.
func BenchmarkSyncPoint(b *testing.B) {
	cfg := TestConfig(filepath.Join(b.TempDir(), "n"))
	if _, err := Init(cfg, ""); err != nil {
		b.Fatal(err)
	}
	n, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := n.Start(b.Context()); err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	b.Run("log fsync only", func(b *testing.B) {
		for b.Loop() {
			n.ds.Put(b.Context(), datastore.NewKey("/bench"), []byte("x"))
			if err := n.ds.Sync(b.Context(), datastore.NewKey("/")); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, now := range []bool{false, true} {
		name := "recorded sync point, record at most once a second"
		if now {
			name = "recorded sync point, record written at once"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				n.ds.Put(b.Context(), datastore.NewKey("/bench"), []byte("x"))
				if err := n.syncDatastore(b.Context(), now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
