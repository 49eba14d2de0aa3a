package frontend_test

import (
	"bytes"
	"fmt"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"uptime/internal/app"
	"uptime/internal/apptest"
	"uptime/internal/config"
	"uptime/internal/testnet"
)

func healthy(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(srv.Close)
	return srv
}

func TestAddCheckAndDeleteASite(t *testing.T) {
	a := apptest.Start(t, apptest.Setup{})
	p := open(t, a)
	p.waitFor(`document.getElementById("empty").textContent === "Nothing to monitor yet. Add a website to see it here."` +
		` && !document.getElementById("empty").hidden`)
	if eval[bool](p, `document.getElementById("sign-in").offsetParent !== null || document.getElementById("who").offsetParent !== null`) {
		t.Error("a server with no users shows a sign-in form or someone signed in")
	}

	srv := healthy(t)
	p.addThroughForm(srv.URL)
	// It turns Up without a reload: the site-added check and the refresh.
	p.waitFor(row(srv.URL) + `?.querySelector(".badge").textContent === "Up"`)
	p.waitFor(row(srv.URL) + `?.querySelector(".checked").textContent.startsWith("Last checked")`)
	if got := eval[string](p, row(srv.URL)+`.querySelector(".col-response").textContent`); !strings.Contains(got, "HTTP 200") {
		t.Errorf("response column %q, want HTTP 200", got)
	}

	srv.Close()
	p.do(chromedp.Click(chromedp.CSS("#sites tr .check")))
	p.waitFor(row(srv.URL) + `?.querySelector(".badge").textContent === "Down"`)
	if got := eval[string](p, row(srv.URL)+`.querySelector(".reason").textContent`); got != "connection refused" {
		t.Errorf("reason shown = %q, want connection refused", got)
	}

	// Delete asks first; Cancel keeps the site.
	p.do(chromedp.Click(chromedp.CSS("#sites tr .delete")))
	p.waitFor(`document.getElementById("confirm-dialog").open`)
	if got := eval[string](p, `document.getElementById("confirm-url").textContent`); got != srv.URL {
		t.Errorf("the confirmation names %q, want %q", got, srv.URL)
	}
	p.do(chromedp.Click(chromedp.ID("confirm-cancel")))
	p.waitFor(`!document.getElementById("confirm-dialog").open`)
	if eval[bool](p, row(srv.URL)+` === undefined`) {
		t.Fatal("the site disappeared after Cancel")
	}
	p.do(chromedp.Click(chromedp.CSS("#sites tr .delete")))
	p.waitFor(`document.getElementById("confirm-dialog").open`)
	p.do(chromedp.Click(chromedp.ID("confirm-delete")))
	p.waitFor(row(srv.URL) + ` === undefined && !document.getElementById("empty").hidden`)
	var list struct{ Sites []any }
	a.Call(t, "GET", "/site", "", &list)
	if len(list.Sites) != 0 {
		t.Fatalf("the server still has %d sites after Delete", len(list.Sites))
	}
}

func TestSaveStaysDisabledForInvalidURLs(t *testing.T) {
	p := open(t, apptest.Start(t, apptest.Setup{}))
	p.do(chromedp.Click(chromedp.ID("add-toggle")), chromedp.WaitVisible(chromedp.ID("add-url")))
	if ph := eval[string](p, `document.getElementById("add-url").placeholder`); ph != "google.com" {
		t.Errorf("placeholder %q, want google.com", ph)
	}
	tests := []struct {
		input   string
		enabled bool
	}{
		{"", false},
		{"   ", false},
		{"not a url", false},
		{"ftp://files.example.com", false},
		{"invalid://scheme", false},
		{"https://", false},
		{"http://exa mple.com", false},
		{"google.com", true},
		{"http://localhost:8080/health", true},
		{"https://encore.dev", true},
	}
	for _, tt := range tests {
		q := fmt.Sprintf("%q", tt.input)
		enabled := eval[bool](p, `(() => { const i = document.getElementById("add-url"); i.value = `+q+
			`; i.dispatchEvent(new Event("input")); return !document.getElementById("add-save").disabled })()`)
		if enabled != tt.enabled {
			t.Errorf("input %q: Save enabled = %v, want %v", tt.input, enabled, tt.enabled)
		}
	}
}

func TestDuplicateShowsTheServersMessage(t *testing.T) {
	a := apptest.Start(t, apptest.Setup{})
	srv := healthy(t)
	a.AddSite(t, srv.URL)
	p := open(t, a)
	p.addThroughForm(srv.URL)
	// At the URL's field, where the mistake is.
	p.waitFor(`!document.getElementById("add-url-error").hidden`)
	msg := eval[string](p, `document.getElementById("add-url-error").textContent`)
	if !strings.Contains(msg, "already monitored") {
		t.Fatalf("error shown at the URL = %q, want the server's message", msg)
	}
	if eval[bool](p, `!document.getElementById("add-error").hidden`) {
		t.Errorf("the duplicate is also said at the bottom of the form")
	}
}

