package tasks

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"allforone/protocol/pb"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"
)

// ErrBadManifest marks manifests that cannot be decoded: oversized, not protobuf, not in
// canonical form, or with fields of the wrong shape. Check it with errors.Is.
var ErrBadManifest = errors.New("bad manifest")

// Marshal returns the canonical encoding of m (version 1: deterministic protobuf of
// pb.Manifest, env sorted by name). It fails when the result is over MaxManifestSize. It does
// not validate; Validate first.
func (m *Manifest) Marshal() ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m.toPB())
	if err != nil {
		return nil, fmt.Errorf("marshal manifest: %w", err)
	}
	if len(b) > MaxManifestSize {
		return nil, fmt.Errorf("marshal manifest: %d bytes is over the %d byte limit: use a range input, or blobs instead of inline values", len(b), MaxManifestSize)
	}
	return b, nil
}

// DecodeManifest decodes a manifest from its canonical encoding. It refuses input over
// MaxManifestSize before decoding, and input that is not exactly the canonical encoding of
// what it decodes to, so equal manifests always have equal bytes and batch IDs. It does not
// validate or verify; ParseManifest does all three.
func DecodeManifest(b []byte) (*Manifest, error) {
	if len(b) > MaxManifestSize {
		return nil, fmt.Errorf("%w: %d bytes is over the %d byte limit", ErrBadManifest, len(b), MaxManifestSize)
	}
	var p pb.Manifest
	if err := proto.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%w: not a protobuf manifest: %v", ErrBadManifest, err)
	}
	m, err := fromPB(&p)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadManifest, err)
	}
	again, err := m.Marshal()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadManifest, err)
	}
	if !bytes.Equal(again, b) {
		return nil, fmt.Errorf("%w: not in canonical encoding (unknown fields, field order, or unsorted env): re-encode it with Marshal", ErrBadManifest)
	}
	return m, nil
}

// ParseManifest decodes b, validates it, checks that it belongs to swarm and verifies its
// signature: everything a node checks before it accepts a batch from the network. It
// returns the manifest and its batch ID.
func ParseManifest(b []byte, swarm string) (*Manifest, cid.Cid, error) {
	m, err := DecodeManifest(b)
	if err != nil {
		return nil, cid.Undef, err
	}
	if err := m.Validate(); err != nil {
		return nil, cid.Undef, err
	}
	if m.Swarm != swarm {
		return nil, cid.Undef, fmt.Errorf("manifest: made for swarm %q, not %q", m.Swarm, swarm)
	}
	if err := m.Verify(); err != nil {
		return nil, cid.Undef, err
	}
	return m, ContentID(b), nil
}

func (m *Manifest) toPB() *pb.Manifest {
	p := &pb.Manifest{
		Version:             m.Version,
		Swarm:               m.Swarm,
		Name:                m.Name,
		Module:              m.Module.toPB(),
		Args:                m.Args,
		Redundancy:          m.Redundancy,
		Replication:         m.Replication,
		MaxReplicas:         m.MaxReplicas,
		AdaptiveReplication: m.AdaptiveReplication,
		MinRedundancy:       m.MinRedundancy,
		CreatedAtMs:         unixMilli(m.CreatedAt),
		DeadlineMs:          unixMilli(m.Deadline),
		Nonce:               m.Nonce,
		Submitter:           []byte(m.Submitter),
		Signature:           m.Signature,
	}
	if m.Limits != (Limits{}) {
		p.Limits = &pb.Limits{MemoryPages: m.Limits.MemoryPages, TimeoutMs: uint64(m.Limits.Timeout / time.Millisecond), MaxOutputBytes: m.Limits.MaxOutputBytes}
	}
	for _, in := range m.Inputs {
		p.Inputs = append(p.Inputs, in.toPB())
	}
	for _, k := range slices.Sorted(maps.Keys(m.Env)) {
		p.Env = append(p.Env, &pb.EnvVar{Name: k, Value: m.Env[k]})
	}
	return p
}

func unixMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func (b BlobRef) toPB() *pb.BlobRef {
	if !b.CID.Defined() && b.Size == 0 {
		return nil
	}
	var c []byte
	if b.CID.Defined() {
		c = b.CID.Bytes()
	}
	return &pb.BlobRef{Cid: c, Size: b.Size}
}

