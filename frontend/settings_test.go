package frontend_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"uptime/internal/apptest"
	"uptime/internal/testnet"
)

// siteView is a site as GET /site/:siteID shows it.
type siteView struct {
	URL, Name, Interval, Keyword string
	Tags                         []string
	Paused                       bool
}

// theSite is the path of the one site there is.
func theSite(t *testing.T, a *apptest.App) string {
	t.Helper()
	var list struct{ Sites []struct{ ID int64 } }
	a.Call(t, "GET", "/site", "", &list)
	if len(list.Sites) != 1 {
		t.Fatalf("%d sites listed, want one: %+v", len(list.Sites), list.Sites)
	}
	return fmt.Sprintf("/site/%d", list.Sites[0].ID)
}

func getSite(t *testing.T, a *apptest.App) siteView {
	t.Helper()
	var v siteView
	a.Call(t, "GET", theSite(t, a), "", &v)
	return v
}

func TestEditASiteThroughItsSettingsForm(t *testing.T) {
	a := apptest.Start(t, apptest.Setup{})
	srv := healthy(t)
	a.Call(t, "POST", "/site", fmt.Sprintf(`{"url": %q, "tags": ["prod"], "keyword": ""}`, srv.URL), nil)
	p := open(t, a)
	p.waitFor(row(srv.URL) + `?.querySelector(".badge").textContent === "Up"`)

	p.do(chromedp.Click(chromedp.CSS("#sites tr .edit")))
	p.waitFor(`document.getElementById("edit-dialog").open && document.getElementById("edit-interval").value === "1h"`)
	if got := eval[string](p, `document.getElementById("edit-tags").value`); got != "prod" {
		t.Errorf("the form shows tags %q, want prod", got)
	}

	// A refused setting is shown at its field, and nothing changes.
	p.do(
		chromedp.SetValue(chromedp.ID("edit-interval"), "5s"),
		chromedp.Click(chromedp.ID("edit-save")),
	)
	p.waitFor(`!document.getElementById("edit-interval-error").hidden`)
	if got := eval[string](p, `document.getElementById("edit-interval-error").textContent`); !strings.Contains(got, "interval must be from 10s to 24h") {
		t.Errorf("the interval field's error says %q", got)
	}
	if !eval[bool](p, `document.getElementById("edit-interval").getAttribute("aria-invalid") === "true" && document.getElementById("edit-dialog").open`) {
		t.Error("the interval field is not marked invalid, or the dialog closed")
	}
	if v := getSite(t, a); v.Interval != "1h" {
		t.Fatalf("a refused edit changed the interval to %s", v.Interval)
	}

	p.do(
		chromedp.SetValue(chromedp.ID("edit-interval"), "30s"),
		chromedp.SetValue(chromedp.ID("edit-name"), "Shop"),
		chromedp.SetValue(chromedp.ID("edit-keyword"), "ok"),
		chromedp.Click(chromedp.ID("edit-save")),
	)
	p.waitFor(`!document.getElementById("edit-dialog").open`)
	v := getSite(t, a)
	if v.Interval != "30s" || v.Name != "Shop" || v.Keyword != "ok" || len(v.Tags) != 1 || v.Tags[0] != "prod" {
		t.Fatalf("after the edit the site is %+v, want interval 30s, name Shop, keyword ok and its tag kept", v)
	}
	// The name comes before the URL.
	p.waitFor(row(srv.URL) + `?.querySelector(".site-name").textContent === "Shop"`)
}

