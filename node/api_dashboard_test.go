package node

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"allforone/node/internal/api"
)

func get(t *testing.T, url, token string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestDashboardEndpointsNeedTheToken(t *testing.T) {
	n := newTestNode(t)
	tok, _ := api.ReadToken(n.cfg.DataDir)
	base := "http://" + n.APIAddr()
	for _, path := range []string{"/api/v1/dashboard", "/api/v1/why", "/api/v1/activity", "/api/v1/prefs", "/api/v1/disk", "/metrics", "/debug/pprof/heap?debug=1"} {
		if code, _, _ := get(t, base+path, ""); code != http.StatusUnauthorized {
			t.Errorf("GET %s without token: %d, want 401", path, code)
		}
		if code, body, _ := get(t, base+path, tok); code != http.StatusOK {
			t.Errorf("GET %s with token: %d %s", path, code, body)
		}
	}
	// The page and its assets carry no data: no token needed, and they may not be framed.
	for _, path := range []string{"/", "/ui/app.js", "/ui/app.css", "/ui/favicon.svg"} {
		code, body, h := get(t, base+path, "")
		if code != http.StatusOK || len(body) == 0 || !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Errorf("GET %s: %d, %d bytes, CSP %q", path, code, len(body), h.Get("Content-Security-Policy"))
		}
	}
	if _, body, _ := get(t, base+"/", ""); !strings.Contains(body, "Why am I idle?") {
		t.Error("the page has no why panel")
	}
	// POST to a static path still needs the token.
	resp, err := http.Post(base+"/", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST / without token: %d", resp.StatusCode)
	}
	// Public metrics, once the operator says so.
	p := n.Prefs()
	p.MetricsPublic = true
	if err := n.SetPrefs(p); err != nil {
		t.Fatal(err)
	}
	code, body, _ := get(t, base+"/metrics", "")
	if code != http.StatusOK {
		t.Fatalf("public /metrics: %d", code)
	}
	for _, m := range []string{"allforone_tasks_run_total", "allforone_tasks_failed_total", "allforone_leases_taken_total",
		"allforone_batches_stewarded", "allforone_results_held", "allforone_blob_bytes", "allforone_peers",
		"allforone_task_seconds_bucket", "libp2p_"} {
		if !strings.Contains(body, m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
	if code, _, _ := get(t, base+"/api/v1/why", ""); code != http.StatusUnauthorized {
		t.Errorf("public metrics opened /api/v1/why: %d", code)
	}
}

// A lone node is its own steward, worker and holder: it computes a K=1 batch, shows it on
// the dashboard, and garbage collection keeps its results.
func TestLoneNodeComputesAndCollects(t *testing.T) {
	n := newTestNode(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	id := submitEcho(t, ctx, n, 6)
	deadlineFor(t, ctx, "six results held", func() bool { return n.HeldResults(id) == 6 })
	a := n.Activity()
	ok := 0
	for _, p := range a.Throughput {
		ok += p.OK
	}
	if ok != 6 || len(a.Recent) != 6 || len(a.Running) != 0 || !a.Recent[0].OK {
		t.Fatalf("activity: %d ok in throughput, %d recent, %d running", ok, len(a.Recent), len(a.Running))
	}
	d := n.Dashboard(ctx)
	if len(d.Batches) != 1 || d.Batches[0].Status == nil || d.Batches[0].Status.Done != 6 {
		t.Fatalf("dashboard batches: %+v", d.Batches)
	}
	if d.Why.Computing || len(d.Why.Reasons) == 0 || d.Why.Reasons[0].Code != "no_peers" {
		t.Fatalf("why: %+v", d.Why)
	}
	// Collect at once: the module and inputs go, the results (this node is their only
	// holder) and their outputs stay.
	p := n.Prefs()
	p.Retention = 0
	if err := n.SetPrefs(p); err != nil {
		t.Fatal(err)
	}
	rep, err := n.CollectGarbage(ctx) // the housekeeping loop may have run first
	if err != nil {
		t.Fatal(err)
	}
	if rep.Collectable != 1 || rep.ResultsDropped != 0 {
		t.Fatalf("gc report %+v, want one collectable batch and no result dropped", rep)
	}
	if has, _ := n.blobs.Has(ctx, n.getBatch(id).m.Module.CID); has {
		t.Fatal("the module of a collected batch is still there")
	}
	for i := range 6 {
		out, err := n.ResultOutput(ctx, id, i)
		if err != nil || string(out) != "t"+string(rune('0'+i)) {
			t.Fatalf("result %d after gc: %q, %v", i, out, err)
		}
	}
	// Over the quota with nothing more to collect: the node pauses for it and says so.
	p.DiskQuotaMB = 0
	if err := n.SetPrefs(p); err != nil {
		t.Fatal(err)
	}
	if _, over := n.overQuota(); over {
		t.Fatal("over a quota of none")
	}
	p.DiskQuotaMB = 1
	t0 := time.Now()
	n.SetPrefs(p)
	// Let the collection that SetPrefs asked for finish (the next is a minute away), then
	// pretend the disk holds more than the quota.
	deadlineFor(t, ctx, "the kicked collection", func() bool { return n.Usage().Measured.After(t0) })
	u := n.op.gc.Usage()
	u.BlobBytes = 2 << 20
	n.op.gc.SetUsage(u)
	if r := n.pauseReason(); !strings.Contains(r, "disk quota") {
		t.Fatalf("pause reason over quota: %q", r)
	}
}

// deadlineFor polls cond every 20ms until it holds or ctx ends.
func deadlineFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-tick.C:
		}
	}
}

