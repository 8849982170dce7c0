package web_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// chromium finds Debian's Chromium (scripts/deps.sh installs it). Without
// it the test skips, except under CI=true, where it fails.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium not found: install it (scripts/deps.sh does, or apt-get install chromium)")
	}
	t.Skip("chromium not found; scripts/deps.sh installs it")
	return ""
}

// artifacts is where screenshots go: $SKEWFREE_ARTIFACTS, else .artifacts/
// at the module root (git-ignored).
func artifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("SKEWFREE_ARTIFACTS")
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			t.Fatal(err)
		}
		for d := wd; ; d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				dir = filepath.Join(d, ".artifacts")
				break
			} else if !errors.Is(err, fs.ErrNotExist) || filepath.Dir(d) == d {
				dir = filepath.Join(wd, ".artifacts")
				break
			}
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestBrowser drives the catalog page in headless Chromium: search for a
// feature, open it, and check what a person sees: description, lineage,
// freshness, a drawn chart, and registry HTML shown as text. It saves
// screenshots of the index and the feature page.
func TestBrowser(t *testing.T) {
	bin := chromium(t)
	srv := newServer(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("font-render-hinting", "none"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	defer cancelBrowser()

	const feature = "user_spend:avg_paid_amount_30d"
	dir := artifacts(t)

	// The index: stale views stand out; typing filters the lists.
	do(t, bctx, "open the index", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("search")))
	if stale := run(t, bctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('.card.is-stale .name')].map(e => e.textContent)`)); len(stale) != 1 || stale[0] != "user_clicks" {
		t.Errorf("stale views that stand out: %v, want [user_clicks]", stale)
	}
	index := filepath.Join(dir, "catalog-index.png")
	writePNG(t, index, run(t, bctx, chromedp.FullScreenshot(100)))
	do(t, bctx, "type a search", chromedp.SendKeys(chromedp.ID("search"), "avg_paid"))
	features := run(t, bctx, chromedp.Evaluate[int](`document.querySelectorAll('.item[data-kind=feature]:not([hidden])').length`))
	views := run(t, bctx, chromedp.Evaluate[int](`document.querySelectorAll('.item[data-kind=view]:not([hidden])').length`))
	if features != 1 || views != 0 {
		t.Errorf("after typing: %d features and %d views visible, want 1 and 0", features, views)
	}

	// Enter runs the server-side search; then open the feature.
	link := chromedp.CSS(`a[href="/feature/` + feature + `"]`)
	do(t, bctx, "search on the server", chromedp.SendKeys(chromedp.ID("search"), kb.Enter), chromedp.WaitVisible(link))
	if url := run(t, bctx, chromedp.Location()); !strings.Contains(url, "q=avg_paid") {
		t.Errorf("Enter did not search on the server: %s", url)
	}
	do(t, bctx, "open the feature", chromedp.Click(link), chromedp.WaitVisible(chromedp.ID("definition")))
	if d := run(t, bctx, chromedp.Text(chromedp.ID("description"))); d != "mean amount of paid orders" {
		t.Errorf("description %q", d)
	}
	if d := run(t, bctx, chromedp.Text(chromedp.ID("definition"))); d != "mean of amount over orders with status = paid over the last 30 days, per user, daily at 00:00 UTC + 2 h lateness" {
		t.Errorf("definition %q", d)
	}
	if l := run(t, bctx, chromedp.Text(chromedp.ID("lineage"))); !strings.Contains(l, "orders") || !strings.Contains(l, "user_spend") || !strings.Contains(l, "checkout_fraud") {
		t.Errorf("lineage %q lacks source, view or the service using it", l)
	}
	if f := run(t, bctx, chromedp.Text(chromedp.ID("freshness"))); !strings.Contains(f, "Fresh.") || !strings.Contains(f, "window ending 2026-11-20 00:00 UTC, 10 h old") {
		t.Errorf("freshness %q", f)
	}
	lines := run(t, bctx, chromedp.Evaluate[int](`document.querySelectorAll('figure.chart svg polyline[points]').length`))
	width := run(t, bctx, chromedp.Evaluate[float64](`document.querySelector('figure.chart svg polyline').getBBox().width`))
	if lines != 3 || width < 100 {
		t.Errorf("%d charts drawn, line %.0f px wide; want 3 and a real line", lines, width)
	}
	if c := run(t, bctx, chromedp.Text(chromedp.ID("checks"))); !strings.Contains(c, `max_null_rate 0.05 on feature "avg_paid_amount_30d"`) || !strings.Contains(c, "skips the online push") {
		t.Errorf("declared checks and policy %q", c)
	}
	shot := filepath.Join(dir, "catalog-feature.png")
	writePNG(t, shot, run(t, bctx, chromedp.FullScreenshot(100)))
	t.Logf("screenshots: %s and %s", index, shot)

	// Registry text holding HTML renders as text and runs nothing.
	do(t, bctx, "open the feature with an HTML description", chromedp.Navigate(srv.URL+"/feature/user_spend:paid_orders_30d"),
		chromedp.WaitVisible(chromedp.ID("description")))
	evil := run(t, bctx, chromedp.Text(chromedp.ID("description")))
	pwned := run(t, bctx, chromedp.Evaluate[bool](`window.pwned === true`))
	elems := run(t, bctx, chromedp.Evaluate[bool](`document.querySelector('#description b, #description script') !== null`))
	if evil != Evil || pwned || elems {
		t.Errorf("description shown as %q (ran script: %v, made elements: %v); want the text %q", evil, pwned, elems, Evil)
	}

	// A stale view's page says so in red.
	do(t, bctx, "open the stale view", chromedp.Navigate(srv.URL+"/view/user_clicks"), chromedp.WaitVisible(chromedp.ID("freshness")))
	if f := run(t, bctx, chromedp.Text(chromedp.ID("freshness"))); !strings.Contains(f, "Stale.") || !strings.Contains(f, "15 h old") {
		t.Errorf("stale view freshness %q", f)
	}
	if c := run(t, bctx, chromedp.Evaluate[string](`getComputedStyle(document.getElementById('freshness')).color`)); c != "rgb(201, 42, 42)" {
		t.Errorf("stale notice colour %s, want the red of .alert", c)
	}
	writePNG(t, filepath.Join(dir, "catalog-stale-view.png"), run(t, bctx, chromedp.FullScreenshot(100)))
}

func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func run[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func writePNG(t *testing.T, path string, b []byte) {
	t.Helper()
	if len(b) < 8 || string(b[1:4]) != "PNG" {
		t.Fatalf("screenshot is not a PNG (%d bytes)", len(b))
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