func TestAddASiteWithSettings(t *testing.T) {
	a := apptest.Start(t, apptest.Setup{})
	p := open(t, a)
	srv := healthy(t)
	p.do(
		chromedp.Click(chromedp.ID("add-toggle")),
		chromedp.WaitVisible(chromedp.ID("add-url")),
		chromedp.SendKeys(chromedp.ID("add-url"), srv.URL),
		chromedp.Click(chromedp.CSS("#add-more summary")),
		chromedp.SetValue(chromedp.ID("add-interval"), "1s"),
	)
	p.waitFor(`!document.getElementById("add-save").disabled`)
	p.do(chromedp.Click(chromedp.ID("add-save")))
	p.waitFor(`!document.getElementById("add-interval-error").hidden`)
	var list struct{ Sites []any }
	a.Call(t, "GET", "/site", "", &list)
	if len(list.Sites) != 0 {
		t.Fatalf("a site with a refused setting was added")
	}
	p.do(
		chromedp.SetValue(chromedp.ID("add-interval"), "45s"),
		chromedp.SetValue(chromedp.ID("add-name"), "Landing page"),
		chromedp.SetValue(chromedp.ID("add-locations"), "local, eu-west"),
		chromedp.SetValue(chromedp.ID("add-quorum"), "1"),
		chromedp.Click(chromedp.ID("add-save")),
	)
	p.waitFor(row(srv.URL) + `?.querySelector(".site-name").textContent === "Landing page"`)
	if v := getSite(t, a); v.Interval != "45s" || v.Name != "Landing page" {
		t.Fatalf("added site %+v, want interval 45s and its name", v)
	}
	var got struct {
		Locations []string
		Quorum    *int
	}
	a.Call(t, "GET", theSite(t, a), "", &got)
	if len(got.Locations) != 2 || got.Locations[1] != "eu-west" || got.Quorum == nil || *got.Quorum != 1 {
		t.Errorf("the form's locations and quorum: %+v, want [local eu-west] and 1", got)
	}
}

func TestPauseAndResumeFromTheRow(t *testing.T) {
	a := apptest.Start(t, apptest.Setup{})
	srv := healthy(t)
	a.AddSite(t, srv.URL)
	p := open(t, a)
	p.waitFor(row(srv.URL) + `?.querySelector(".badge").textContent === "Up"`)

	p.do(chromedp.Click(chromedp.CSS("#sites tr .pause")))
	p.waitFor(row(srv.URL) + `?.querySelector(".badge").textContent === "Paused"`)
	if got := eval[string](p, row(srv.URL)+`.querySelector(".pause").textContent`); got != "Resume" {
		t.Errorf("the button says %q on a paused site, want Resume", got)
	}
	if !eval[bool](p, row(srv.URL)+`.querySelector(".check").disabled`) {
		t.Error("Check now is enabled on a paused site")
	}
	if v := getSite(t, a); !v.Paused {
		t.Fatal("the server does not have the site paused")
	}
	p.do(chromedp.Click(chromedp.CSS("#sites tr .pause")))
	p.waitFor(row(srv.URL) + `?.querySelector(".badge").textContent === "Up"`)
	if v := getSite(t, a); v.Paused {
		t.Fatal("the server still has the site paused")
	}
}

func TestSlowSiteShowsDegraded(t *testing.T) {
	a := apptest.Start(t, apptest.Setup{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(150 * time.Millisecond)
	}))
	t.Cleanup(slow.Close)
	a.Call(t, "POST", "/site", fmt.Sprintf(`{"url": %q, "max_latency": "50ms"}`, slow.URL), nil)
	p := open(t, a)
	p.waitFor(row(slow.URL) + `?.querySelector(".badge").textContent === "Degraded"`)
	if got := eval[string](p, row(slow.URL)+`.querySelector(".reason").textContent`); !strings.Contains(got, "above max_latency 50ms") {
		t.Errorf("reason shown %q, want the latency explained", got)
	}
}

// A checkbox's label sits beside its box, not under it.
func TestCheckboxLabelsBesideTheirBoxes(t *testing.T) {
	a := apptest.Start(t, apptest.Setup{})
	p := open(t, a)
	p.do(
		chromedp.Click(chromedp.ID("add-toggle")),
		chromedp.WaitVisible(chromedp.ID("add-url")),
		chromedp.Click(chromedp.CSS("#add-more summary")),
		chromedp.WaitVisible(chromedp.ID("add-paused")),
	)
	for _, id := range []string{"add-paused", "add-keyword_absent"} {
		beside := eval[bool](p, `(() => { const box = document.getElementById("`+id+`").getBoundingClientRect();
			const label = document.querySelector('label[for="`+id+`"]').getBoundingClientRect();
			return label.left >= box.right && label.top < box.bottom && label.bottom > box.top; })()`)
		if !beside {
			t.Errorf("the label of %s is not beside its box", id)
		}
	}
}

