package store

import (
	"fmt"
	"path/filepath"

	"github.com/gofrs/flock"
)

// LockDataDir takes the data dir's lock, or says which process to stop.
func LockDataDir(dir string) (*flock.Flock, error) {
	l := flock.New(filepath.Join(dir, LockFile))
	ok, err := l.TryLock()
	if err != nil {
		return nil, fmt.Errorf("lock data dir %s: %w", dir, err)
	}
	if !ok {
		return nil, fmt.Errorf("data dir %s is in use by another allforone daemon: stop it first, or use another --data", dir)
	}
	return l, nil
}
