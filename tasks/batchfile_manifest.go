package tasks

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/ipfs/go-cid"
)

// BlobPutter stores blobs by content: a *BlobStore.
type BlobPutter interface {
	Put(ctx context.Context, data []byte) (cid.Cid, error)
}

// ManifestOptions are the parts of a manifest that do not come from the batch file.
type ManifestOptions struct {
	Swarm string    // the swarm the batch is for
	Now   time.Time // creation time
	Nonce []byte    // 8 to 32 random bytes
}

// Manifest builds the (unsigned) manifest of the batch: it reads the module and the input
// files, stores them in blobs, and validates the result. An input file of at most 1 KiB is
// carried inline while the inline bytes stay within 32 KiB; other files become blob inputs.
// The module must be a file of at most MaxBlobSize bytes.
func (s *BatchSpec) Manifest(ctx context.Context, blobs BlobPutter, opts ManifestOptions) (*Manifest, error) {
	module, err := readInputFile(s.ModulePath)
	if err != nil {
		return nil, fmt.Errorf("module: %w", err)
	}
	mc, err := blobs.Put(ctx, module)
	if err != nil {
		return nil, fmt.Errorf("module: %w", err)
	}
	m := &Manifest{
		Version:             ManifestVersion,
		Swarm:               opts.Swarm,
		Name:                s.Name,
		Module:              BlobRef{CID: mc, Size: uint64(len(module))},
		Args:                s.Args,
		Env:                 s.Env,
		Limits:              s.Limits,
		Redundancy:          s.Redundancy,
		Replication:         s.Replication,
		MaxReplicas:         s.MaxReplicas,
		AdaptiveReplication: s.AdaptiveReplication,
		CreatedAt:           opts.Now.Truncate(time.Millisecond),
		Deadline:            opts.Now.Add(s.Deadline).Truncate(time.Millisecond),
		Nonce:               opts.Nonce,
	}
	inlined := 0
	for _, in := range s.Inputs {
		switch {
		case in.Range != nil:
			m.Inputs = append(m.Inputs, RangeInput(*in.Range))
		case in.File == "":
			m.Inputs = append(m.Inputs, InlineInput(in.Inline))
			inlined += len(in.Inline)
		default:
			data, err := readInputFile(in.File)
			if err != nil {
				return nil, err
			}
			if len(data) <= MaxInlineInput && inlined+len(data) <= InlineBudget {
				m.Inputs = append(m.Inputs, InlineInput(data))
				inlined += len(data)
				continue
			}
			c, err := blobs.Put(ctx, data)
			if err != nil {
				return nil, fmt.Errorf("input %s: %w", in.File, err)
			}
			m.Inputs = append(m.Inputs, BlobInput(BlobRef{CID: c, Size: uint64(len(data))}))
		}
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	if _, err := m.Marshal(); err != nil { // size check
		return nil, fmt.Errorf("manifest: %w", err)
	}
	return m, nil
}

// readInputFile reads a file of at most MaxBlobSize bytes.
func readInputFile(path string) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if info.Size() > MaxBlobSize {
		return nil, fmt.Errorf("%s is %d bytes: over the %d byte limit for one input", path, info.Size(), MaxBlobSize)
	}
	return os.ReadFile(path)
}