// The add form offers the fields of the kind of check its URL names: a
// tcp:// URL hides the request's fields and shows what to send and
// expect, and the site is added with them and checked.
func TestAddATCPSiteThroughTheForm(t *testing.T) {
	a := apptest.Start(t, apptest.Setup{})
	addr := testnet.Serve(t, testnet.Listen(t), func(c net.Conn) { c.Write([]byte("220 ready\r\n")) })
	target := "tcp://" + addr
	p := open(t, a)
	p.do(
		chromedp.Click(chromedp.ID("add-toggle")),
		chromedp.WaitVisible(chromedp.ID("add-url")),
		chromedp.Click(chromedp.CSS("#add-more summary")),
	)
	shown := p.fieldShown
	if !shown("add-method") || shown("add-send") {
		t.Fatal("with no URL yet, the form does not offer an https site's fields")
	}
	p.do(chromedp.SendKeys(chromedp.ID("add-url"), target))
	p.waitFor(`!document.getElementById("add-save").disabled`)
	for _, id := range []string{"add-method", "add-expect_status", "add-keyword", "add-headers", "add-body"} {
		if shown(id) {
			t.Errorf("a tcp:// URL, and the form shows %s", id)
		}
	}
	if !shown("add-send") || !shown("add-expect") {
		t.Fatal("a tcp:// URL, and the form does not offer send and expect")
	}
	p.do(
		chromedp.SetValue(chromedp.ID("add-expect"), "220"),
		chromedp.Click(chromedp.ID("add-save")),
	)
	p.waitFor(row(target) + `?.querySelector(".badge").textContent === "Up"`)
	var got struct{ Kind, Expect, Method string }
	a.Call(t, "GET", theSite(t, a), "", &got)
	if got.Kind != "tcp" || got.Expect != "220" || got.Method != "" {
		t.Fatalf("the site added: %+v, want a tcp site expecting 220", got)
	}
}

// A dns:// URL offers the question's fields, and the site is added with
// them.
func TestAddADNSSiteThroughTheForm(t *testing.T) {
	a := apptest.Start(t, apptest.Setup{})
	p := open(t, a)
	p.do(
		chromedp.Click(chromedp.ID("add-toggle")),
		chromedp.WaitVisible(chromedp.ID("add-url")),
		chromedp.Click(chromedp.CSS("#add-more summary")),
		chromedp.SendKeys(chromedp.ID("add-url"), "dns://example.test"),
	)
	p.waitFor(`!document.getElementById("add-save").disabled`)
	shown := p.fieldShown
	for id, want := range map[string]bool{"add-dns_type": true, "add-dns_server": true, "add-dns_expect": true, "add-dns_rcode": true,
		"add-method": false, "add-send": false, "add-expect": false} {
		if shown(id) != want {
			t.Errorf("a dns:// URL: %s shown %v, want %v", id, !want, want)
		}
	}
	p.do(
		chromedp.SetValue(chromedp.ID("add-dns_type"), "MX"),
		chromedp.SetValue(chromedp.ID("add-dns_server"), "127.0.0.1:5353"),
		chromedp.SetValue(chromedp.ID("add-dns_expect"), "mx1.example.test, mx2.example.test"),
		chromedp.Click(chromedp.ID("add-save")),
	)
	p.waitFor(row("dns://example.test") + ` !== undefined`)
	var got struct {
		Kind, DNSType, DNSServer, DNSRCode string
		Expect                             []string
	}
	a.Call(t, "GET", theSite(t, a), "", &struct {
		Kind      *string   `json:"kind"`
		DNSType   *string   `json:"dns_type"`
		DNSServer *string   `json:"dns_server"`
		DNSRCode  *string   `json:"dns_rcode"`
		Expect    *[]string `json:"expect"`
	}{&got.Kind, &got.DNSType, &got.DNSServer, &got.DNSRCode, &got.Expect})
	if got.Kind != "dns" || got.DNSType != "MX" || got.DNSServer != "127.0.0.1:5353" || got.DNSRCode != "NOERROR" ||
		len(got.Expect) != 2 || got.Expect[1] != "mx2.example.test" {
		t.Fatalf("the site added: %+v", got)
	}
}

