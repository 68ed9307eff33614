package tasks

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
)

// Large blobs are stored as chunks: see BlobStore. A chunk group is named
// "<unix ms>-<16 hex digits>": the time it was started, so that CollectChunks knows how old
// an unfinished one is, and a random part, so that two uploads never share one.

func unixMilliNow() int64 { return time.Now().UnixMilli() }

// partsDescriptor is the value under /blobparts/<cid>: the blob's size and its chunk group.
type partsDescriptor struct {
	size  uint64
	group string
}

func (d partsDescriptor) encode() []byte {
	return append(binary.BigEndian.AppendUint64(nil, d.size), d.group...)
}

func decodeDescriptor(b []byte) (partsDescriptor, error) {
	if len(b) < 9 || len(b) > 64 {
		return partsDescriptor{}, fmt.Errorf("blob descriptor of %d bytes: %w", len(b), ErrCorrupt)
	}
	return partsDescriptor{size: binary.BigEndian.Uint64(b), group: string(b[8:])}, nil
}

func (s *BlobStore) descriptor(ctx context.Context, k datastore.Key) (partsDescriptor, error) {
	raw, err := s.parts.Get(ctx, k)
	if err != nil {
		return partsDescriptor{}, err
	}
	return decodeDescriptor(raw)
}

func chunkKey(group string, i int) datastore.Key {
	return datastore.NewKey(group + "/" + fmt.Sprintf("%08d", i))
}

// chunkWriter writes one large blob's chunks, in order.
type chunkWriter struct {
	s     *BlobStore
	group string
	n     int    // chunks written
	size  uint64 // bytes written
}

func (s *BlobStore) newChunkWriter() *chunkWriter {
	var r [8]byte
	rand.Read(r[:])
	return &chunkWriter{s: s, group: strconv.FormatInt(s.now(), 10) + "-" + hex.EncodeToString(r[:])}
}

// write stores the next chunk (the datastore copies b, so the caller may reuse it).
func (w *chunkWriter) write(ctx context.Context, b []byte) error {
	if err := w.s.chunks.Put(ctx, chunkKey(w.group, w.n), b); err != nil {
		return err
	}
	w.n++
	w.size += uint64(len(b))
	return nil
}

// finish makes the chunks the blob named c by writing its descriptor.
func (w *chunkWriter) finish(ctx context.Context, c cid.Cid) error {
	k, err := blobKey(c)
	if err != nil {
		return err
	}
	return w.s.parts.Put(ctx, k, partsDescriptor{size: w.size, group: w.group}.encode())
}

// abort removes the chunks written so far.
func (w *chunkWriter) abort(ctx context.Context) {
	_ = w.s.deleteGroup(context.WithoutCancel(ctx), w.group)
}

// getParts reads the large blob under k from its chunks (not verified: Get does that).
func (s *BlobStore) getParts(ctx context.Context, k datastore.Key) ([]byte, error) {
	d, err := s.descriptor(ctx, k)
	if err != nil {
		return nil, err
	}
	if d.size > MaxBlobSize {
		return nil, fmt.Errorf("descriptor says %d bytes, over the limit: %w", d.size, ErrCorrupt)
	}
	data := make([]byte, 0, d.size)
	for i := 0; uint64(len(data)) < d.size; i++ {
		v, err := s.chunks.Get(ctx, chunkKey(d.group, i))
		if errors.Is(err, datastore.ErrNotFound) {
			return nil, fmt.Errorf("chunk %d of %d bytes is missing: %w", i, d.size, ErrCorrupt)
		}
		if err != nil {
			return nil, err
		}
		if uint64(len(data)+len(v)) > d.size {
			return nil, fmt.Errorf("chunks hold more than the %d bytes their descriptor says: %w", d.size, ErrCorrupt)
		}
		data = append(data, v...)
	}
	return data, nil
}

// deleteGroup removes every chunk of a group.
func (s *BlobStore) deleteGroup(ctx context.Context, group string) error {
	res, err := s.chunks.Query(ctx, query.Query{Prefix: "/" + group + "/", KeysOnly: true})
	if err != nil {
		return err
	}
	entries, err := res.Rest()
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := s.chunks.Delete(ctx, datastore.NewKey(e.Key)); err != nil {
			return err
		}
	}
	return nil
}

// Usage counts the stored blobs and their bytes, reading only small values (descriptors
// stand for their chunks).
func (s *BlobStore) Usage(ctx context.Context) (blobs int, bytes int64, err error) {
	res, err := s.whole.Query(ctx, query.Query{KeysOnly: true, ReturnsSizes: true})
	if err != nil {
		return 0, 0, err
	}
	for e := range res.Next() {
		if e.Error != nil {
			res.Close()
			return 0, 0, e.Error
		}
		blobs++
		bytes += int64(e.Size)
	}
	res.Close()
	err = s.eachDescriptor(ctx, func(_ string, d partsDescriptor) {
		blobs++
		bytes += int64(d.size)
	})
	return blobs, bytes, err
}

func (s *BlobStore) eachDescriptor(ctx context.Context, f func(key string, d partsDescriptor)) error {
	res, err := s.parts.Query(ctx, query.Query{})
	if err != nil {
		return err
	}
	defer res.Close()
	for e := range res.Next() {
		if e.Error != nil {
			return e.Error
		}
		if d, err := decodeDescriptor(e.Value); err == nil {
			f(e.Key, d)
		}
	}
	return nil
}

// List calls f with the content ID of every stored blob.
func (s *BlobStore) List(ctx context.Context, f func(c cid.Cid)) error {
	for _, ns := range []datastore.Datastore{s.whole, s.parts} {
		res, err := ns.Query(ctx, query.Query{KeysOnly: true})
		if err != nil {
			return err
		}
		for e := range res.Next() {
			if e.Error != nil {
				res.Close()
				return e.Error
			}
			if c, err := cid.Decode(strings.TrimPrefix(e.Key, "/")); err == nil {
				f(c)
			}
		}
		res.Close()
	}
	return nil
}

// CollectChunks removes the chunks of groups that no blob's descriptor names and that were
// started before before: uploads cut short, and copies of a blob stored twice at once. An
// upload still running is safe as long as it started after before. It returns the bytes
// freed.
func (s *BlobStore) CollectChunks(ctx context.Context, before time.Time) (int64, error) {
	named := make(map[string]bool)
	if err := s.eachDescriptor(ctx, func(_ string, d partsDescriptor) { named[d.group] = true }); err != nil {
		return 0, err
	}
	res, err := s.chunks.Query(ctx, query.Query{KeysOnly: true})
	if err != nil {
		return 0, err
	}
	entries, err := res.Rest()
	if err != nil {
		return 0, err
	}
	var freed int64
	for _, e := range entries {
		group, _, ok := strings.Cut(strings.TrimPrefix(e.Key, "/"), "/")
		if !ok || named[group] {
			continue
		}
		ms, _, _ := strings.Cut(group, "-")
		started, err := strconv.ParseInt(ms, 10, 64)
		if err == nil && started >= before.UnixMilli() {
			continue // may still be written
		}
		k := datastore.NewKey(e.Key)
		if n, err := s.chunks.GetSize(ctx, k); err == nil {
			freed += int64(n)
		}
		if err := s.chunks.Delete(ctx, k); err != nil {
			return freed, err
		}
	}
	return freed, nil
}
