package node

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"allforone/node/internal/store"
	"allforone/tasks"

	"github.com/ipfs/go-datastore"
)

// syncBuffer is a bytes.Buffer that a logger writes while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startLogged starts a node on an initialised cfg.DataDir with its log in buf.
func startLogged(t *testing.T, cfg Config, buf *syncBuffer) (*Node, error) {
	t.Helper()
	n, err := New(cfg, WithLogger(slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(t.Context()); err != nil {
		return nil, err
	}
	t.Cleanup(func() { n.Close() })
	return n, nil
}

// storeFiles lists the datastore's files of one kind (".sst", ".log"), oldest first.
func storeFiles(t *testing.T, dataDir, ext string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dataDir, DatastoreDir, "*"+ext))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(m)
	return m
}

// garble overwrites path from offset on with seeded random bytes (to its old size).
func garble(t *testing.T, path string, offset int64, seed uint64) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	junk := make([]byte, fi.Size()-offset)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range junk {
		junk[i] = byte(r.Uint32())
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(junk, offset); err != nil {
		t.Fatal(err)
	}
}

// A datastore whose sst files hold garbage (written, synced and closed cleanly before) is
// refused at start with the file and what to do; repair's check names it too, and after
// MoveDatastoreAside the node starts on an empty datastore that says what it lost.
func TestGarbageSSTIsRefusedAndMovedAside(t *testing.T) {
	cfg := TestConfig(filepath.Join(t.TempDir(), "n"))
	n := startTestNode(t, cfg, nil)
	n.draining.Store(true) // keep the batches running: nothing computes
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	for i := range 3 {
		submitEcho(t, ctx, n, int64(2+i))
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	ssts := storeFiles(t, cfg.DataDir, ".sst")
	if len(ssts) == 0 {
		t.Fatal("no sst after a clean close")
	}
	for i, f := range ssts {
		garble(t, f, 0, uint64(i+1))
	}

	var logs syncBuffer
	_, err := startLogged(t, cfg, &logs)
	var c *CorruptionError
	if !errors.Is(err, ErrDatastoreCorrupt) || !errors.As(err, &c) {
		t.Fatalf("start on garbage ssts: %v, want a CorruptionError", err)
	}
	if !slices.Contains(ssts, filepath.Join(cfg.DataDir, DatastoreDir, c.File)) {
		t.Errorf("the error names %q, not one of the ssts %v", c.File, ssts)
	}
	for _, want := range []string{"datastore is corrupt", c.File, "allforone repair --data " + cfg.DataDir, "--move-aside"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}

	rep, err := CheckDatastore(ctx, cfg.DataDir, true)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || len(rep.Corrupt) == 0 || rep.Corrupt[0].File == "" {
		t.Fatalf("check of a garbage sst: %+v", rep)
	}
	backup, err := MoveDatastoreAside(cfg.DataDir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(backup, filepath.Base(ssts[0]))); err != nil {
		t.Errorf("the corrupt sst is not in the backup: %v", err)
	}
	n2, err := startLogged(t, cfg, &logs)
	if err != nil {
		t.Fatalf("start after moving the datastore aside: %v", err)
	}
	loss := n2.DataLost()
	if loss == nil || loss.Reason != "reset" || loss.Backup != backup || loss.Before.Batches != 3 || loss.After.Batches != 0 {
		t.Fatalf("DataLost after the reset: %+v", loss)
	}
	if !strings.Contains(logs.String(), "datastore lost data") || !strings.Contains(logs.String(), "batches 3 -> 0") {
		t.Errorf("the log does not say what the reset lost:\n%s", logs.String())
	}
	if h := n2.Health(); h.DataLoss == nil {
		t.Error("Health does not report the loss")
	}
	if codes := whyCodes(n2.Why()); !slices.Contains(codes, "data_lost") {
		t.Errorf("why: %v, want data_lost", codes)
	}
}

func whyCodes(r WhyReport) []string {
	var out []string
	for _, x := range r.Reasons {
		out = append(out, x.Code)
	}
	return out
}

// A corrupt block that start does not read (inside a blob) is found when it is read: the
// node fails (Failed, Err), marks the datastore, and the next start refuses it.
func TestCorruptBlockFoundWhileRunning(t *testing.T) {
	cfg := TestConfig(filepath.Join(t.TempDir(), "n"))
	n := startTestNode(t, cfg, nil)
	blob := make([]byte, 8<<10)      // small: pebble looks for a bit flip in a corrupt block, O(size²)
	r := rand.New(rand.NewPCG(7, 7)) // incompressible: the sst holds these bytes as they are
	for i := range blob {
		blob[i] = byte(r.Uint32())
	}
	ctx := t.Context()
	id, err := n.blobs.Put(ctx, blob)
	if err != nil {
		t.Fatal(err)
	}
	n.Close()
	// Flip bytes in the middle of the blob where it lies in an sst.
	hit := false
	for _, f := range storeFiles(t, cfg.DataDir, ".sst") {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if i := bytes.Index(b, blob[4<<10:4<<10+64]); i >= 0 {
			// Only 64 bytes: the footer and index stay intact, start reads no further.
			copy(b[i:], bytes.Repeat([]byte{0xAB}, 64))
			if err := os.WriteFile(f, b, 0o600); err != nil {
				t.Fatal(err)
			}
			hit = true
		}
	}
	if !hit {
		t.Fatal("the blob's bytes are in no sst")
	}

	var logs syncBuffer
	n2, err := startLogged(t, cfg, &logs)
	if err != nil {
		t.Fatalf("start with a corrupt block inside a blob: %v (start reads no blob)", err)
	}
	if _, err := n2.blobs.Get(ctx, id); err == nil {
		t.Fatal("reading the damaged blob succeeded")
	}
	select {
	case <-n2.Failed():
	case <-time.After(30 * time.Second):
		t.Fatal("the node did not fail after reading a corrupt block")
	}
	if !errors.Is(n2.Err(), ErrDatastoreCorrupt) || !strings.Contains(n2.Err().Error(), ".sst") {
		t.Fatalf("Err: %v", n2.Err())
	}
	deadlineFor(t, ctx, "the corruption mark", func() bool { return store.ReadCorruptMark(cfg.DataDir) != nil })
	n2.Close()
	if !strings.Contains(logs.String(), "datastore is corrupt: the node stops") {
		t.Errorf("the log does not say the node stops:\n%s", logs.String())
	}
	if _, err := startLogged(t, cfg, &logs); !errors.Is(err, ErrDatastoreCorrupt) || !strings.Contains(err.Error(), "found by the running node") {
		t.Fatalf("start after the node found corruption: %v", err)
	}
	rep, err := CheckDatastore(ctx, cfg.DataDir, true)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || rep.Cleared || len(rep.Corrupt) == 0 {
		t.Fatalf("full check: %+v", rep)
	}
}

// Damage that stops pebble from opening the datastore is a CorruptionError naming the file.
func TestOpenErrorsNameTheFile(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, dir string) string // returns the damaged file's name
	}{
		{"truncated sst", func(t *testing.T, dir string) string {
			f := storeFiles(t, dir, ".sst")[0]
			if err := os.Truncate(f, 100); err != nil {
				t.Fatal(err)
			}
			return filepath.Base(f)
		}},
		{"missing sst", func(t *testing.T, dir string) string {
			f := storeFiles(t, dir, ".sst")[0]
			if err := os.Remove(f); err != nil {
				t.Fatal(err)
			}
			return filepath.Base(f)
		}},
		{"garbage MANIFEST", func(t *testing.T, dir string) string {
			m, _ := filepath.Glob(filepath.Join(dir, DatastoreDir, "MANIFEST-*"))
			slices.Sort(m)
			garble(t, m[len(m)-1], 0, 5)
			return filepath.Base(m[len(m)-1])
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := TestConfig(filepath.Join(t.TempDir(), "n"))
			n := startTestNode(t, cfg, nil)
			n.draining.Store(true)
			submitEcho(t, t.Context(), n, 3)
			if err := n.Close(); err != nil {
				t.Fatal(err)
			}
			file := tc.damage(t, cfg.DataDir)
			var buf syncBuffer
			_, err := startLogged(t, cfg, &buf)
			var c *CorruptionError
			if !errors.As(err, &c) || c.File != file || !strings.Contains(err.Error(), "allforone repair") {
				t.Fatalf("start with a %s: %v (file %q), want a CorruptionError naming %s", tc.name, err, fileOf(c), file)
			}
		})
	}
}