func TestURLsAreShownAsText(t *testing.T) {
	a := apptest.Start(t, apptest.Setup{})
	url := "http://127.0.0.1:1/<img src=x onerror=window.pwned=1>"
	a.AddSite(t, url)
	p := open(t, a)
	p.waitFor(row(url) + ` !== undefined`)
	p.do(chromedp.Click(chromedp.CSS("#sites tr .site-url")))
	p.waitFor(`document.getElementById("detail-dialog").open && document.getElementById("detail-title").textContent === ` + fmt.Sprintf("%q", url))
	// Closed once all of it has come in: the dialog, centred, moves while
	// it grows, and a click aimed at its button before then can miss.
	p.waitFor(`document.querySelector("#detail-incidents li") !== null && [...document.querySelectorAll("#detail-badges img")].every((i) => i.complete)`)
	p.do(chromedp.Click(chromedp.CSS("#detail-dialog .detail-head button")))
	p.waitFor(`!document.getElementById("detail-dialog").open`)
	p.do(chromedp.Click(chromedp.CSS("#sites tr .delete")))
	p.waitFor(`document.getElementById("confirm-url").textContent === ` + fmt.Sprintf("%q", url))
	time.Sleep(200 * time.Millisecond) // an image inserted from the URL would load meanwhile
	// The detail view's badges and the two-factor dialog's QR code are the
	// page's only images.
	if n := eval[int](p, `[...document.querySelectorAll("img")].filter((i) => !i.closest("#detail-badges") && i.id !== "totp-qr").length`); n != 0 {
		t.Fatalf("%d img elements on the page: a URL was inserted as HTML", n)
	}
	if eval[bool](p, `window.pwned === 1`) {
		t.Fatal("script from a URL ran")
	}
}

func TestAPIKeyIsAskedForOnceAndSent(t *testing.T) {
	const key = "browser-test-key"
	a := apptest.Start(t, apptest.Setup{Configure: func(c *config.Config) { c.APIKey = key }})
	srv := healthy(t)
	p := open(t, a)
	p.addThroughForm(srv.URL)
	p.waitFor(`document.getElementById("key-dialog").open`)
	p.do(chromedp.SendKeys(chromedp.ID("key-input"), "wrong-key"), chromedp.Click(chromedp.ID("key-save")))
	p.waitFor(`document.getElementById("key-dialog").open && !document.getElementById("key-error").hidden`)
	p.do(chromedp.SendKeys(chromedp.ID("key-input"), key), chromedp.Click(chromedp.ID("key-save")))
	p.waitFor(row(srv.URL) + `?.querySelector(".badge").textContent === "Up"`)
	if got := eval[string](p, `localStorage.getItem("uptime.apiKey")`); got != key {
		t.Errorf("stored key %q, want %q", got, key)
	}
	// The next change carries the key without asking.
	p.do(chromedp.Click(chromedp.CSS("#sites tr .check")))
	p.waitFor(`document.querySelector("#sites tr .check").textContent === "Check now"`)
	if eval[bool](p, `document.getElementById("key-dialog").open`) {
		t.Fatal("asked for the key again")
	}
	if eval[bool](p, `!document.querySelector("#sites tr .row-error").hidden`) {
		t.Fatalf("Check now failed: %s", eval[string](p, `document.querySelector("#sites tr .row-error").textContent`))
	}
}

func TestLostConnectionIsShown(t *testing.T) {
	a := apptest.Start(t, apptest.Setup{})
	p := open(t, a)
	a.Stop()
	p.do(chromedp.Click(chromedp.ID("add-toggle")), chromedp.SendKeys(chromedp.ID("add-url"), "example.com"),
		chromedp.Click(chromedp.ID("add-save")))
	p.waitFor(`!document.getElementById("add-error").hidden`)
	if msg := eval[string](p, `document.getElementById("add-error").textContent`); !strings.Contains(msg, "Cannot reach") {
		t.Fatalf("error shown = %q, want that the server cannot be reached", msg)
	}
	p.waitFor(`!document.getElementById("connection").hidden`)
}

