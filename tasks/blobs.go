package tasks

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"
)

// MaxBlobSize is the largest blob the store accepts: 256 MiB. Modules, task inputs and task
// outputs are blobs, and each is held in memory while it is used.
const MaxBlobSize = 256 << 20

// Blob store errors. Check them with errors.Is.
var (
	// ErrBlobNotFound means the store holds no blob with that content ID.
	ErrBlobNotFound = errors.New("blob not found")
	// ErrCorrupt means the stored bytes no longer hash to their content ID (disk corruption
	// or tampering). Delete the blob and fetch it again.
	ErrCorrupt = errors.New("blob is corrupt (delete it and fetch it again)")
)

// blobNamespace is the datastore prefix under which blobs live.
const blobNamespace = "/blobs"

// BlobStore keeps content-addressed blobs (modules, inputs, outputs) in a go-datastore under
// /blobs, keyed by content ID. Every read verifies the content against its ID. It is safe for
// concurrent use when the datastore is.
type BlobStore struct {
	ds datastore.Datastore
}

// NewBlobStore returns a blob store over d, usually the node's pebble datastore; it writes
// only under the /blobs namespace.
func NewBlobStore(d datastore.Datastore) *BlobStore {
	return &BlobStore{ds: namespace.Wrap(d, datastore.NewKey(blobNamespace))}
}

// blobKey is the datastore key of c inside the namespace.
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
	if err := s.ds.Put(ctx, k, data); err != nil {
		return cid.Undef, fmt.Errorf("put blob %s: %w", c, err)
	}
	return c, nil
}

// PutID stores data under c, its content ID as ReadBlob computed it while reading, without
// hashing the bytes again. A c that is not ContentID(data) stores a blob that every read
// reports as corrupt.
func (s *BlobStore) PutID(ctx context.Context, c cid.Cid, data []byte) error {
	if len(data) > MaxBlobSize {
		return fmt.Errorf("put blob: %d bytes is over the %d byte limit", len(data), MaxBlobSize)
	}
	k, err := blobKey(c)
	if err != nil {
		return fmt.Errorf("put blob: %w", err)
	}
	if err := s.ds.Put(ctx, k, data); err != nil {
		return fmt.Errorf("put blob %s: %w", c, err)
	}
	return nil
}

// ErrBlobTooLarge means a blob is over MaxBlobSize.
var ErrBlobTooLarge = fmt.Errorf("over the %d byte limit for one blob", MaxBlobSize)

// ReadBlob reads a blob from r to its end, hashing it as it reads, and returns its bytes and
// content ID. size is the length when known (a Content-Length, a file's size), or -1: a
// known size is allocated once, so the blob is held in memory once. More than MaxBlobSize
// bytes, or more than a known size, give an error (ErrBlobTooLarge for the limit).
func ReadBlob(r io.Reader, size int64) ([]byte, cid.Cid, error) {
	if size > MaxBlobSize {
		return nil, cid.Undef, fmt.Errorf("blob of %d bytes: %w", size, ErrBlobTooLarge)
	}
	h := sha256.New()
	var buf []byte
	if size >= 0 {
		buf = make([]byte, 0, size)
	}
	limit := int64(MaxBlobSize)
	if size >= 0 {
		limit = size
	}
	w := bytes.NewBuffer(buf)
	n, err := io.Copy(io.MultiWriter(w, h), io.LimitReader(r, limit+1))
	if err != nil {
		return nil, cid.Undef, fmt.Errorf("read blob: %w", err)
	}
	switch {
	case n > MaxBlobSize:
		return nil, cid.Undef, fmt.Errorf("blob of more than %d bytes: %w", MaxBlobSize, ErrBlobTooLarge)
	case size >= 0 && n != size:
		return nil, cid.Undef, fmt.Errorf("read blob: got %d bytes, expected %d", n, size)
	}
	return w.Bytes(), contentIDFromDigest(h.Sum(nil)), nil
}

// Get returns the blob named c, verified against c. A missing blob gives an error wrapping
// ErrBlobNotFound; bytes that do not hash to c give an error wrapping ErrCorrupt.
func (s *BlobStore) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	k, err := blobKey(c)
	if err != nil {
		return nil, fmt.Errorf("get blob: %w", err)
	}
	data, err := s.ds.Get(ctx, k)
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
	ok, err := s.ds.Has(ctx, k)
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
	n, err := s.ds.GetSize(ctx, k)
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
	if err := s.ds.Delete(ctx, k); err != nil {
		return fmt.Errorf("delete blob %s: %w", c, err)
	}
	return nil
}