func (in Input) toPB() *pb.Input {
	switch in.Kind {
	case InputBlob:
		return &pb.Input{Kind: &pb.Input_Blob{Blob: in.Blob.toPB()}}
	case InputInline:
		return &pb.Input{Kind: &pb.Input_Inline{Inline: in.Inline}}
	case InputRange:
		r := in.Range
		return &pb.Input{Kind: &pb.Input_Range{Range: &pb.Range{Start: r.Start, End: r.End, Prefix: r.Prefix, Suffix: r.Suffix}}}
	}
	return &pb.Input{}
}

func fromPB(p *pb.Manifest) (*Manifest, error) {
	m := &Manifest{
		Version:             p.GetVersion(),
		Swarm:               p.GetSwarm(),
		Name:                p.GetName(),
		Args:                p.GetArgs(),
		Redundancy:          p.GetRedundancy(),
		Replication:         p.GetReplication(),
		MaxReplicas:         p.GetMaxReplicas(),
		AdaptiveReplication: p.GetAdaptiveReplication(),
		MinRedundancy:       p.GetMinRedundancy(),
		Nonce:               p.GetNonce(),
		Signature:           p.GetSignature(),
	}
	var err error
	if m.Module, err = blobFromPB(p.GetModule()); err != nil {
		return nil, fmt.Errorf("module: %w", err)
	}
	for i, pi := range p.GetInputs() {
		in, err := inputFromPB(pi)
		if err != nil {
			return nil, fmt.Errorf("input %d: %w", i, err)
		}
		m.Inputs = append(m.Inputs, in)
	}
	if env := p.GetEnv(); len(env) > 0 {
		m.Env = make(map[string]string, len(env))
		for _, e := range env {
			if _, dup := m.Env[e.GetName()]; dup {
				return nil, fmt.Errorf("env %q is set twice", e.GetName())
			}
			m.Env[e.GetName()] = e.GetValue()
		}
	}
	if l := p.GetLimits(); l != nil {
		const maxMs = uint64(MaxTimeout/time.Millisecond) * 2 // keeps the Duration from overflowing
		if l.GetTimeoutMs() > maxMs {
			return nil, fmt.Errorf("timeout %d ms is out of range", l.GetTimeoutMs())
		}
		m.Limits = Limits{MemoryPages: l.GetMemoryPages(), Timeout: time.Duration(l.GetTimeoutMs()) * time.Millisecond, MaxOutputBytes: l.GetMaxOutputBytes()}
	}
	if ms := p.GetCreatedAtMs(); ms != 0 {
		m.CreatedAt = time.UnixMilli(ms)
	}
	if ms := p.GetDeadlineMs(); ms != 0 {
		m.Deadline = time.UnixMilli(ms)
	}
	if s := p.GetSubmitter(); len(s) > 0 {
		id, err := peer.IDFromBytes(s)
		if err != nil {
			return nil, fmt.Errorf("submitter is not a peer ID: %w", err)
		}
		m.Submitter = id
	}
	return m, nil
}

func blobFromPB(p *pb.BlobRef) (BlobRef, error) {
	if p == nil {
		return BlobRef{}, nil
	}
	b := BlobRef{Size: p.GetSize()}
	if len(p.GetCid()) > 0 {
		c, err := cid.Cast(p.GetCid())
		if err != nil {
			return BlobRef{}, fmt.Errorf("not a CID: %w", err)
		}
		b.CID = c
	}
	return b, nil
}

func inputFromPB(p *pb.Input) (Input, error) {
	switch k := p.GetKind().(type) {
	case *pb.Input_Blob:
		b, err := blobFromPB(k.Blob)
		if err != nil {
			return Input{}, err
		}
		return BlobInput(b), nil
	case *pb.Input_Inline:
		v := k.Inline
		if v == nil {
			v = []byte{}
		}
		return InlineInput(v), nil
	case *pb.Input_Range:
		r := k.Range
		return RangeInput(Range{Start: r.GetStart(), End: r.GetEnd(), Prefix: r.GetPrefix(), Suffix: r.GetSuffix()}), nil
	}
	return Input{}, fmt.Errorf("sets none of blob, inline and range")
}