func TestScreenshot(t *testing.T) {
	expiring := testnet.TLSServer(t, 9*24*time.Hour)
	a := apptest.Start(t, apptest.Setup{Options: app.Options{CheckTransport: testnet.Transport(expiring)}})
	up := healthy(t)
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
	defer failing.Close()
	for _, u := range []string{up.URL + "/", expiring.URL + "/", failing.URL + "/api/health", "http://127.0.0.1:1/"} {
		a.AddSite(t, u)
	}
	a.Call(t, "PATCH", "/site/3", `{"name": "Orders API"}`, nil)
	for range 5 {
		a.Call(t, "POST", "/check-all", "", nil)
	}
	p := open(t, a)
	p.waitFor(`document.querySelectorAll("#sites .badge.up").length === 2 && document.querySelectorAll("#sites .badge.down").length === 2`)
	p.waitFor(`[...document.querySelectorAll(".cert.warn")].some(e => e.textContent.startsWith("Certificate expires in"))`)
	shot, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("the screenshot is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 800 || b.Dy() < 400 {
		t.Fatalf("screenshot is %v", b)
	}
	path := screenshotPath(t)
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("saved %s", path)
}

func TestPagesAndSearch(t *testing.T) {
	a := apptest.Start(t, apptest.Setup{})
	srv := healthy(t)
	for i := range 120 {
		a.AddSite(t, fmt.Sprintf("%s/site-%03d", srv.URL, i))
	}
	p := open(t, a)
	rowCount := `document.querySelectorAll("#sites tr").length`
	summary := `document.getElementById("summary").textContent`
	firstURL := `document.querySelector("#sites tr .site-url").textContent`
	p.waitFor(rowCount + ` === 50 && ` + summary + ` === "1–50 of 120 sites"`)
	if !eval[bool](p, `document.getElementById("page-prev").disabled`) {
		t.Error("Previous is enabled on the first page")
	}

	p.do(chromedp.Click(chromedp.ID("page-next")))
	p.waitFor(summary + ` === "51–100 of 120 sites" && ` + firstURL + fmt.Sprintf(` === %q`, srv.URL+"/site-050"))
	p.do(chromedp.Click(chromedp.ID("page-next")))
	p.waitFor(summary + ` === "101–120 of 120 sites" && ` + rowCount + ` === 20`)
	if !eval[bool](p, `document.getElementById("page-next").disabled`) {
		t.Error("Next is enabled on the last page")
	}
	p.do(chromedp.Click(chromedp.ID("page-prev")))
	p.waitFor(summary + ` === "51–100 of 120 sites"`)

	// A search starts again from its own first page.
	p.do(chromedp.SendKeys(chromedp.ID("search"), "SITE-11"))
	p.waitFor(summary + ` === "10 sites matching “SITE-11”" && ` + rowCount + ` === 10`)
	if !eval[bool](p, `document.getElementById("pager").hidden`) {
		t.Error("the pager shows for a single page")
	}
	p.do(chromedp.SendKeys(chromedp.ID("search"), "x"))
	p.waitFor(summary + ` === "No sites match “SITE-11x”." && ` + rowCount + ` === 0`)
	if !eval[bool](p, `document.getElementById("empty").hidden`) {
		t.Error(`"Nothing to monitor yet" shows for a search without matches`)
	}

	// A site added while the list spans pages is shown through a search.
	eval[bool](p, `(e => { e.value = ""; return e.dispatchEvent(new Event("input")); })(document.getElementById("search"))`)
	p.waitFor(summary + ` === "1–50 of 120 sites"`)
	newSite := srv.URL + "/brand-new"
	p.addThroughForm(newSite)
	p.waitFor(row(newSite) + `?.querySelector(".badge").textContent === "Up" && ` + rowCount + ` === 1`)
}

// A refresh updates rows where they stand: a keyboard user's focus on a
// row's button survives it, and no row leaves the table.
func TestRefreshKeepsFocus(t *testing.T) {
	a := apptest.Start(t, apptest.Setup{})
	first, second := healthy(t), healthy(t)
	a.AddSite(t, first.URL)
	a.AddSite(t, second.URL)
	p := open(t, a)
	p.waitFor(row(first.URL) + `?.querySelector(".badge").textContent === "Up" && ` + row(second.URL) + `?.querySelector(".badge").textContent === "Up"`)
	eval[bool](p, `(() => {
		window.removedRows = 0;
		new MutationObserver((ms) => ms.forEach((m) => (window.removedRows += m.removedNodes.length))).observe(document.getElementById("sites"), { childList: true });
		`+row(first.URL)+`.querySelector(".edit").focus();
		`+row(second.URL)+`.querySelector(".check").click(); // a click from script leaves the focus where it is
		return true;
	})()`)
	p.waitFor(row(second.URL) + `?.querySelector(".check").textContent === "Check now"`)
	if !eval[bool](p, `document.activeElement === `+row(first.URL)+`.querySelector(".edit")`) {
		t.Errorf("the focus moved to %q during a refresh", eval[string](p, `document.activeElement.outerHTML.slice(0, 80)`))
	}
	if n := eval[int](p, `window.removedRows`); n != 0 {
		t.Errorf("a refresh took %d rows out of the table and put them back", n)
	}
}
