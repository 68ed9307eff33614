package node

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"go.uber.org/goleak"

	"allforone/node/internal/store"
	"allforone/tasks"
	"allforone/tasks/runner"
	"allforone/tasks/wasmtest"
)

func TestMain(m *testing.M) {
	runner.MainIfRunner() // the nodes' task runners are this test binary, re-executed
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/ipfs/go-log/v2/writer.(*MirrorWriter).logRoutine"),
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
	)
}

// newTestNode initialises a data dir with TestConfig and returns a started node.
func newTestNode(t *testing.T) *Node {
	t.Helper()
	return startTestNode(t, TestConfig(filepath.Join(t.TempDir(), "n")), nil)
}

// startTestNode initialises cfg.DataDir (with a swarm key unless key is nil) and returns
// the node started; the test's cleanup closes it.
func startTestNode(t *testing.T, cfg Config, key []byte, opts ...Option) *Node {
	t.Helper()
	if _, err := InitWithSwarmKey(cfg, key); err != nil {
		t.Fatal(err)
	}
	if key != nil {
		cfg.SwarmKeyFile = SwarmKeyFile
	}
	n, err := New(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func TestIdentityPersistsAndCorruptionIsReported(t *testing.T) {
	cfg := TestConfig(filepath.Join(t.TempDir(), "n"))
	id, err := Init(cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	again, err := PeerIDOf(cfg.DataDir)
	if err != nil || again != id {
		t.Fatalf("PeerIDOf = %s, %v; want %s", again, err, id)
	}
	if fi, _ := os.Stat(filepath.Join(cfg.DataDir, IdentityFile)); fi.Mode().Perm() != 0o600 {
		t.Errorf("identity key mode %v, want 0600", fi.Mode().Perm())
	}
	if _, err := Init(cfg, ""); err == nil {
		t.Fatal("Init on an initialised data dir succeeded")
	}
	os.WriteFile(filepath.Join(cfg.DataDir, IdentityFile), []byte("AAAA\n"), 0o600)
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("New with a corrupt key: %v", err)
	}
}

func TestCloseIsIdempotentAndConcurrent(t *testing.T) {
	n := newTestNode(t)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = n.Close() }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != errs[0] {
			t.Fatalf("Close calls returned different errors: %v", errs)
		}
	}
	if err := n.Start(t.Context()); err == nil {
		t.Fatal("Start after Close succeeded")
	}
	if _, err := os.Stat(filepath.Join(n.cfg.DataDir, APIFile)); !os.IsNotExist(err) {
		t.Fatal("api file left after Close")
	}
}

func TestSecondDaemonOnSameDataDirFails(t *testing.T) {
	n := newTestNode(t)
	m, err := New(n.cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = m.Start(t.Context())
	if err == nil || !strings.Contains(err.Error(), "another allforone daemon") {
		t.Fatalf("second Start on the same data dir: %v", err)
	}
}

func TestAPIRequiresToken(t *testing.T) {
	n := newTestNode(t)
	c, err := NewClient(n.cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.ID(t.Context())
	if err != nil || info.PeerID != n.ID().String() {
		t.Fatalf("ID with token: %+v, %v", info, err)
	}
	for _, path := range []string{"/api/v1/id", "/api/v1/peers", "/api/v1/health", "/nope"} {
		resp, err := http.Get("http://" + n.APIAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without token: %d, want 401", path, resp.StatusCode)
		}
	}
	bad := NewClientAt(n.APIAddr(), "wrong")
	if _, err := bad.ID(t.Context()); err == nil || !strings.Contains(err.Error(), "token") {
		t.Errorf("wrong token: %v", err)
	}
}

// submitEcho submits a batch of n echo tasks (R=1, K=1) through node sub and returns its
// ID.
func submitEcho(t *testing.T, ctx context.Context, sub *Node, n int64) cid.Cid {
	t.Helper()
	return submitTasks(t, ctx, sub, "echo", wasmtest.Echo(), n, 1)
}

// submitTasks submits a batch of n tasks of module, each run once (R=1) and its result
// kept by k nodes, through node sub and returns its ID.
func submitTasks(t *testing.T, ctx context.Context, sub *Node, name string, module []byte, n int64, k uint32) cid.Cid {
	t.Helper()
	res, err := sub.Submit(ctx, SubmitRequest{
		Name: name, Module: module,
		Inputs:      []SubmitInput{{Range: &tasks.Range{Start: 0, End: n, Prefix: []byte("t")}}},
		MemoryPages: 16, TimeoutMS: 60_000, MaxOutputBytes: 1 << 10, Redundancy: 1, Replication: k,
	})
	if err != nil {
		t.Fatal(err)
	}
	id, err := cid.Decode(res.BatchID)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// A peer listed as a bootstrap peer and as a backup peer is dialled once, with every
// address either entry gave.
func TestMergeAddrInfos(t *testing.T) {
	p, q := peer.ID("p"), peer.ID("q")
	a1, a2 := ma.StringCast("/ip4/127.0.0.1/tcp/1"), ma.StringCast("/ip4/127.0.0.1/tcp/2")
	got := mergeAddrInfos([]peer.AddrInfo{{ID: p, Addrs: []ma.Multiaddr{a1}}, {ID: q}, {ID: p, Addrs: []ma.Multiaddr{a1, a2}}})
	if len(got) != 2 || got[0].ID != p || len(got[0].Addrs) != 2 || got[1].ID != q {
		t.Fatalf("got %v", got)
	}
}

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
