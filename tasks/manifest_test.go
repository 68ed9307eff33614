package tasks

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/crypto"
)

func testKey(t testing.TB) crypto.PrivKey {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testManifest is a valid, unsigned manifest with one input of each kind.
func testManifest() *Manifest {
	module := []byte("\x00asm\x01\x00\x00\x00")
	blob := []byte("a blob input")
	created := time.UnixMilli(1_750_000_000_000)
	return &Manifest{
		Version: ManifestVersion,
		Swarm:   "test",
		Name:    "unit test",
		Module:  BlobRef{CID: ContentID(module), Size: uint64(len(module))},
		Inputs: []Input{
			BlobInput(BlobRef{CID: ContentID(blob), Size: uint64(len(blob))}),
			InlineInput([]byte("inline input")),
			RangeInput(Range{Start: 10, End: 13, Prefix: []byte("n="), Suffix: []byte("\n")}),
			InlineInput([]byte{}),
		},
		Args:        []string{"-v"},
		Env:         map[string]string{"B": "2", "A": "1"},
		Limits:      Limits{MemoryPages: 256, Timeout: 30 * time.Second, MaxOutputBytes: 1 << 20},
		Redundancy:  3,
		Replication: 2,
		MaxReplicas: 5,
		CreatedAt:   created,
		Deadline:    created.Add(time.Hour),
		Nonce:       []byte("0123456789abcdef"),
	}
}

func signed(t testing.TB, m *Manifest) (*Manifest, []byte) {
	t.Helper()
	if err := m.Sign(testKey(t)); err != nil {
		t.Fatal(err)
	}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return m, b
}

func TestManifestRoundTrip(t *testing.T) {
	m, b := signed(t, testManifest())
	got, id, err := ParseManifest(b, "test")
	if err != nil {
		t.Fatalf("ParseManifest: %v", err)
	}
	want, _ := m.ID()
	if !id.Equals(want) || !id.Equals(ContentID(b)) {
		t.Errorf("batch ID %s, want %s", id, want)
	}
	again, err := got.Marshal()
	if err != nil || !bytes.Equal(again, b) {
		t.Fatalf("decoded manifest re-encodes differently (%v)", err)
	}
	if got.Submitter != m.Submitter || got.Limits != m.Limits || got.Env["A"] != "1" || !got.CreatedAt.Equal(m.CreatedAt) {
		t.Errorf("decoded %+v, want %+v", got, m)
	}
	if got.Inputs[3].Kind != InputInline || got.Inputs[3].Inline == nil {
		t.Errorf("empty inline input decoded as %+v", got.Inputs[3])
	}
}

func TestManifestTasks(t *testing.T) {
	m, _ := signed(t, testManifest())
	id, err := m.ID()
	if err != nil {
		t.Fatal(err)
	}
	if n := m.NumTasks(); n != 6 {
		t.Fatalf("NumTasks %d, want 6", n)
	}
	wantData := []string{"", "inline input", "n=10\n", "n=11\n", "n=12\n", ""}
	seen := map[string]bool{}
	i := 0
	for task := range m.Tasks(id) {
		if task.Index != i || !task.ID.Equals(TaskID(id, i)) {
			t.Errorf("task %d: index %d id %s", i, task.Index, task.ID)
		}
		in, err := m.Input(i)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if !task.Input.IsBlob() || !in.IsBlob() {
				t.Errorf("task 0 should be a blob input")
			}
		} else if string(task.Input.Data) != wantData[i] || string(in.Data) != wantData[i] {
			t.Errorf("task %d input %q / %q, want %q", i, task.Input.Data, in.Data, wantData[i])
		}
		seen[task.ID.String()] = true
		i++
	}
	if len(seen) != 6 {
		t.Errorf("task IDs are not distinct: %d of 6", len(seen))
	}
	if _, err := m.Input(6); err == nil {
		t.Error("Input(6) of 6 tasks should fail")
	}
	if TaskSeed(TaskID(id, 0)) == TaskSeed(TaskID(id, 1)) {
		t.Error("two tasks have the same seed")
	}
}

// A 400-tile Mandelbrot batch is one small manifest.
func TestManifestMandelbrotBatchIsSmall(t *testing.T) {
	m := testManifest()
	m.Inputs = []Input{RangeInput(Range{End: 400, Prefix: []byte("w=2560 h=2560 tile=128 iter=500 x=-0.5 y=0 scale=3 i=")})}
	_, b := signed(t, m)
	if len(b) > 512 {
		t.Errorf("400-tile manifest is %d bytes", len(b))
	}
	if m.NumTasks() != 400 {
		t.Errorf("NumTasks %d", m.NumTasks())
	}
	in, _ := m.Input(399)
	if !strings.HasSuffix(string(in.Data), "i=399") {
		t.Errorf("tile 399 input %q", in.Data)
	}
}

func TestManifestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(m *Manifest)
		want   string
	}{
		{"version", func(m *Manifest) { m.Version = 2 }, "version 2"},
		{"no swarm", func(m *Manifest) { m.Swarm = "" }, "swarm name is empty"},
		{"no module", func(m *Manifest) { m.Module = BlobRef{} }, "module"},
		{"module CIDv0-like", func(m *Manifest) { m.Module.CID = ContentID(nil); m.Module.Size = 0 }, "module is empty"},
		{"no inputs", func(m *Manifest) { m.Inputs = nil }, "no inputs"},
		{"big inline", func(m *Manifest) { m.Inputs[1] = InlineInput(make([]byte, 1025)) }, "input 1: inline value is 1025 bytes"},
		{"empty range", func(m *Manifest) { m.Inputs[2].Range.End = 10 }, "input 2: range [10, 10) is empty"},
		{"unset input", func(m *Manifest) { m.Inputs[0] = Input{} }, "input 0: unknown kind"},
		{"too many tasks", func(m *Manifest) { m.Inputs[2].Range.End = 10 + MaxTasks }, "more than"},
		{"empty arg", func(m *Manifest) { m.Args = []string{""} }, "arg 0"},
		{"env name", func(m *Manifest) { m.Env = map[string]string{"A=B": "x"} }, "env name"},
		{"R=0", func(m *Manifest) { m.Redundancy = 0 }, "redundancy R=0: must be at least 1"},
		{"K=0", func(m *Manifest) { m.Replication = 0 }, "replication K=0: must be at least 1"},
		{"max replicas", func(m *Manifest) { m.MaxReplicas = 2 }, "max replicas 2: must be at least R=3"},
		{"memory", func(m *Manifest) { m.Limits.MemoryPages = 0 }, "memory limit 0 pages"},
		{"timeout", func(m *Manifest) { m.Limits.Timeout = 0 }, "timeout 0s"},
		{"timeout fraction", func(m *Manifest) { m.Limits.Timeout = 1500 * time.Microsecond }, "whole number of milliseconds"},
		{"output", func(m *Manifest) { m.Limits.MaxOutputBytes = 0 }, "max output 0 bytes"},
		{"deadline", func(m *Manifest) { m.Deadline = m.CreatedAt }, "deadline"},
		{"no created-at", func(m *Manifest) { m.CreatedAt = time.Time{} }, "created-at is not set"},
		{"nonce", func(m *Manifest) { m.Nonce = nil }, "nonce is 0 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := testManifest()
			tc.mutate(m)
			err := m.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error saying %q", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "manifest: ") {
				t.Errorf("error %q does not start with \"manifest: \"", err)
			}
		})
	}
	if err := testManifest().Validate(); err != nil {
		t.Fatalf("valid manifest: %v", err)
	}
}

func TestManifestBadInput(t *testing.T) {
	_, good := signed(t, testManifest())

	unsignedBytes, err := testManifest().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	tampered, _ := signed(t, testManifest())
	tampered.Redundancy = 1 // after signing
	tamperedBytes, err := tampered.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	otherSigner, _ := signed(t, testManifest())
	forged, _ := signed(t, testManifest())
	forged.Signature = otherSigner.Signature
	forgedBytes, _ := forged.Marshal()

	for _, tc := range []struct {
		name  string
		b     []byte
		swarm string
		want  error
		says  string
	}{
		{"garbage", []byte("this is not a manifest"), "test", ErrBadManifest, "not a protobuf"},
		{"empty", nil, "test", nil, "version 0"},
		{"oversized", make([]byte, MaxManifestSize+1), "test", ErrBadManifest, "over the 65536 byte limit"},
		{"unknown field", append(bytes.Clone(good), 0xf8, 0x07, 0x01), "test", ErrBadManifest, "canonical"},
		{"truncated", good[:len(good)-5], "test", ErrBadManifest, ""},
		{"unsigned", unsignedBytes, "test", ErrUnsigned, "not signed"},
		{"tampered after signing", tamperedBytes, "test", ErrBadSignature, "altered"},
		{"signature of another key", forgedBytes, "test", ErrBadSignature, ""},
		{"other swarm", good, "prod", nil, `made for swarm "test", not "prod"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ParseManifest(tc.b, tc.swarm)
			if err == nil {
				t.Fatal("accepted")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Errorf("error %q does not say %q", err, tc.says)
			}
		})
	}
}

func TestResolveInput(t *testing.T) {
	store := NewBlobStore(dssync.MutexWrap(datastore.NewMapDatastore()))
	ctx := context.Background()
	c, err := store.Put(ctx, []byte("stored"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := ResolveInput(ctx, store, TaskInput{Blob: BlobRef{CID: c, Size: 6}})
	if err != nil || string(got) != "stored" {
		t.Fatalf("got %q, %v", got, err)
	}
	missing := ContentID([]byte("never stored"))
	if _, err := ResolveInput(ctx, store, TaskInput{Blob: BlobRef{CID: missing, Size: 12}}); !errors.Is(err, ErrBlobNotFound) {
		t.Errorf("missing blob: got %v, want ErrBlobNotFound", err)
	}
	if _, err := ResolveInput(ctx, store, TaskInput{Blob: BlobRef{CID: c, Size: 7}}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("wrong size: got %v, want ErrCorrupt", err)
	}
	if got, _ := ResolveInput(ctx, store, TaskInput{Data: []byte("inline")}); string(got) != "inline" {
		t.Errorf("inline: got %q", got)
	}
}
