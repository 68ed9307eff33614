package store

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ErrDataDirTooNew means the data dir was written by a newer allforone with a format this
// binary does not know.
var ErrDataDirTooNew = errors.New("data dir format is newer than this allforone")

// dataDirMigration upgrades a data dir in place from format version from to from+1.
// Steps run with the data dir locked and after a backup; each must be safe to run again
// after a crash half-way (the version file moves on only when a step has finished).
type dataDirMigration struct {
	from int
	what string // for logs and errors
	run  func(dataDir string) error
}

// dataDirMigrations are the steps from version 0 up to DataDirVersion, in order.
var dataDirMigrations = []dataDirMigration{
	{
		from: 0,
		what: "write the format version (a data dir from before versions has the layout of version 1)",
		run:  func(string) error { return nil },
	},
}

// DataDirUpgrade says what UpgradeDataDir did; the zero value means nothing.
type DataDirUpgrade struct {
	From, To int
	Backup   string // the copy of the data dir as it was before
}

// ReadDataDirVersion returns the format version of the data dir: 0 when it has no version
// file.
func ReadDataDirVersion(dataDir string) (int, error) {
	path := filepath.Join(dataDir, VersionFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read data dir format version: %w", err)
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%s holds %q, not a format version: it should hold a number like %d; put the right number back, or restore the data dir from a backup in %s",
			path, strings.TrimSpace(string(b)), DataDirVersion, filepath.Join(dataDir, BackupDir))
	}
	return v, nil
}

// WriteDataDirVersion records the data dir's format version.
func WriteDataDirVersion(dataDir string, v int) error {
	return WriteFileAtomic(filepath.Join(dataDir, VersionFile), []byte(strconv.Itoa(v)+"\n"), 0o600)
}

// UpgradeDataDir brings an initialized data dir to DataDirVersion, or refuses one that is
// newer. A data dir without an identity is left alone: it is not initialized, and loading
// the identity says so.
func UpgradeDataDir(dataDir string) (DataDirUpgrade, error) {
	return migrateDataDir(dataDir, DataDirVersion, dataDirMigrations, time.Now())
}

// migrateDataDir runs steps to bring dataDir from its version to target: with the data
// dir locked, after copying it to a backup, writing the version after every step.
func migrateDataDir(dataDir string, target int, steps []dataDirMigration, now time.Time) (DataDirUpgrade, error) {
	v, err := ReadDataDirVersion(dataDir)
	if err != nil {
		return DataDirUpgrade{}, err
	}
	if v > target {
		return DataDirUpgrade{}, fmt.Errorf("%w: %s has format version %d, and this allforone reads versions up to %d: run the newer allforone that last used it, or restore the copy that the upgrade left in %s with an older allforone",
			ErrDataDirTooNew, dataDir, v, target, filepath.Join(dataDir, BackupDir))
	}
	if v == target {
		return DataDirUpgrade{}, nil
	}
	if _, err := os.Stat(filepath.Join(dataDir, IdentityFile)); errors.Is(err, os.ErrNotExist) {
		return DataDirUpgrade{}, nil
	}
	lock, err := LockDataDir(dataDir)
	if err != nil {
		return DataDirUpgrade{}, fmt.Errorf("upgrade data dir from format %d to %d: %w", v, target, err)
	}
	defer lock.Unlock()
	if v, err = ReadDataDirVersion(dataDir); err != nil || v == target { // another process may have upgraded it
		return DataDirUpgrade{}, err
	}
	up := DataDirUpgrade{From: v, To: target,
		Backup: filepath.Join(dataDir, BackupDir, fmt.Sprintf("version-%d-%s", v, now.UTC().Format("20060102T150405Z")))}
	if err := backupDataDir(dataDir, up.Backup); err != nil {
		return DataDirUpgrade{}, fmt.Errorf("back up data dir before upgrading it from format %d to %d: %w (free some disk space, or copy it away yourself and retry)", v, target, err)
	}
	for v < target {
		i := indexOfStep(steps, v)
		if i < 0 {
			return up, fmt.Errorf("upgrade data dir %s: no migration from format %d (this is a bug in allforone); the data dir as it was is in %s", dataDir, v, up.Backup)
		}
		if err := steps[i].run(dataDir); err != nil {
			return up, fmt.Errorf("upgrade data dir %s from format %d to %d (%s): %w; the data dir as it was before the upgrade is in %s", dataDir, v, v+1, steps[i].what, err, up.Backup)
		}
		v++
		if err := WriteDataDirVersion(dataDir, v); err != nil {
			return up, fmt.Errorf("upgrade data dir %s to format %d: %w; the data dir as it was is in %s", dataDir, v, err, up.Backup)
		}
	}
	return up, nil
}

func indexOfStep(steps []dataDirMigration, from int) int {
	for i, s := range steps {
		if s.from == from {
			return i
		}
	}
	return -1
}

// backupSkips are what a backup leaves out: older backups, the lock, and the compiled
// module cache (the node rebuilds it).
var backupSkips = map[string]bool{BackupDir: true, LockFile: true, "wazero-cache": true}

// backupDataDir copies dataDir to dst (which must not exist), keeping file modes. On
// failure it removes the partial copy.
func backupDataDir(dataDir, dst string) (err error) {
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	if err := os.Mkdir(dst, 0o700); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dst)
		}
	}()
	return filepath.WalkDir(dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dataDir, path)
		if err != nil || rel == "." {
			return err
		}
		if backupSkips[rel] {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		to := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.Mkdir(to, info.Mode().Perm()|0o700)
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(target, to)
		case d.Type().IsRegular():
			return copyFile(path, to, info.Mode().Perm())
		default:
			return nil // sockets, pipes: nothing to keep
		}
	})
}

func copyFile(from, to string, perm fs.FileMode) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
