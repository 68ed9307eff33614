package p2p

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"

	"github.com/libp2p/go-libp2p/core/pnet"
)

// NewSwarmKey returns a fresh pre-shared key in the IPFS swarm.key format:
// "/key/swarm/psk/1.0.0/", "/base16/" and 64 hex characters, one per line.
func NewSwarmKey() ([]byte, error) {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	return []byte("/key/swarm/psk/1.0.0/\n/base16/\n" + hex.EncodeToString(k) + "\n"), nil
}

// DecodeSwarmKey parses a swarm key in the IPFS swarm.key format.
func DecodeSwarmKey(b []byte) (pnet.PSK, error) {
	psk, err := pnet.DecodeV1PSK(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("not a swarm key in the IPFS swarm.key format (%v): make one with `allforone swarm-key`", err)
	}
	if len(psk) != 32 {
		return nil, fmt.Errorf("swarm key has %d bytes, want 32: make one with `allforone swarm-key`", len(psk))
	}
	return psk, nil
}

// LoadSwarmKey reads the swarm key at path ("" means none).
func LoadSwarmKey(path string) (pnet.PSK, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read swarm key: %w", err)
	}
	psk, err := DecodeSwarmKey(b)
	if err != nil {
		return nil, fmt.Errorf("swarm key %s: %w", path, err)
	}
	return psk, nil
}
