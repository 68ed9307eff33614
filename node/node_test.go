package node

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"allforone/tasks"
	"allforone/tasks/wasmtest"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"go.uber.org/goleak"

	"allforone/tasks/runner"
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
func startTestNode(t *testing.T, cfg Config, key []byte) *Node {
	t.Helper()
	if _, err := InitWithSwarmKey(cfg, key); err != nil {
		t.Fatal(err)
	}
	if key != nil {
		cfg.SwarmKeyFile = SwarmKeyFile
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func TestConfigValidate(t *testing.T) {
	good := TestConfig("/tmp/x")
	if err := good.Validate(); err != nil {
		t.Fatalf("TestConfig is not valid: %v", err)
	}
	if d := DefaultConfig("/tmp/x"); d.Validate() != nil {
		t.Fatalf("DefaultConfig is not valid: %v", d.Validate())
	}
	cases := []struct {
		name string
		mod  func(c *Config)
		want string
	}{
		{"no data dir", func(c *Config) { c.DataDir = "" }, "data dir"},
		{"bad swarm", func(c *Config) { c.Swarm = "Bad Name" }, "swarm name"},
		{"bad listen", func(c *Config) { c.ListenAddrs = []string{"tcp/1"} }, "not a multiaddr"},
		{"no listen", func(c *Config) { c.ListenAddrs = nil }, "no listen"},
		{"bootstrap without ID", func(c *Config) { c.BootstrapPeers = []string{"/ip4/1.2.3.4/tcp/1"} }, "no peer ID"},
		{"bad dht mode", func(c *Config) { c.DHTMode = "fast" }, "dht mode"},
		{"bad api", func(c *Config) { c.APIAddr = "localhost" }, "host:port"},
		{"conn limits", func(c *Config) { c.ConnLow, c.ConnHigh = 10, 5 }, "connection limits"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := TestConfig("/tmp/x")
			tc.mod(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want an error about %q", err, tc.want)
			}
		})
	}
}

func TestConfigRoundTrip(t *testing.T) {
	dir := t.TempDir()
	c := TestConfig(dir)
	c.BootstrapPeers = []string{"/ip4/127.0.0.1/tcp/4501/p2p/12D3KooWFuSQZTJRHUVAX6CuAhwXNaeBQddBW7Rah8fr94Eoqcvk"}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	got, err := LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.BootstrapInterval != c.BootstrapInterval || got.Swarm != c.Swarm || got.BootstrapPeers[0] != c.BootstrapPeers[0] {
		t.Fatalf("config changed across save and load: %+v vs %+v", got, c)
	}
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

func TestSwarmKeyFormat(t *testing.T) {
	k, err := NewSwarmKey()
	if err != nil {
		t.Fatal(err)
	}
	psk, err := DecodeSwarmKey(k)
	if err != nil || len(psk) != 32 {
		t.Fatalf("decode a fresh key: %v (%d bytes)", err, len(psk))
	}
	for _, bad := range []string{"", "hello", "/key/swarm/psk/1.0.0/\n/base16/\nabcd\n"} {
		if _, err := DecodeSwarmKey([]byte(bad)); err == nil {
			t.Errorf("DecodeSwarmKey(%q) succeeded", bad)
		}
	}
}

// submitEcho submits a batch of n echo tasks (R=1, K=1) through node sub and returns its
// ID.
func submitEcho(t *testing.T, ctx context.Context, sub *Node, n int64) cid.Cid {
	t.Helper()
	res, err := sub.Submit(ctx, SubmitRequest{
		Name: "echo", Module: wasmtest.Echo(),
		Inputs:      []SubmitInput{{Range: &tasks.Range{Start: 0, End: n, Prefix: []byte("t")}}},
		MemoryPages: 16, TimeoutMS: 60_000, MaxOutputBytes: 1 << 10, Redundancy: 1, Replication: 1,
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