func connectNodes(t *testing.T, a, b *Node) {
	t.Helper()
	if err := a.host.Connect(t.Context(), peer.AddrInfo{ID: b.id, Addrs: b.host.Addrs()}); err != nil {
		t.Fatal(err)
	}
}

func TestTestingAPIPartitionAndHeal(t *testing.T) {
	a, b := newTestNode(t), newTestNode(t)
	connectNodes(t, a, b)
	c, err := NewClient(a.cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	got, err := c.Partition(ctx, []string{b.id.String()})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Blocked, []string{b.id.String()}) {
		t.Errorf("blocked %v, want [%s]", got.Blocked, b.id)
	}
	if a.host.Network().Connectedness(b.id) == network.Connected {
		t.Error("still connected after the partition")
	}
	// Neither side can reach the other: a's gater refuses b's dial and a's own.
	if err := b.host.Connect(ctx, peer.AddrInfo{ID: a.id, Addrs: a.host.Addrs()}); err == nil && len(a.host.Network().ConnsToPeer(b.id)) > 0 {
		t.Error("the other side connected through the partition")
	}
	if err := a.host.Connect(ctx, peer.AddrInfo{ID: b.id, Addrs: b.host.Addrs()}); err == nil {
		t.Error("the partitioned node dialled across the partition")
	}
	// A misbehaving peer's timed ban is not the partition's: heal leaves it.
	outsider := newTestNode(t)
	a.Block(outsider.id, time.Hour, "test")
	addrs, _ := peer.AddrInfoToP2pAddrs(&peer.AddrInfo{ID: b.id, Addrs: b.host.Addrs()})
	healed, err := c.Heal(ctx, []string{addrs[0].String()})
	if err != nil {
		t.Fatal(err)
	}
	if len(healed.Blocked) != 0 || !slices.Equal(healed.Connected, []string{b.id.String()}) {
		t.Errorf("after heal: %+v, want nothing blocked and %s dialled back", healed, b.id)
	}
	if a.host.Network().Connectedness(b.id) != network.Connected {
		t.Error("not connected after heal")
	}
	if !a.gater.IsBlocked(outsider.id) {
		t.Error("heal lifted a timed ban")
	}
	// A partition does not shorten a ban either.
	c.Partition(ctx, []string{outsider.id.String()})
	c.Heal(ctx, nil)
	if !a.gater.IsBlocked(outsider.id) {
		t.Error("partition and heal lifted a timed ban")
	}
}

