package tasks

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
)

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func countKeys(t *testing.T, d datastore.Datastore, prefix string) int {
	t.Helper()
	res, err := d.Query(context.Background(), query.Query{Prefix: prefix, KeysOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	all, err := res.Rest()
	if err != nil {
		t.Fatal(err)
	}
	return len(all)
}

// TestLargeBlobsAreChunked: a blob over 1 MiB is stored as 1 MiB values with a descriptor,
// through Put and through PutReader, and reads back whole after a reopen; Delete removes
// its chunks.
func TestLargeBlobsAreChunked(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "datastore")
	d := openPebble(t, dir)
	s := NewBlobStore(d)
	big := randomBytes(3*blobChunkSize+12345, 1)
	c, err := s.Put(ctx, big)
	if err != nil || !c.Equals(ContentID(big)) {
		t.Fatalf("Put: %s %v", c, err)
	}
	other := randomBytes(2*blobChunkSize, 2) // exactly two chunks
	ref, err := s.PutReader(ctx, bytes.NewReader(other))
	if err != nil || !ref.CID.Equals(ContentID(other)) || ref.Size != uint64(len(other)) {
		t.Fatalf("PutReader: %+v %v", ref, err)
	}
	exact := randomBytes(blobChunkSize, 3) // one chunk: one value
	if ref, err := s.PutReader(ctx, bytes.NewReader(exact)); err != nil || ref.Size != blobChunkSize {
		t.Fatalf("PutReader of one chunk: %+v %v", ref, err)
	}
	if n := countKeys(t, d, "/blobchunks/"); n != 4+2 {
		t.Errorf("%d chunks stored, want 6", n)
	}
	if n := countKeys(t, d, "/blobs/"); n != 1 {
		t.Errorf("%d whole values, want 1 (the one-chunk blob)", n)
	}
	// Storing a large blob again keeps one copy.
	if _, err := s.PutReader(ctx, bytes.NewReader(big)); err != nil {
		t.Fatal(err)
	}
	if n := countKeys(t, d, "/blobchunks/"); n != 6 {
		t.Errorf("%d chunks after storing a blob twice, want 6", n)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	d = openPebble(t, dir)
	defer d.Close()
	s = NewBlobStore(d)
	for _, want := range [][]byte{big, other, exact} {
		c := ContentID(want)
		got, err := s.Get(ctx, c)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("Get %s after reopen: %d bytes, %v", c, len(got), err)
		}
		if n, err := s.Size(ctx, c); n != len(want) || err != nil {
			t.Errorf("Size: %d %v, want %d", n, err, len(want))
		}
		if ok, err := s.Has(ctx, c); !ok || err != nil {
			t.Errorf("Has: %v %v", ok, err)
		}
	}
	blobs, size, err := s.Usage(ctx)
	if err != nil || blobs != 3 || size != int64(len(big)+len(other)+len(exact)) {
		t.Errorf("Usage: %d blobs, %d bytes, %v", blobs, size, err)
	}
	listed := 0
	if err := s.List(ctx, func(cid.Cid) { listed++ }); err != nil || listed != 3 {
		t.Errorf("List: %d, %v", listed, err)
	}
	if err := s.Delete(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, c); !errors.Is(err, ErrBlobNotFound) {
		t.Errorf("after Delete: %v", err)
	}
	if n := countKeys(t, d, "/blobchunks/"); n != 2 {
		t.Errorf("%d chunks after deleting the 4-chunk blob, want 2", n)
	}
}

// TestChunkedBlobCorruption: a changed or missing chunk is reported as corrupt.
func TestChunkedBlobCorruption(t *testing.T) {
	ctx := context.Background()
	d := newMapStore()
	s := NewBlobStore(d)
	big := randomBytes(2*blobChunkSize+1, 4)
	c, err := s.Put(ctx, big)
	if err != nil {
		t.Fatal(err)
	}
	res, _ := d.Query(ctx, query.Query{Prefix: "/blobchunks/", KeysOnly: true})
	keys, _ := res.Rest()
	if len(keys) != 3 {
		t.Fatalf("%d chunks", len(keys))
	}
	d.Put(ctx, datastore.NewKey(keys[1].Key), bytes.Repeat([]byte{1}, blobChunkSize))
	if _, err := s.Get(ctx, c); !errors.Is(err, ErrCorrupt) {
		t.Errorf("changed chunk: %v, want ErrCorrupt", err)
	}
	d.Delete(ctx, datastore.NewKey(keys[2].Key))
	if _, err := s.Get(ctx, c); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing chunk: %v, want ErrCorrupt saying it is missing", err)
	}
}