func fileOf(c *CorruptionError) string {
	if c == nil {
		return ""
	}
	return c.File
}

// A blob whose bytes no longer hash to its ID (pebble's checksums are fine: tampering, or a
// bug) is found by the full check, and DeleteBlobs removes it; the quick check does not read
// blobs.
func TestFullCheckFindsBadBlobs(t *testing.T) {
	cfg := TestConfig(filepath.Join(t.TempDir(), "n"))
	n := startTestNode(t, cfg, nil)
	ctx := t.Context()
	good, err := n.blobs.Put(ctx, []byte("good bytes"))
	if err != nil {
		t.Fatal(err)
	}
	bad := tasks.ContentID([]byte("the original"))
	if err := n.ds.Put(ctx, datastore.NewKey("/blobs/"+bad.String()), []byte("something else")); err != nil {
		t.Fatal(err)
	}
	n.Close()
	if rep, err := CheckDatastore(ctx, cfg.DataDir, false); err != nil || !rep.OK {
		t.Fatalf("quick check: %+v %v", rep, err)
	}
	rep, err := CheckDatastore(ctx, cfg.DataDir, true)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || len(rep.Corrupt) != 0 || !slices.Equal(rep.BadBlobs, []string{bad.String()}) || rep.Keys == 0 {
		t.Fatalf("full check: %+v", rep)
	}
	if err := DeleteBlobs(ctx, cfg.DataDir, rep.BadBlobs); err != nil {
		t.Fatal(err)
	}
	if rep, err := CheckDatastore(ctx, cfg.DataDir, true); err != nil || !rep.OK {
		t.Fatalf("full check after DeleteBlobs: %+v %v", rep, err)
	}
	var buf syncBuffer
	n2, err := startLogged(t, cfg, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := n2.blobs.Has(ctx, good); !ok {
		t.Error("DeleteBlobs removed a good blob")
	}
}
