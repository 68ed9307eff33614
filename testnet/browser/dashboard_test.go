package browser

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"allforone/node"
	"allforone/tasks"
	"allforone/tasks/wasmtest"
	"allforone/testnet"

	"github.com/chromedp/chromedp"
)

// chromium finds the browser, or skips the test saying how to get it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium on PATH: the dashboard's browser test needs it (Debian: apt-get install chromium; .ci/run installs it)")
	return ""
}

// TestDashboardInBrowser starts three nodes, submits a batch of slow tasks, opens node 0's
// dashboard with the token in the URL fragment, and checks that the peers and the batch's
// progress appear. It keeps a screenshot in the test's temp dir and, when
// ALLFORONE_ARTIFACTS names a folder, there too.
func TestDashboardInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: skipped with -short")
	}
	bin := chromium(t)
	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancel()
	c, err := testnet.StartCluster(ctx, testnet.ClusterConfig{N: 3, Dir: t.TempDir(),
		Options: func(int) []node.Option {
			return []node.Option{node.WithTestHooks(node.TestHooks{TaskDelay: 150 * time.Millisecond})}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.WaitAllKnown(ctx); err != nil {
		t.Fatal(err)
	}
	n := c.Node(0)
	res, err := n.Submit(ctx, node.SubmitRequest{
		Name: "tiles", Module: wasmtest.Echo(),
		Inputs:      []node.SubmitInput{{Range: &tasks.Range{Start: 0, End: 60, Prefix: []byte("tile ")}}},
		MemoryPages: 16, TimeoutMS: 10_000, MaxOutputBytes: 1 << 10, Redundancy: 1, Replication: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := os.ReadFile(filepath.Join(c.Dir(0), node.TokenFile))
	if err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("http://%s/#token=%s", n.APIAddr(), strings.TrimSpace(string(tok)))

	bctx := newBrowser(t, ctx, bin)

	step := func(what string, a chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, a); err != nil {
			t.Fatalf("%s: %v (screenshot %s)", what, err, screenshot(t, bctx))
		}
	}
	poll := func(what, js string, d time.Duration) {
		t.Helper()
		if _, err := chromedp.Run(bctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(d))); err != nil {
			t.Fatalf("%s: %v (screenshot %s)", what, err, screenshot(t, bctx))
		}
	}
	step("open the dashboard", chromedp.Steps(chromedp.Navigate(url), chromedp.WaitVisible(chromedp.ID("main"))))
	poll("two peers listed", `document.querySelectorAll("#peers tr").length === 2`, 30*time.Second)
	poll("the batch's progress", `(() => { const d = document.querySelector(".batch .bar .done");
		return d !== null && parseFloat(d.style.width) > 0 })()`, 60*time.Second)
	peers, err := chromedp.Run(bctx, chromedp.Text(chromedp.ID("t-peers")))
	if err != nil || strings.TrimSpace(peers) != "2" {
		t.Errorf("peers tile %q, %v; want 2", peers, err)
	}
	attr, err := chromedp.Run(bctx, chromedp.AttributeValue(chromedp.CSS(".batch"), "data-batch"))
	if err != nil || attr.Value != res.BatchID {
		t.Errorf("batch on the page %q, %v; want %q", attr.Value, err, res.BatchID)
	}
	why, err := chromedp.Run(bctx, chromedp.Text(chromedp.ID("why-summary")))
	if err != nil || why == "" {
		t.Errorf("why summary %q, %v", why, err)
	}
	if clean, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`location.hash === ""`)); err != nil || !clean {
		t.Errorf("the token stayed in the address bar: %v", err)
	}
	shot := screenshot(t, bctx)
	// A wrong token brings the login form back.
	step("a wrong token", chromedp.Steps(
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](`localStorage.setItem("allforone.token", "wrong"); location.reload(); true`)(ctx, tg)
			return err
		}),
		chromedp.WaitVisible(chromedp.ID("login"))))
	t.Logf("dashboard showed %s peers and batch %s; screenshot %s", peers, attr.Value, shot)
}

// newBrowser starts a headless Chromium that lives as long as the test.
func newBrowser(t *testing.T, ctx context.Context, bin string) context.Context {
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 1700),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
	}
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(func() { bcancel(); acancel() })
	return bctx
}

// screenshot saves the page as PNG and returns where.
func screenshot(t *testing.T, ctx context.Context) string {
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100 gives a PNG
	if err != nil {
		t.Logf("screenshot: %v", err)
		return ""
	}
	path := filepath.Join(t.TempDir(), "dashboard.png")
	if dir := os.Getenv("ALLFORONE_ARTIFACTS"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err == nil {
			path = filepath.Join(dir, "dashboard.png")
		}
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Logf("screenshot: %v", err)
	}
	return path
}
