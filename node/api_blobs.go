package node

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"allforone/node/internal/api"
	"allforone/node/internal/store"
	"allforone/tasks"
)

// Uploads: a client streams a module or an input to POST /api/v1/blobs (the raw bytes as
// the body), gets its content ID back, and names it in a submission. The body is hashed and
// stored in 1 MiB chunks as it arrives (tasks.BlobStore.PutReader), so an upload costs the
// daemon a few MiB whatever its size, where base64 JSON decoded and copied cost 5x.

// BlobInfo answers POST /api/v1/blobs.
type BlobInfo struct {
	CID  string `json:"cid"`
	Size int64  `json:"size"`
}

// store.UnrefKey keeps, per blob that no batch refers to, since when this node knows it so
// (unix ms): set at upload and by the first garbage collection that finds the blob
// unreferenced. gc_orphans.go collects such a blob after Config.BlobGrace.

func (n *Node) blobRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/v1/blobs", func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > tasks.MaxBlobSize {
			api.TooLarge(w, r, fmt.Sprintf("blob is %d bytes, over the %d byte limit", r.ContentLength, tasks.MaxBlobSize))
			return
		}
		info, err := n.PutBlob(r.Context(), http.MaxBytesReader(w, r.Body, tasks.MaxBlobSize))
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig) || errors.Is(err, tasks.ErrBlobTooLarge):
			api.TooLarge(w, r, fmt.Sprintf("blob is over the %d byte limit", tasks.MaxBlobSize))
		case errors.Is(err, errBlobRead):
			api.WriteJSON(w, http.StatusBadRequest, APIError{Error: err.Error()})
		case err != nil:
			api.WriteJSON(w, http.StatusInternalServerError, APIError{Error: err.Error()})
		default:
			api.WriteJSON(w, http.StatusOK, info)
		}
	})
}

// errBlobRead marks an upload that could not be read (the client went away, sent less
// than it declared).
var errBlobRead = errors.New("upload")

// PutBlob stores a blob read from r (at most tasks.MaxBlobSize bytes) as it arrives, in
// chunks, and returns its content ID. The blob belongs to no batch until a submission names
// it; garbage collection keeps it for Config.BlobGrace after its upload.
func (n *Node) PutBlob(ctx context.Context, r io.Reader) (BlobInfo, error) {
	ref, err := n.blobs.PutReader(ctx, r)
	if errors.Is(err, tasks.ErrBlobTooLarge) {
		return BlobInfo{}, err
	}
	if err != nil {
		return BlobInfo{}, fmt.Errorf("%w: %w", errBlobRead, err)
	}
	// The grace runs from the last upload of these bytes.
	stamp := binary.BigEndian.AppendUint64(nil, uint64(time.Now().UnixMilli()))
	if err := n.ds.Put(ctx, store.UnrefKey(ref.CID), stamp); err != nil {
		return BlobInfo{}, fmt.Errorf("put blob %s: %w", ref.CID, err)
	}
	n.logs.api.Debug("blob uploaded", "cid", ref.CID.String(), "bytes", ref.Size)
	return BlobInfo{CID: ref.CID.String(), Size: int64(ref.Size)}, nil
}

// PutBlob uploads a blob of size bytes read from r (size -1: not known) and returns its
// content ID.
func (c *Client) PutBlob(ctx context.Context, r io.Reader, size int64) (BlobInfo, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/api/v1/blobs", r)
	if err != nil {
		return BlobInfo{}, err
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/octet-stream")
	var v BlobInfo
	return v, c.send(req, &v)
}

// PutBlobFile uploads the file at path as a blob, streaming it from disk, and returns its
// content ID. A file over tasks.MaxBlobSize is refused before it is read, with its name.
func (c *Client) PutBlobFile(ctx context.Context, path string) (BlobInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return BlobInfo{}, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return BlobInfo{}, err
	}
	if !info.Mode().IsRegular() {
		return BlobInfo{}, fmt.Errorf("%s is not a regular file", path)
	}
	if info.Size() > tasks.MaxBlobSize {
		return BlobInfo{}, fmt.Errorf("%s is %d bytes: %w", path, info.Size(), tasks.ErrBlobTooLarge)
	}
	b, err := c.PutBlob(ctx, f, info.Size())
	if err != nil {
		return b, fmt.Errorf("upload %s: %w", path, err)
	}
	if b.Size != info.Size() {
		return b, fmt.Errorf("upload %s: the daemon stored %d bytes of %d (did the file change?)", path, b.Size, info.Size())
	}
	return b, nil
}
