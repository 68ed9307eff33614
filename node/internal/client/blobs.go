package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"

	"allforone/node/internal/apitypes"
	"allforone/tasks"
)

// PutBlob uploads a blob of size bytes read from r (size -1: not known) and returns its
// content ID.
func (c *Client) PutBlob(ctx context.Context, r io.Reader, size int64) (apitypes.BlobInfo, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/api/v1/blobs", r)
	if err != nil {
		return apitypes.BlobInfo{}, err
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/octet-stream")
	var v apitypes.BlobInfo
	return v, c.send(req, &v)
}

// PutBlobFile uploads the file at path as a blob, streaming it from disk, and returns its
// content ID. A file over tasks.MaxBlobSize is refused before it is read, with its name.
func (c *Client) PutBlobFile(ctx context.Context, path string) (apitypes.BlobInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return apitypes.BlobInfo{}, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return apitypes.BlobInfo{}, err
	}
	if !info.Mode().IsRegular() {
		return apitypes.BlobInfo{}, fmt.Errorf("%s is not a regular file", path)
	}
	if info.Size() > tasks.MaxBlobSize {
		return apitypes.BlobInfo{}, fmt.Errorf("%s is %d bytes: %w", path, info.Size(), tasks.ErrBlobTooLarge)
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

// Connect asks the daemon to dial a peer (multiaddr or peer ID).
func (c *Client) Connect(ctx context.Context, target string) (apitypes.PeerInfo, error) {
	var v apitypes.PeerInfo
	return v, c.Post(ctx, "/api/v1/peers/connect", apitypes.ConnectRequest{Target: target}, &v)
}
