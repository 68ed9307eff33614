package node

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

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
	n.op.gc.mu.Lock()
	n.op.gc.usage.BlobBytes = 2 << 20
	n.op.gc.mu.Unlock()
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
