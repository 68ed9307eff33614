package browser

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"allforone/node"
	"allforone/tasks/wasmtest"
	"allforone/testnet"

	"github.com/chromedp/chromedp"
)

// TestDashboardShowsFailuresAndWaiting: on two nodes, a batch whose tasks exit 3 and one
// whose R=5 needs three peers; the dashboard shows why the first failed (exit code, stderr)
// and why the second waits.
func TestDashboardShowsFailuresAndWaiting(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: skipped with -short")
	}
	bin := chromium(t)
	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancel()
	c, err := testnet.StartCluster(ctx, testnet.ClusterConfig{N: 2, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.WaitAllKnown(ctx); err != nil {
		t.Fatal(err)
	}
	n := c.Node(0)
	submit := func(name string, module []byte, r uint32) {
		t.Helper()
		req := node.SubmitRequest{Name: name, Module: module, MemoryPages: 16, TimeoutMS: 10_000,
			MaxOutputBytes: 1 << 10, Redundancy: r, Replication: 1}
		for i := range 4 {
			req.Inputs = append(req.Inputs, node.SubmitInput{Name: fmt.Sprintf("part-%d.txt", i), Data: []byte{byte(i)}})
		}
		if _, err := n.Submit(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	submit("parser", wasmtest.Complain("parse: want two numbers, got 1\n", 3), 2)
	submit("wide", wasmtest.Echo(), 5)
	tok, err := os.ReadFile(filepath.Join(c.Dir(0), node.TokenFile))
	if err != nil {
		t.Fatal(err)
	}
	bctx := newBrowser(t, ctx, bin)
	url := fmt.Sprintf("http://%s/#token=%s", n.APIAddr(), strings.TrimSpace(string(tok)))
	if err := chromedp.Do(bctx, chromedp.Steps(chromedp.Navigate(url), chromedp.WaitVisible(chromedp.ID("main")))); err != nil {
		t.Fatal(err)
	}
	for what, js := range map[string]string{
		"why the tasks failed": `[...document.querySelectorAll(".batch .failure")].some((e) =>
			e.textContent.includes("part-0.txt") && e.textContent.includes("exit code 3") && e.textContent.includes("parse: want two numbers"))`,
		"and how many more": `[...document.querySelectorAll(".batch .failure")].some((e) => e.textContent.includes("and 1 more"))`,
		"why the wide batch waits": `[...document.querySelectorAll(".batch .waiting")].some((e) =>
			e.textContent.includes("R=5 needs 3 distinct peers") && e.textContent.includes("lower --replicas to 2"))`,
	} {
		if _, err := chromedp.Run(bctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(60*time.Second))); err != nil {
			t.Fatalf("%s: %v (screenshot %s)", what, err, screenshot(t, bctx))
		}
	}
	t.Logf("screenshot %s", screenshot(t, bctx))
}
