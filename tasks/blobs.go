package tasks

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"allforone/protocol"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"
)

// MaxBlobSize is the largest blob the store accepts: 256 MiB. Modules, task inputs and task
// outputs are blobs, and each is held in memory while it is used.
const MaxBlobSize = protocol.MaxBlobSize

// Blob store errors. Check them with errors.Is.
var (
	// ErrBlobNotFound means the store holds no blob with that content ID.
	ErrBlobNotFound = errors.New("blob not found")
	// ErrCorrupt means the stored bytes no longer hash to their content ID (disk corruption
	// or tampering). Delete the blob and fetch it again.
	ErrCorrupt = errors.New("blob is corrupt (delete it and fetch it again)")
	// ErrBlobTooLarge means a blob is over MaxBlobSize.
	ErrBlobTooLarge = fmt.Errorf("over the %d byte limit for one blob", MaxBlobSize)
)

// Datastore prefixes of the blob store (see BlobStore).
const (
	blobNamespace  = "/blobs"      // <cid> -> the bytes of a blob of at most blobChunkSize (any size from older versions)
	partsNamespace = "/blobparts"  // <cid> -> the descriptor of a larger blob
	chunkNamespace = "/blobchunks" // <group>/<index> -> blobChunkSize bytes of a larger blob (the last may be shorter)
)

// blobChunkSize is the size of the values a large blob is stored as: the embedded store
// copies a value several times while it writes it (its batch, a block, the compressed
// block, a compaction), so a 200 MB value cost over 900 MB; 1 MiB values cost it little.
const blobChunkSize = 1 << 20

// BlobStore keeps content-addressed blobs (modules, inputs, outputs) in a go-datastore,
// keyed by content ID; every read verifies the content against its ID. A blob of at most
// 1 MiB is one value under /blobs. A larger one is stored as 1 MiB chunks under
// /blobchunks/<group>/, written as they arrive (PutReader never holds the whole blob), and
// a small descriptor under /blobparts/<cid> that names its size and chunk group; the
// descriptor is written last, so a blob is there entirely or not at all. Chunk groups that
// no descriptor names (an upload cut short) are removed by CollectChunks. It is safe for
// concurrent use when the datastore is.
type BlobStore struct {
	whole, parts, chunks datastore.Datastore
	now                  func() int64 // unix milliseconds, for chunk group names
}

// NewBlobStore returns a blob store over d, usually the node's pebble datastore; it writes
// only under the /blobs, /blobparts and /blobchunks namespaces.
func NewBlobStore(d datastore.Datastore) *BlobStore {
	return &BlobStore{
		whole:  namespace.Wrap(d, datastore.NewKey(blobNamespace)),
		parts:  namespace.Wrap(d, datastore.NewKey(partsNamespace)),
		chunks: namespace.Wrap(d, datastore.NewKey(chunkNamespace)),
		now:    unixMilliNow,
	}
}

// blobKey is the datastore key of c inside a namespace.
func blobKey(c cid.Cid) (datastore.Key, error) {
	if err := CheckContentID(c); err != nil {
		return datastore.Key{}, err
	}
	return datastore.NewKey(c.String()), nil
}

// Put stores data and returns its content ID. Storing the same bytes twice is harmless.
func (s *BlobStore) Put(ctx context.Context, data []byte) (cid.Cid, error) {
	if len(data) > MaxBlobSize {
		return cid.Undef, fmt.Errorf("put blob: %d bytes is over the %d byte limit", len(data), MaxBlobSize)
	}
	c := ContentID(data)
	k, _ := blobKey(c) // c is a valid content ID by construction
	if len(data) <= blobChunkSize {
		if err := s.whole.Put(ctx, k, data); err != nil {
			return cid.Undef, fmt.Errorf("put blob %s: %w", c, err)
		}
		return c, nil
	}
	if ok, err := s.Has(ctx, c); err == nil && ok {
		return c, nil
	}
	w := s.newChunkWriter()
	for off := 0; off < len(data); off += blobChunkSize {
		if err := w.write(ctx, data[off:min(off+blobChunkSize, len(data))]); err != nil {
			w.abort(ctx)
			return cid.Undef, fmt.Errorf("put blob %s: %w", c, err)
		}
	}
	if err := w.finish(ctx, c); err != nil {
		return cid.Undef, fmt.Errorf("put blob %s: %w", c, err)
	}
	return c, nil
}

