package tasks

import (
	"errors"
	"fmt"

	"allforone/protocol"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// manifestSigDomain prefixes the signed bytes so that a manifest signature can never be
// mistaken for a signature over anything else the same key signs.
const manifestSigDomain = protocol.ManifestDomain

// Signature errors. Check them with errors.Is.
var (
	// ErrUnsigned means the manifest has no submitter or no signature.
	ErrUnsigned = errors.New("manifest is not signed")
	// ErrBadSignature means the signature does not match the manifest and its submitter.
	ErrBadSignature = errors.New("manifest signature is invalid")
)

// signingBytes is what the signature covers: the domain string and the canonical encoding
// with the signature field empty (the submitter field is covered).
func (m *Manifest) signingBytes() ([]byte, error) {
	unsigned := *m
	unsigned.Signature = nil
	b, err := unsigned.Marshal()
	if err != nil {
		return nil, err
	}
	return append([]byte(manifestSigDomain), b...), nil
}

// Sign sets the submitter to key's peer ID and signs the manifest. key must be Ed25519
// (the key type of allforone identities).
func (m *Manifest) Sign(key crypto.PrivKey) error {
	if key.Type() != crypto.Ed25519 {
		return fmt.Errorf("sign manifest: key type %s: use an Ed25519 key", key.Type())
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return fmt.Errorf("sign manifest: %w", err)
	}
	m.Submitter = id
	m.Signature = nil
	msg, err := m.signingBytes()
	if err != nil {
		return fmt.Errorf("sign manifest: %w", err)
	}
	sig, err := key.Sign(msg)
	if err != nil {
		return fmt.Errorf("sign manifest: %w", err)
	}
	m.Signature = sig
	return nil
}

// Verify checks the signature against the public key embedded in the submitter's peer ID.
// It returns an error wrapping ErrUnsigned or ErrBadSignature.
func (m *Manifest) Verify() error {
	if m.Submitter == "" || len(m.Signature) == 0 {
		return fmt.Errorf("manifest: %w: sign it with the submitter's key", ErrUnsigned)
	}
	pub, err := m.Submitter.ExtractPublicKey()
	if err != nil {
		return fmt.Errorf("manifest: submitter %s: %w: its peer ID does not embed an Ed25519 key (%v)", m.Submitter, ErrBadSignature, err)
	}
	if pub.Type() != crypto.Ed25519 {
		return fmt.Errorf("manifest: submitter %s: %w: key type %s, want Ed25519", m.Submitter, ErrBadSignature, pub.Type())
	}
	msg, err := m.signingBytes()
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	ok, err := pub.Verify(msg, m.Signature)
	if err != nil || !ok {
		return fmt.Errorf("manifest: %w: it does not match the manifest signed by %s (altered after signing?)", ErrBadSignature, m.Submitter)
	}
	return nil
}

// ID returns the batch ID: the content ID of the signed canonical encoding. The manifest
// must be signed.
func (m *Manifest) ID() (cid.Cid, error) {
	if len(m.Signature) == 0 {
		return cid.Undef, fmt.Errorf("batch ID: %w: sign the manifest first", ErrUnsigned)
	}
	b, err := m.Marshal()
	if err != nil {
		return cid.Undef, fmt.Errorf("batch ID: %w", err)
	}
	return ContentID(b), nil
}