type failingReader struct {
	r     io.Reader
	after int
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.after <= 0 {
		return 0, errors.New("connection reset")
	}
	if len(p) > f.after {
		p = p[:f.after]
	}
	n, err := f.r.Read(p)
	f.after -= n
	return n, err
}

// TestPutReaderLeavesNothingOnFailure: an upload over the limit, or cut short, stores
// nothing; chunks left by a crash mid-upload go with CollectChunks once old enough.
func TestPutReaderLeavesNothingOnFailure(t *testing.T) {
	ctx := context.Background()
	d := newMapStore()
	s := NewBlobStore(d)
	_, err := s.PutReader(ctx, io.LimitReader(zeroReader{}, MaxBlobSize+1))
	if !errors.Is(err, ErrBlobTooLarge) {
		t.Fatalf("over the limit: %v", err)
	}
	_, err = s.PutReader(ctx, &failingReader{r: bytes.NewReader(randomBytes(5*blobChunkSize, 5)), after: 3 * blobChunkSize})
	if err == nil || !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("cut short: %v", err)
	}
	if n := countKeys(t, d, "/"); n != 0 {
		t.Fatalf("%d keys left after failed uploads", n)
	}
	// A crash leaves chunks that no descriptor names.
	w := s.newChunkWriter()
	w.write(ctx, randomBytes(blobChunkSize, 6))
	kept, err := s.Put(ctx, randomBytes(2*blobChunkSize, 7))
	if err != nil {
		t.Fatal(err)
	}
	if freed, err := s.CollectChunks(ctx, time.UnixMilli(s.now()-60_000)); err != nil || freed != 0 {
		t.Fatalf("a fresh group was collected: %d, %v", freed, err)
	}
	freed, err := s.CollectChunks(ctx, time.UnixMilli(s.now()+1))
	if err != nil || freed != blobChunkSize {
		t.Fatalf("CollectChunks freed %d, %v; want the one orphan chunk", freed, err)
	}
	if got, err := s.Get(ctx, kept); err != nil || len(got) != 2*blobChunkSize {
		t.Fatalf("a named group was touched: %v", err)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestOlderWholeLargeBlobsStillRead: a large blob an older version stored as one value
// reads, sizes, counts and deletes as before.
func TestOlderWholeLargeBlobsStillRead(t *testing.T) {
	ctx := context.Background()
	d := newMapStore()
	s := NewBlobStore(d)
	old := randomBytes(3*blobChunkSize, 8)
	c := ContentID(old)
	if err := d.Put(ctx, datastore.NewKey("/blobs/"+c.String()), old); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, c); err != nil || !bytes.Equal(got, old) {
		t.Fatalf("Get: %v", err)
	}
	if n, err := s.Size(ctx, c); err != nil || n != len(old) {
		t.Fatalf("Size: %d %v", n, err)
	}
	if blobs, size, err := s.Usage(ctx); err != nil || blobs != 1 || size != int64(len(old)) {
		t.Fatalf("Usage: %d %d %v", blobs, size, err)
	}
	if err := s.Delete(ctx, c); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.Has(ctx, c); ok {
		t.Fatal("still there after Delete")
	}
}
