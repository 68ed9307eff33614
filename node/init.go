package node

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"allforone/node/internal/p2p"
	"allforone/node/internal/store"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Init prepares cfg.DataDir: a new identity, the API token, the swarm key (copied from
// swarmKeyPath when it is not empty) and the config file. It refuses a data dir that
// already has an identity, and on failure removes only what it created.
func Init(cfg Config, swarmKeyPath string) (peer.ID, error) {
	var key []byte
	if swarmKeyPath != "" {
		b, err := os.ReadFile(swarmKeyPath)
		if err != nil {
			return "", fmt.Errorf("read swarm key: %w", err)
		}
		if _, err := DecodeSwarmKey(b); err != nil {
			return "", fmt.Errorf("swarm key %s: %w", swarmKeyPath, err)
		}
		key = b
	}
	return InitWithSwarmKey(cfg, key)
}

// InitWithSwarmKey is Init with the swarm key given as its contents (nil: a public swarm),
// for a new private swarm whose key was just made with NewSwarmKey. The key is stored as
// SwarmKeyFile in the data dir.
func InitWithSwarmKey(cfg Config, key []byte) (peer.ID, error) {
	if err := cfg.Validate(); err != nil {
		return "", err
	}
	if key != nil {
		if _, err := DecodeSwarmKey(key); err != nil {
			return "", err
		}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return "", fmt.Errorf("create data dir: %w", err)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, IdentityFile)); err == nil {
		return "", fmt.Errorf("%s is already initialized (it has an %s): use it as it is, or choose another --data dir", cfg.DataDir, IdentityFile)
	}
	var created []string
	undo := func() {
		for _, p := range created {
			os.Remove(p)
		}
	}
	sk, err := p2p.NewIdentity(cfg.DataDir)
	if err != nil {
		return "", err
	}
	created = append(created, filepath.Join(cfg.DataDir, IdentityFile))
	if err := ensureToken(cfg.DataDir); err != nil {
		undo()
		return "", err
	}
	if key != nil {
		p := filepath.Join(cfg.DataDir, SwarmKeyFile)
		if err := store.WriteFileAtomic(p, key, 0o600); err != nil {
			undo()
			return "", err
		}
		created = append(created, p)
		cfg.SwarmKeyFile = SwarmKeyFile
	}
	if err := store.WriteDataDirVersion(cfg.DataDir, DataDirVersion); err != nil {
		undo()
		return "", err
	}
	created = append(created, filepath.Join(cfg.DataDir, VersionFile))
	if err := cfg.Save(); err != nil {
		undo()
		return "", err
	}
	return peer.IDFromPrivateKey(sk)
}

// ensureToken creates the API token file if it does not exist yet.
func ensureToken(dataDir string) error {
	path := filepath.Join(dataDir, TokenFile)
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	err := store.WriteFileExclusive(path, []byte(hex.EncodeToString(b)+"\n"), 0o600)
	if err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("write api token: %w", err)
	}
	return nil
}
