package frontend_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"uptime/internal/apptest"
	"uptime/internal/chromium"
	"uptime/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// browser starts headless Chromium for the test. Without Chromium the test
// fails, saying what to install; it is never skipped.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := chromium.Path()
	if path == "" {
		t.Fatal("the browser tests need Chromium: install it (as root: apt-get install chromium; `make test` does this)")
	}
	opts := chromium.Options(path)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// page is the dashboard of an app, open in a browser.
type page struct {
	t   *testing.T
	ctx context.Context
	app *apptest.App
}

func open(t *testing.T, app *apptest.App) *page {
	t.Helper()
	p := &page{t: t, ctx: browser(t), app: app}
	p.do(chromedp.Navigate(app.URL + "/"))
	p.waitFor(`document.location.pathname === "/frontend/"`)
	p.waitFor(`document.getElementById("loading").hidden`)
	return p
}

func (p *page) do(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("browser: %v", err)
	}
}

// eval evaluates JavaScript and decodes its value into T.
func eval[T any](p *page, js string) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// waitFor waits until the JavaScript expression is truthy.
func (p *page) waitFor(js string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](js, chromedp.WithPollingTimeout(15*time.Second))); err != nil {
		p.t.Fatalf("waiting for %s: %v\npage text:\n%s", js, err, eval[string](p, "document.body.innerText"))
	}
}

// row is a JavaScript expression for the table row of the site with url,
// undefined (not null) while there is none.
func row(url string) string {
	q, _ := json.Marshal(url)
	return fmt.Sprintf(`[...document.querySelectorAll("#sites tr")].find(tr => tr.querySelector(".site-url").textContent === %s)`, q)
}

// fieldShown tells whether the form field of the id is shown.
func (p *page) fieldShown(id string) bool {
	p.t.Helper()
	return eval[bool](p, fmt.Sprintf(`!document.getElementById(%q).closest(".field").hidden`, id))
}

// addThroughForm opens the form, types the URL and saves.
func (p *page) addThroughForm(url string) {
	p.t.Helper()
	p.do(
		chromedp.Click(chromedp.ID("add-toggle")),
		chromedp.WaitVisible(chromedp.ID("add-url")),
		chromedp.SendKeys(chromedp.ID("add-url"), url),
	)
	p.waitFor(`!document.getElementById("add-save").disabled`)
	p.do(chromedp.Click(chromedp.ID("add-save")))
}

// screenshotPath is where TestScreenshot saves the page: docs/ when asked
// to update it, otherwise a temporary file.
func screenshotPath(t *testing.T) string {
	if os.Getenv("UPTIME_UPDATE_SCREENSHOT") != "" {
		return "../docs/dashboard.png"
	}
	return t.TempDir() + "/dashboard.png"
}
