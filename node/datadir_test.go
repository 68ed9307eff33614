package node

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"allforone/node/internal/store"
)

// fixtureV0PeerID is the peer ID of testdata/datadir-v0, a data dir written by `allforone
// init` before data dirs had a format version.
const fixtureV0PeerID = "12D3KooWSppEfHS7sND4Ua8n8QkSR9NSKJ9Pi1gMw8E9QwjE9u88"

// copyFixture copies testdata/<name> into a fresh temporary data dir.
func copyFixture(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("testdata", name))); err != nil {
		t.Fatal(err)
	}
	return dir
}

func readVersionFile(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, VersionFile))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestNewUpgradesAVersion0DataDirWithABackup(t *testing.T) {
	dir := copyFixture(t, "datadir-v0")
	// A data dir that has run has a datastore: the backup copies folders too.
	if err := os.MkdirAll(filepath.Join(dir, "datastore"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "datastore", "000001.log"), []byte("pebble"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "wazero-cache"), 0o700); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatalf("New on a version 0 data dir: %v", err)
	}
	if n.ID().String() != fixtureV0PeerID {
		t.Fatalf("peer ID after the upgrade = %s, want %s (the identity must survive)", n.ID(), fixtureV0PeerID)
	}
	if got := readVersionFile(t, dir); got != "1\n" {
		t.Fatalf("version file = %q, want %q", got, "1\n")
	}
	backups, err := filepath.Glob(filepath.Join(dir, BackupDir, "version-0-*"))
	if err != nil || len(backups) != 1 {
		t.Fatalf("backups = %v, %v; want one version-0-* folder", backups, err)
	}
	for _, f := range []string{IdentityFile, ConfigFile, TokenFile, filepath.Join("datastore", "000001.log")} {
		want, _ := os.ReadFile(filepath.Join(dir, f))
		got, err := os.ReadFile(filepath.Join(backups[0], f))
		if err != nil || string(got) != string(want) {
			t.Errorf("backup of %s = %q, %v; want the original %q", f, got, err, want)
		}
	}
	for _, f := range []string{VersionFile, "wazero-cache", BackupDir} {
		if _, err := os.Stat(filepath.Join(backups[0], f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("backup has %s (err %v); it should not", f, err)
		}
	}

	// A second start has nothing to do.
	if _, err := New(cfg); err != nil {
		t.Fatal(err)
	}
	if again, _ := filepath.Glob(filepath.Join(dir, BackupDir, "*")); len(again) != 1 {
		t.Fatalf("backups after a second New = %v, want still one", again)
	}
}

func TestNewRefusesANewerDataDir(t *testing.T) {
	dir := copyFixture(t, "datadir-v0")
	if err := store.WriteDataDirVersion(dir, DataDirVersion+1); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(cfg)
	if !errors.Is(err, ErrDataDirTooNew) {
		t.Fatalf("New = %v, want ErrDataDirTooNew", err)
	}
	for _, want := range []string{"format version 2", "up to 1", "newer allforone", BackupDir} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if got := readVersionFile(t, dir); got != "2\n" {
		t.Errorf("version file = %q: a refused data dir must be left alone", got)
	}
}

func TestInitWritesTheCurrentVersion(t *testing.T) {
	cfg := TestConfig(filepath.Join(t.TempDir(), "n"))
	if _, err := Init(cfg, ""); err != nil {
		t.Fatal(err)
	}
	if got := readVersionFile(t, cfg.DataDir); got != "1\n" {
		t.Fatalf("version file after init = %q, want %q", got, "1\n")
	}
	if _, err := New(cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, BackupDir)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a fresh data dir got a backup (err %v)", err)
	}
}

func TestUninitializedDataDirIsLeftAlone(t *testing.T) {
	dir := t.TempDir()
	if _, err := New(TestConfig(dir)); !errors.Is(err, ErrNotInitialized) {
		t.Fatalf("New on an empty dir = %v, want ErrNotInitialized", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("New wrote %v into an uninitialized dir", entries)
	}
}

func TestMalformedVersionFile(t *testing.T) {
	dir := copyFixture(t, "datadir-v0")
	if err := os.WriteFile(filepath.Join(dir, VersionFile), []byte("one\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := store.UpgradeDataDir(dir)
	if err == nil || !strings.Contains(err.Error(), `"one"`) || !strings.Contains(err.Error(), "a number like 1") {
		t.Fatalf("store.UpgradeDataDir = %v, want an error naming the content and the fix", err)
	}
}

func TestMigrationWaitsForTheDataDirLock(t *testing.T) {
	dir := copyFixture(t, "datadir-v0")
	l, err := store.LockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	_, err = store.UpgradeDataDir(dir)
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("upgrade of a locked data dir = %v, want it refused", err)
	}
	if v, _ := ReadDataDirVersion(dir); v != 0 {
		t.Fatalf("a locked data dir was upgraded to %d", v)
	}
}