// Editing a site's URL to another kind of check shows that kind's fields
// and saves: the old kind's settings go back to their defaults rather
// than being refused as not the new kind's.
func TestChangeASiteToAnotherKind(t *testing.T) {
	a := apptest.Start(t, apptest.Setup{})
	addr := testnet.Serve(t, testnet.Listen(t), func(c net.Conn) { c.Write([]byte("+OK\r\n")) })
	srv := healthy(t)
	a.Call(t, "POST", "/site", fmt.Sprintf(`{"url": %q, "method": "HEAD", "keyword": "ok"}`, srv.URL), nil)
	p := open(t, a)
	p.waitFor(row(srv.URL) + `?.querySelector(".edit") != null`)
	p.do(chromedp.Click(chromedp.CSS("#sites tr .edit")))
	p.waitFor(`document.getElementById("edit-dialog").open && document.getElementById("edit-method").value === "HEAD"`)
	p.do(
		chromedp.SetValue(chromedp.ID("edit-url"), "tcp://"+addr),
		chromedp.SendKeys(chromedp.ID("edit-url"), " "), // the input event
	)
	p.waitFor(`document.getElementById("edit-method").closest(".field").hidden && !document.getElementById("edit-expect").closest(".field").hidden`)
	p.do(
		chromedp.SetValue(chromedp.ID("edit-expect"), "+OK"),
		chromedp.Click(chromedp.ID("edit-save")),
	)
	p.waitFor(`!document.getElementById("edit-dialog").open`)
	var got struct{ URL, Kind, Method, Keyword, Expect string }
	a.Call(t, "GET", theSite(t, a), "", &got)
	if got.URL != "tcp://"+addr || got.Kind != "tcp" || got.Method != "" || got.Keyword != "" || got.Expect != "+OK" {
		t.Fatalf("after the edit the site is %+v, want a tcp site expecting +OK", got)
	}
}

