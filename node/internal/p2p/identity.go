package p2p

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"allforone/node/internal/store"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// ErrCorruptIdentity means the identity key file exists but cannot be read as a key.
var ErrCorruptIdentity = errors.New("identity key is corrupt")

// NewIdentity generates an Ed25519 key and writes it to <dataDir>/identity.key with mode
// 0600. It refuses to overwrite an existing key: the key is the node's peer ID.
func NewIdentity(dataDir string) (crypto.PrivKey, error) {
	sk, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate identity: %w", err)
	}
	b, err := crypto.MarshalPrivateKey(sk)
	if err != nil {
		return nil, fmt.Errorf("encode identity: %w", err)
	}
	path := filepath.Join(dataDir, store.IdentityFile)
	text := base64.StdEncoding.EncodeToString(b) + "\n"
	if err := store.WriteFileExclusive(path, []byte(text), 0o600); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("%s already exists: this data dir already has an identity (use another --data dir, or keep this one)", path)
		}
		return nil, fmt.Errorf("write identity: %w", err)
	}
	return sk, nil
}

// LoadIdentity reads the node's private key from <dataDir>/identity.key.
func LoadIdentity(dataDir string) (crypto.PrivKey, error) {
	path := filepath.Join(dataDir, store.IdentityFile)
	text, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s not found: run `allforone init --data %s` first: %w", path, dataDir, store.ErrNotInitialized)
	}
	if err != nil {
		return nil, fmt.Errorf("read identity: %w", err)
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(text)))
	if err != nil {
		return nil, corruptIdentity(path, err)
	}
	sk, err := crypto.UnmarshalPrivateKey(b)
	if err != nil {
		return nil, corruptIdentity(path, err)
	}
	if sk.Type() != crypto.Ed25519 {
		return nil, corruptIdentity(path, fmt.Errorf("key type %s, want Ed25519", sk.Type()))
	}
	return sk, nil
}

func corruptIdentity(path string, cause error) error {
	return fmt.Errorf("%w: %s (%v): restore it from a backup, or move it away and run `allforone init` for a new identity (the node gets a new peer ID)", ErrCorruptIdentity, path, cause)
}

// PeerIDOf returns the peer ID of the identity in dataDir.
func PeerIDOf(dataDir string) (peer.ID, error) {
	sk, err := LoadIdentity(dataDir)
	if err != nil {
		return "", err
	}
	return peer.IDFromPrivateKey(sk)
}
