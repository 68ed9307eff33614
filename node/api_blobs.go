package node

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"allforone/node/internal/api"
	"allforone/node/internal/store"
	"allforone/tasks"
)

// Uploads: a client streams a module or an input to POST /api/v1/blobs (the raw bytes as
// the body), gets its content ID back, and names it in a submission. The body is hashed and
// stored in 1 MiB chunks as it arrives (tasks.BlobStore.PutReader), so an upload costs the
// daemon a few MiB whatever its size, where base64 JSON decoded and copied cost 5x.

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