// An http site's assertions are added, shown, changed and removed through
// the forms, a row each; one the server refuses is shown at its row's
// part, and nothing is changed.
func TestAssertionsThroughTheForms(t *testing.T) {
	a := apptest.Start(t, apptest.Setup{})
	p := open(t, a)
	// setRow sets the parts of the nth row (from 0) of the assertions in
	// the form of prefix, each with the event a person's change makes.
	setRow := func(prefix string, n int, source, path, op, value string) {
		t.Helper()
		eval[bool](p, fmt.Sprintf(`(() => {
			const r = document.querySelectorAll("#%s-assertions .assertion")[%d];
			const set = (part, v, ev) => { const e = r.querySelector('[data-part="' + part + '"]'); e.value = v; e.dispatchEvent(new Event(ev, {bubbles: true})); };
			set("source", %q, "change");
			set("op", %q, "change");
			set("path", %q, "input");
			set("value", %q, "input");
			return true;
		})()`, prefix, n, source, op, path, value))
	}
	type assertion struct {
		Source, Path, Op string
		Value            any
	}
	assertions := func() []assertion {
		var s struct{ Assertions []assertion }
		a.Call(t, "GET", theSite(t, a), "", &s)
		return s.Assertions
	}
	add := func(prefix string) {
		p.do(chromedp.Click(chromedp.CSS("#" + prefix + "-assertions > button")))
	}
	// openEdit opens the site's edit dialog and waits for its n rows of
	// assertions, clicking Edit again while the dialog is not open: the
	// table may be drawn again (a check's result) under the first click.
	openEdit := func(n int) {
		t.Helper()
		p.waitFor(fmt.Sprintf(`(() => {
			const d = document.getElementById("edit-dialog");
			if (!d.open) document.querySelector("#sites tr .edit")?.click();
			return d.open && document.querySelectorAll("#edit-assertions .assertion").length === %d;
		})()`, n))
	}

	p.do(
		chromedp.Click(chromedp.ID("add-toggle")),
		chromedp.WaitVisible(chromedp.ID("add-url")),
		chromedp.Click(chromedp.CSS("#add-more summary")),
		chromedp.SendKeys(chromedp.ID("add-url"), "api.example.test/health"),
	)
	p.waitFor(`!document.getElementById("add-save").disabled`)
	add("add")
	add("add")
	setRow("add", 0, "json", "$.status", "==", "ok")
	setRow("add", 1, "latency", "", "<", "800ms")
	// A latency has no path, and its ops are those that compare.
	if eval[bool](p, `!document.querySelectorAll("#add-assertions .assertion")[1].querySelector('[data-part="path"]').hidden`) {
		t.Errorf("a latency assertion shows a path")
	}
	if ops := eval[string](p, `[...document.querySelectorAll("#add-assertions .assertion")[1].querySelectorAll('[data-part="op"] option')].map(o => o.value).join(" ")`); ops != "< <= > >=" {
		t.Errorf("a latency assertion offers the ops %q", ops)
	}
	p.do(chromedp.Click(chromedp.ID("add-save")))
	p.waitFor(row("https://api.example.test/health") + ` !== undefined`)
	got := assertions()
	if len(got) != 2 || got[0] != (assertion{"json", "$.status", "==", "ok"}) || got[1] != (assertion{"latency", "", "<", "800ms"}) {
		t.Fatalf("the site added has the assertions %+v", got)
	}

	// The edit dialog shows them; a bad regular expression is refused at
	// its row's value.
	openEdit(2)
	if v := eval[string](p, `document.querySelector('#edit-assertions .assertion [data-part="path"]').value`); v != "$.status" {
		t.Fatalf("the edit dialog shows the first assertion's path as %q", v)
	}
	setRow("edit", 0, "json", "$.status", "matches", "(")
	p.do(chromedp.Click(chromedp.ID("edit-save")))
	p.waitFor(`!document.getElementById("edit-assertions-error").hidden`)
	if msg := eval[string](p, `document.getElementById("edit-assertions-error").textContent`); !strings.HasPrefix(msg, "assertions[0].value:") {
		t.Errorf("the error shown: %q", msg)
	}
	if focused := eval[string](p, `document.activeElement.dataset.part || ""`); focused != "value" {
		t.Errorf("the focus is on %q after the error, want the row's value", focused)
	}
	if got := assertions(); got[0].Op != "==" {
		t.Fatalf("a refused edit changed the assertions: %+v", got)
	}

	// Corrected, and the second removed: saved as shown. Numbers are
	// numbers, text in quotes text.
	setRow("edit", 0, "json", "$.depth", "<", "1000")
	p.do(chromedp.Click(chromedp.CSS(`#edit-assertions .assertion:nth-child(2) button`)))
	add("edit")
	setRow("edit", 1, "json", "$.version", "==", `"2"`)
	p.do(chromedp.Click(chromedp.ID("edit-save")))
	p.waitFor(`!document.getElementById("edit-dialog").open`)
	got = assertions()
	if len(got) != 2 || got[0] != (assertion{"json", "$.depth", "<", 1000.0}) || got[1] != (assertion{"json", "$.version", "==", "2"}) {
		t.Fatalf("after the edit the assertions are %+v", got)
	}

	// Opened again and saved unchanged, nothing is sent; every row
	// removed, the site has none.
	openEdit(2)
	if v := eval[string](p, `document.querySelectorAll('#edit-assertions [data-part="value"]')[1].value`); v != `"2"` {
		t.Errorf("the text \"2\" is shown as %q, want it in quotes", v)
	}
	// The rows are labelled by their places, again after one went.
	p.do(chromedp.Click(chromedp.CSS(`#edit-assertions .assertion:nth-child(1) button`)))
	if l := eval[string](p, `document.querySelector('#edit-assertions [data-part="value"]').getAttribute("aria-label")`); l != "Assertion 1: value" {
		t.Errorf("the row left after the first went is labelled %q", l)
	}
	p.do(
		chromedp.Click(chromedp.CSS(`#edit-assertions .assertion:nth-child(1) button`)),
		chromedp.Click(chromedp.ID("edit-save")),
	)
	p.waitFor(`!document.getElementById("edit-dialog").open`)
	if got := assertions(); len(got) != 0 {
		t.Fatalf("every row removed, the site has the assertions %+v", got)
	}
}
