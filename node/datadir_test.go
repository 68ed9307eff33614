package node

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
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
	if err := writeDataDirVersion(dir, DataDirVersion+1); err != nil {
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
	_, err := upgradeDataDir(dir)
	if err == nil || !strings.Contains(err.Error(), `"one"`) || !strings.Contains(err.Error(), "a number like 1") {
		t.Fatalf("upgradeDataDir = %v, want an error naming the content and the fix", err)
	}
}

func TestMigrationStepsRunInOrderAndStopAtAFailure(t *testing.T) {
	dir := copyFixture(t, "datadir-v0")
	var ran []int
	step := func(from int, fail bool) dataDirMigration {
		return dataDirMigration{from: from, what: "step", run: func(d string) error {
			if d != dir {
				t.Errorf("step got dir %s, want %s", d, dir)
			}
			// Each step sees the version its predecessor left.
			if v, _ := ReadDataDirVersion(d); v != from {
				t.Errorf("step from %d sees version %d", from, v)
			}
			ran = append(ran, from)
			if fail {
				return errors.New("disk on fire")
			}
			return nil
		}}
	}
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	steps := []dataDirMigration{step(2, true), step(0, false), step(1, false)} // looked up by from, not position
	up, err := migrateDataDir(dir, 3, steps, now)
	if err == nil || !strings.Contains(err.Error(), "disk on fire") || !strings.Contains(err.Error(), up.Backup) {
		t.Fatalf("migrate = %v, want the step's error and the backup's path", err)
	}
	if !slices.Equal(ran, []int{0, 1, 2}) {
		t.Fatalf("steps ran %v, want [0 1 2]", ran)
	}
	if got := readVersionFile(t, dir); got != "2\n" {
		t.Fatalf("version after a failed step 2->3 = %q, want %q (the last finished step)", got, "2\n")
	}
	if want := filepath.Join(dir, BackupDir, "version-0-20260304T050607Z"); up.Backup != want {
		t.Fatalf("backup = %s, want %s", up.Backup, want)
	}

	// Retrying resumes at the failed step, with a backup of the version-2 dir.
	ran = nil
	steps[0] = step(2, false)
	up, err = migrateDataDir(dir, 3, steps, now.Add(time.Second))
	if err != nil || !slices.Equal(ran, []int{2}) || up.From != 2 || up.To != 3 {
		t.Fatalf("retry: %+v, %v, ran %v; want 2 -> 3 running step 2 only", up, err, ran)
	}
	if got := readVersionFile(t, dir); got != "3\n" {
		t.Fatalf("version after the retry = %q", got)
	}

	// A missing step is a bug, reported as such.
	if err := writeDataDirVersion(dir, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := migrateDataDir(dir, 3, steps[:1], now.Add(2*time.Second)); err == nil || !strings.Contains(err.Error(), "no migration from format 0") {
		t.Fatalf("migrate without step 0 = %v", err)
	}
}

func TestMigrationWaitsForTheDataDirLock(t *testing.T) {
	dir := copyFixture(t, "datadir-v0")
	l, err := lockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	_, err = upgradeDataDir(dir)
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("upgrade of a locked data dir = %v, want it refused", err)
	}
	if v, _ := ReadDataDirVersion(dir); v != 0 {
		t.Fatalf("a locked data dir was upgraded to %d", v)
	}
}