// PutReader stores the blob read from r to its end, hashing it and storing it chunk by
// chunk as it reads, so it holds at most 2 MiB of it at a time, and returns its reference.
// More than MaxBlobSize bytes give an error wrapping ErrBlobTooLarge, and nothing stays
// stored (also on a read error).
func (s *BlobStore) PutReader(ctx context.Context, r io.Reader) (BlobRef, error) {
	h := sha256.New()
	first := make([]byte, blobChunkSize)
	n, err := io.ReadFull(r, first)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return BlobRef{}, fmt.Errorf("read blob: %w", err)
	}
	next := make([]byte, blobChunkSize)
	m := 0
	if n == blobChunkSize {
		m, err = io.ReadFull(r, next)
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			return BlobRef{}, fmt.Errorf("read blob: %w", err)
		}
	}
	if m == 0 { // it fits in one value
		c, err := s.Put(ctx, first[:n])
		return BlobRef{CID: c, Size: uint64(n)}, err
	}
	w := s.newChunkWriter()
	fail := func(err error) (BlobRef, error) {
		w.abort(ctx)
		return BlobRef{}, err
	}
	h.Write(first)
	if err := w.write(ctx, first); err != nil {
		return fail(fmt.Errorf("put blob: %w", err))
	}
	buf := next[:m]
	for len(buf) > 0 {
		if w.size+uint64(len(buf)) > MaxBlobSize {
			return fail(fmt.Errorf("blob of more than %d bytes: %w", MaxBlobSize, ErrBlobTooLarge))
		}
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
		h.Write(buf)
		if err := w.write(ctx, buf); err != nil {
			return fail(fmt.Errorf("put blob: %w", err))
		}
		m, err := io.ReadFull(r, next)
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			return fail(fmt.Errorf("read blob: %w", err))
		}
		buf = next[:m]
	}
	c := protocol.ContentIDOfDigest(h.Sum(nil))
	if ok, err := s.Has(ctx, c); err == nil && ok {
		w.abort(ctx) // stored before: keep that copy
		return BlobRef{CID: c, Size: w.size}, nil
	}
	if err := w.finish(ctx, c); err != nil {
		return fail(fmt.Errorf("put blob %s: %w", c, err))
	}
	return BlobRef{CID: c, Size: w.size}, nil
}

// Get returns the blob named c, verified against c. A missing blob gives an error wrapping
// ErrBlobNotFound; bytes that do not hash to c give an error wrapping ErrCorrupt.
func (s *BlobStore) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	k, err := blobKey(c)
	if err != nil {
		return nil, fmt.Errorf("get blob: %w", err)
	}
	data, err := s.whole.Get(ctx, k)
	if errors.Is(err, datastore.ErrNotFound) {
		data, err = s.getParts(ctx, k)
	}
	if errors.Is(err, datastore.ErrNotFound) {
		return nil, fmt.Errorf("get blob %s: %w", c, ErrBlobNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get blob %s: %w", c, err)
	}
	if got := ContentID(data); !bytes.Equal(got.Hash(), c.Hash()) {
		return nil, fmt.Errorf("get blob %s: stored bytes hash to %s: %w", c, got, ErrCorrupt)
	}
	return data, nil
}

// Has reports whether the store holds the blob named c (without verifying it).
func (s *BlobStore) Has(ctx context.Context, c cid.Cid) (bool, error) {
	k, err := blobKey(c)
	if err != nil {
		return false, fmt.Errorf("has blob: %w", err)
	}
	ok, err := s.parts.Has(ctx, k) // a small value: look here first
	if err == nil && !ok {
		ok, err = s.whole.Has(ctx, k)
	}
	if err != nil {
		return false, fmt.Errorf("has blob %s: %w", c, err)
	}
	return ok, nil
}

// Size returns the length in bytes of the blob named c, or an error wrapping ErrBlobNotFound.
func (s *BlobStore) Size(ctx context.Context, c cid.Cid) (int, error) {
	k, err := blobKey(c)
	if err != nil {
		return 0, fmt.Errorf("blob size: %w", err)
	}
	if d, err := s.descriptor(ctx, k); err == nil {
		return int(d.size), nil
	} else if !errors.Is(err, datastore.ErrNotFound) {
		return 0, fmt.Errorf("blob size %s: %w", c, err)
	}
	n, err := s.whole.GetSize(ctx, k)
	if errors.Is(err, datastore.ErrNotFound) {
		return 0, fmt.Errorf("blob size %s: %w", c, ErrBlobNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("blob size %s: %w", c, err)
	}
	return n, nil
}

// Delete removes the blob named c. Deleting a missing blob is not an error.
func (s *BlobStore) Delete(ctx context.Context, c cid.Cid) error {
	k, err := blobKey(c)
	if err != nil {
		return fmt.Errorf("delete blob: %w", err)
	}
	if err := s.whole.Delete(ctx, k); err != nil {
		return fmt.Errorf("delete blob %s: %w", c, err)
	}
	d, err := s.descriptor(ctx, k)
	if errors.Is(err, datastore.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete blob %s: %w", c, err)
	}
	// The descriptor goes first: a crash halfway leaves chunks no descriptor names, which
	// CollectChunks removes, never a descriptor naming missing chunks.
	if err := s.parts.Delete(ctx, k); err != nil {
		return fmt.Errorf("delete blob %s: %w", c, err)
	}
	if err := s.deleteGroup(ctx, d.group); err != nil {
		return fmt.Errorf("delete blob %s: %w", c, err)
	}
	return nil
}
