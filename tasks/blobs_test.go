package tasks

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	pebbleds "github.com/ipfs/go-ds-pebble"
)

func openPebble(t *testing.T, dir string) *pebbleds.Datastore {
	t.Helper()
	d, err := pebbleds.NewDatastore(dir)
	if err != nil {
		t.Fatalf("open pebble at %s: %v", dir, err)
	}
	return d
}

func TestBlobStoreSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "datastore")
	d := openPebble(t, dir)
	s := NewBlobStore(d)
	data := bytes.Repeat([]byte("module bytes "), 1000)
	c, err := s.Put(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Equals(ContentID(data)) {
		t.Fatalf("Put returned %s, want the content ID %s", c, ContentID(data))
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	d = openPebble(t, dir)
	defer d.Close()
	s = NewBlobStore(d)
	got, err := s.Get(ctx, c)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("after reopen: got %d bytes, %v", len(got), err)
	}
	if ok, err := s.Has(ctx, c); !ok || err != nil {
		t.Errorf("Has: %v, %v", ok, err)
	}
	if n, err := s.Size(ctx, c); n != len(data) || err != nil {
		t.Errorf("Size: %d, %v", n, err)
	}
	// Blobs live under /blobs only.
	if ok, _ := d.Has(ctx, datastore.NewKey("/blobs/"+c.String())); !ok {
		t.Errorf("blob is not under /blobs")
	}
	if err := s.Delete(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, c); !errors.Is(err, ErrBlobNotFound) {
		t.Errorf("after Delete: got %v, want ErrBlobNotFound", err)
	}
	if _, err := s.Size(ctx, c); !errors.Is(err, ErrBlobNotFound) {
		t.Errorf("Size after Delete: got %v, want ErrBlobNotFound", err)
	}
	if err := s.Delete(ctx, c); err != nil {
		t.Errorf("deleting a missing blob: %v", err)
	}
}

func TestBlobStoreDetectsCorruption(t *testing.T) {
	ctx := context.Background()
	d := openPebble(t, filepath.Join(t.TempDir(), "datastore"))
	defer d.Close()
	s := NewBlobStore(d)
	c, err := s.Put(ctx, []byte("the real input"))
	if err != nil {
		t.Fatal(err)
	}
	// Flip the stored bytes behind the store's back, as a bad disk would.
	if err := d.Put(ctx, datastore.NewKey("/blobs/"+c.String()), []byte("the real inpuT")); err != nil {
		t.Fatal(err)
	}
	_, err = s.Get(ctx, c)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("got %v, want ErrCorrupt", err)
	}
	t.Logf("corrupt blob: %v", err)
}

func TestBlobStoreRejectsForeignCIDs(t *testing.T) {
	s := NewBlobStore(datastore.NewMapDatastore())
	c := ContentID([]byte("x"))
	v0 := cid.NewCidV0(c.Hash())
	if _, err := s.Get(context.Background(), v0); err == nil || !strings.Contains(err.Error(), "not a CIDv1") {
		t.Fatalf("CIDv0: got %v, want a refusal", err)
	}
	if _, err := s.Get(context.Background(), cid.Undef); err == nil {
		t.Fatal("undefined CID accepted")
	}
}

func newMapStore() datastore.Batching { return dssync.MutexWrap(datastore.NewMapDatastore()) }