func TestTestingAPISlowHeldAndTasks(t *testing.T) {
	n := newTestNode(t)
	c, err := NewClient(n.cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := c.SetSlow(ctx, 250*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if d := n.taskDelay(); d != 250*time.Millisecond {
		t.Errorf("task delay %s after slow 250ms", d)
	}
	if err := c.Post(ctx, "/api/v1/testing/slow", SlowRequest{DelayMS: -1}, nil); err == nil {
		t.Error("a negative delay was taken")
	}
	const batch = "bafkreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"
	held, err := c.Held(ctx, batch)
	if err != nil || len(held) != 0 {
		t.Errorf("held of an unknown batch: %v, %v", held, err)
	}
	if _, err := c.StewardTasks(ctx, batch); err == nil || !strings.Contains(err.Error(), "no steward state") {
		t.Errorf("steward tasks of an unknown batch: %v", err)
	}
	if err := c.Get(ctx, "/api/v1/testing/held/not-a-cid", nil); err == nil {
		t.Error("a bad batch ID was taken")
	}
}

func TestTestingAPIOnlyInTestnets(t *testing.T) {
	cfg := TestConfig(filepath.Join(t.TempDir(), "n"))
	cfg.TestingAPI = false
	if _, err := Init(cfg, ""); err != nil {
		t.Fatal(err)
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	tok, _ := api.ReadToken(cfg.DataDir)
	for _, path := range []string{"/api/v1/testing/blocked", "/api/v1/testing/held/x"} {
		if code, _, _ := get(t, "http://"+n.APIAddr()+path, tok); code != http.StatusNotFound {
			t.Errorf("GET %s on a volunteer's node: %d, want 404", path, code)
		}
	}
}

// selfSigned writes a self-signed certificate and key into dir.
func selfSigned(t *testing.T, dir string) (cert, key string) {
	t.Helper()
	sk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "allforone"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &sk.PublicKey, sk)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(sk)
	cert, key = filepath.Join(dir, "api.crt"), filepath.Join(dir, "api.key")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return cert, key
}

func TestAPIBeyondLoopbackNeedsTLSOrConsent(t *testing.T) {
	c := TestConfig(t.TempDir())
	c.APIAddr = "0.0.0.0:0"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "--api-tls-cert") {
		t.Fatalf("an API on 0.0.0.0 without TLS: %v", err)
	}
	c.APIInsecure = true
	if err := c.Validate(); err != nil {
		t.Fatalf("with --api-insecure: %v", err)
	}
	c.APIInsecure, c.APITLSCert = false, "x.crt"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "both") {
		t.Fatalf("a certificate without a key: %v", err)
	}
}

func TestAPIOverTLS(t *testing.T) {
	cfg := TestConfig(filepath.Join(t.TempDir(), "n"))
	if _, err := Init(cfg, ""); err != nil {
		t.Fatal(err)
	}
	cfg.APIAddr = "0.0.0.0:0"
	cfg.APITLSCert, cfg.APITLSKey = selfSigned(t, cfg.DataDir)
	if err := cfg.Save(); err != nil {
		t.Fatal(err)
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	entry, _ := os.ReadFile(filepath.Join(cfg.DataDir, APIFile))
	if !strings.HasPrefix(string(entry), "https://127.0.0.1:") {
		t.Fatalf("api file %q: want a dialable https address", entry)
	}
	c, err := NewClient(cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	if info, err := c.ID(t.Context()); err != nil || info.PeerID != n.ID().String() {
		t.Fatalf("ID over TLS: %+v %v", info, err)
	}
	// Plain HTTP to the TLS port gets no data.
	plain := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := plain.Get("http://" + strings.TrimPrefix(strings.TrimSpace(string(entry)), "https://") + "/api/v1/id")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP answered on the TLS port")
		}
	}
}
