package store

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
)

// copyFixture copies node/testdata/<name> into a fresh temporary data dir.
func copyFixture(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("..", "..", "testdata", name))); err != nil {
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
	if err := WriteDataDirVersion(dir, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := migrateDataDir(dir, 3, steps[:1], now.Add(2*time.Second)); err == nil || !strings.Contains(err.Error(), "no migration from format 0") {
		t.Fatalf("migrate without step 0 = %v", err)
	}
}

// Pebble's Logger.Fatalf goes to the fatal handler with what to do, and does not return.
func TestPebbleFatalGoesToTheHandler(t *testing.T) {
	type stop struct{ err error }
	h := NewHealth("/data", slog.New(slog.DiscardHandler), func(err error) { panic(stop{err}) })
	var got error
	func() {
		defer func() {
			if r, ok := recover().(stop); ok {
				got = r.err
			}
		}()
		pebbleLogger{h}.Fatalf("MANIFEST sync failed: %v", errors.New("input/output error"))
		t.Error("Fatalf returned")
	}()
	if got == nil || !strings.Contains(got.Error(), "MANIFEST sync failed: input/output error") ||
		!strings.Contains(got.Error(), "allforone repair --data /data") {
		t.Fatalf("the handler got %v", got)
	}
}

// Every key of a task reads back as its batch and task; other keys do not.
func TestParseTaskKey(t *testing.T) {
	id, err := cid.Decode("bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []datastore.Key{ResultKey(id, 7), StewardKey(id, 7), RanKey(id, 7)} {
		got, task, ok := ParseTaskKey(k.String())
		if !ok || !got.Equals(id) || task != 7 {
			t.Errorf("ParseTaskKey(%s) = %s, %d, %v", k, got, task, ok)
		}
	}
	for _, k := range []string{BatchKey(id).String(), NamesKey(id).String(), TrustKey("12D3KooW").String(), "/results/nocid/00000001"} {
		if _, _, ok := ParseTaskKey(k); ok {
			t.Errorf("ParseTaskKey(%s) is a task key", k)
		}
	}
}

// Running out of file descriptors is not damage: the error says to raise the limit and
// that the datastore is not damaged, and is no CorruptionError (which would send the user
// to `allforone repair --move-aside`). A malformed file still is one.
func TestTooManyOpenFilesIsNoCorruption(t *testing.T) {
	dir := t.TempDir()
	emfile := &os.PathError{Op: "open", Path: filepath.Join(dir, DatastoreDir, "000018.sst"), Err: syscall.EMFILE}
	err := classifyOpenError(dir, fmt.Errorf("backing file 000018 error: %w", emfile))
	var ce *CorruptionError
	if errors.As(err, &ce) || !strings.Contains(err.Error(), "ulimit") || !strings.Contains(err.Error(), "not damaged") {
		t.Fatalf("too many open files: %v", err)
	}
	if err := classifyOpenError(dir, errors.New("pebble: corrupt manifest")); !errors.As(err, &ce) {
		t.Fatalf("a corrupt manifest: %v", err)
	}
}
