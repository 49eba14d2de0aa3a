package statuspage_test

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"uptime/internal/apptest"
	"uptime/internal/config"
	"uptime/internal/wait"
	"uptime/statuspage"
)

// call sends a request and returns its status, headers and body.
func call(t *testing.T, a *apptest.App, method, path, body string, header ...string) (int, http.Header, string) {
	t.Helper()
	return a.DoWithHeaders(t, method, path, body, header...)
}

func TestStatusPageCRUD(t *testing.T) {
	a := apptest.Start(t, apptest.Setup{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	s1, s2 := a.AddSite(t, srv.URL+"/a"), a.AddSite(t, srv.URL+"/b")

	var p statuspage.Page
	a.Call(t, "POST", "/status-page", fmt.Sprintf(`{"slug": "acme", "title": "Acme status", "description": "Our services",
		"groups": [{"name": "Web", "sites": [%d]}, {"name": "API", "sites": [%d]}]}`, s1, s2), &p)
	if p.Slug != "acme" || p.Title != "Acme status" || p.Description != "Our services" || p.ShowURLs ||
		len(p.Groups) != 2 || p.Groups[1].Name != "API" || p.Groups[1].Sites[0] != s2 {
		t.Fatalf("created %+v", p)
	}
	var got statuspage.Page
	a.Call(t, "GET", "/status-page/acme", "", &got)
	if got.Title != p.Title || len(got.Groups) != 2 {
		t.Errorf("GET gives %+v", got)
	}
	if status, _, body := call(t, a, "POST", "/status-page", `{"slug": "acme", "title": "Again"}`); status != 409 || !strings.Contains(body, "already_exists") {
		t.Errorf("a duplicate slug: %d %s, want 409 already_exists", status, body)
	}
	a.Call(t, "POST", "/status-page", `{"slug": "empty-1", "title": "Nothing yet"}`, nil)

	before := list(t, a)
	for _, c := range []struct{ name, body string }{
		{"an upper-case slug", `{"slug": "Acme2", "title": "x"}`},
		{"a slug with a space", `{"slug": "a b", "title": "x"}`},
		{"a slug of 65", `{"slug": "` + strings.Repeat("a", 65) + `", "title": "x"}`},
		{"an empty slug", `{"slug": "", "title": "x"}`},
		{"a non-ASCII slug", `{"slug": "café", "title": "x"}`},
		{"no slug", `{"title": "x"}`},
		{"no title", `{"slug": "new"}`},
		{"a blank title", `{"slug": "new", "title": "   "}`},
		{"a null title", `{"slug": "new", "title": null}`},
		{"a title of 201", `{"slug": "new", "title": "` + strings.Repeat("t", 201) + `"}`},
		{"a title with a control character", `{"slug": "new", "title": "a\u0007b"}`},
		{"a description of 2001", `{"slug": "new", "title": "x", "description": "` + strings.Repeat("d", 2001) + `"}`},
		{"an unknown field", `{"slug": "new", "title": "x", "colour": "red"}`},
		{"groups not a list", `{"slug": "new", "title": "x", "groups": {"name": "g"}}`},
		{"a group without a name", fmt.Sprintf(`{"slug": "new", "title": "x", "groups": [{"sites": [%d]}]}`, s1)},
		{"site id 0", `{"slug": "new", "title": "x", "groups": [{"name": "g", "sites": [0]}]}`},
		{"an unknown site", `{"slug": "new", "title": "x", "groups": [{"name": "g", "sites": [99999]}]}`},
		{"a site twice", fmt.Sprintf(`{"slug": "new", "title": "x", "groups": [{"name": "g", "sites": [%d]}, {"name": "h", "sites": [%d]}]}`, s1, s1)},
		{"51 groups", `{"slug": "new", "title": "x", "groups": [` + strings.TrimSuffix(strings.Repeat(`{"name": "g", "sites": []},`, 51), ",") + `]}`},
		{"a site id that is text", `{"slug": "new", "title": "x", "groups": [{"name": "g", "sites": ["1"]}]}`},
		{"not JSON", `slug=new`},
		{"an empty body", ``},
	} {
		status, _, body := call(t, a, "POST", "/status-page", c.body)
		if status != 400 || !strings.Contains(body, "invalid_argument") {
			t.Errorf("POST with %s: %d %s, want 400 invalid_argument", c.name, status, body)
		}
		if strings.Contains(c.body, `"slug": "new", `) {
			// The same change to an existing page.
			patch := strings.Replace(c.body, `"slug": "new", `, "", 1)
			if status, _, body := call(t, a, "PATCH", "/status-page/acme", patch); status != 400 {
				t.Errorf("PATCH with %s: %d %s, want 400", c.name, status, body)
			}
		}
	}
	if after := list(t, a); after != before {
		t.Errorf("refused requests changed the pages:\n%s\nthen\n%s", before, after)
	}

	// A change of some fields keeps the others; a slug taken is refused.
	a.Call(t, "PATCH", "/status-page/acme", `{"title": "Acme", "show_urls": true, "description": null}`, &got)
	if got.Title != "Acme" || !got.ShowURLs || got.Description != "" || len(got.Groups) != 2 {
		t.Errorf("after PATCH: %+v", got)
	}
	if status, _, _ := call(t, a, "PATCH", "/status-page/acme", `{"slug": "empty-1"}`); status != 409 {
		t.Errorf("renaming onto a taken slug: %d, want 409", status)
	}
	a.Call(t, "PATCH", "/status-page/acme", `{"slug": "acme-2"}`, &got)
	if status, _, _ := call(t, a, "GET", "/status-page/acme", ""); status != 404 || got.Slug != "acme-2" {
		t.Errorf("after a rename the old slug answers %d", status)
	}
	for _, c := range []struct{ method, path string }{
		{"GET", "/status-page/nope"}, {"PATCH", "/status-page/nope"}, {"DELETE", "/status-page/nope"},
	} {
		if status, _, body := call(t, a, c.method, c.path, `{"title": "x"}`); status != 404 || !strings.Contains(body, "not_found") {
			t.Errorf("%s %s: %d %s, want 404", c.method, c.path, status, body)
		}
	}
	a.Call(t, "DELETE", "/status-page/acme-2", "", nil)
	var all statuspage.ListResponse
	a.Call(t, "GET", "/status-page", "", &all)
	if len(all.Pages) != 1 || all.Pages[0].Slug != "empty-1" || all.Pages[0].Groups == nil {
		t.Errorf("after the delete: %+v", all.Pages)
	}
}

func list(t *testing.T, a *apptest.App) string {
	t.Helper()
	var all json.RawMessage
	a.Call(t, "GET", "/status-page", "", &all)
	return string(all)
}

// Changing pages needs the key, like every change; reading them does not.
func TestStatusPagesNeedTheKey(t *testing.T) {
	a := apptest.Start(t, apptest.Setup{Configure: func(c *config.Config) { c.APIKey = "secret-key" }})
	if status, _, _ := call(t, a, "POST", "/status-page", `{"slug": "a", "title": "A"}`); status != 401 {
		t.Errorf("POST without the key: %d, want 401", status)
	}
	if status, _, body := call(t, a, "POST", "/status-page", `{"slug": "a", "title": "A"}`, "Authorization", "Bearer secret-key"); status != 200 {
		t.Fatalf("POST with the key: %d %s", status, body)
	}
	for _, path := range []string{"/status-page", "/status-page/a", "/p/a"} {
		if status, _, _ := call(t, a, "GET", path, ""); status != 200 {
			t.Errorf("GET %s without the key: %d, want 200", path, status)
		}
	}
}

func TestPublicStatusPage(t *testing.T) {
	a := apptest.Start(t, apptest.Setup{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer up.Close()
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
	defer down.Close()
	var shop, api, hidden struct{ ID int64 }
	a.Call(t, "POST", "/site", fmt.Sprintf(`{"url": %q, "name": "<b>Shop</b> & co"}`, up.URL+"/internal-health"), &shop)
	a.Call(t, "POST", "/site", fmt.Sprintf(`{"url": %q, "name": "Orders API"}`, down.URL+"/secret-endpoint"), &api)
	a.Call(t, "POST", "/site", fmt.Sprintf(`{"url": %q, "name": "Paused one", "paused": true}`, up.URL+"/paused"), &hidden)
	wait.For(t, 15*time.Second, func() error {
		var st struct {
			Sites map[string]struct{ Up bool }
		}
		a.Call(t, "GET", fmt.Sprintf("/status?ids=%d,%d", shop.ID, api.ID), "", &st)
		if s, ok := st.Sites[fmt.Sprint(api.ID)]; ok && !s.Up && len(st.Sites) == 2 {
			return nil
		}
		return fmt.Errorf("the sites were not checked within 15s: %+v", st)
	})
	a.Call(t, "POST", "/status-page", fmt.Sprintf(`{"slug": "acme", "title": "Acme <status>", "description": "All of it",
		"groups": [{"name": "Shop front", "sites": [%d, %d]}, {"name": "Back office", "sites": [%d]}]}`, shop.ID, hidden.ID, api.ID), nil)

	status, h, body := call(t, a, "GET", "/p/acme", "")
	if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /p/acme = %d %s", status, h.Get("Content-Type"))
	}
	for _, want := range []string{
		"<title>Acme &lt;status&gt;</title>", "All of it",
		`id="overall">1 site down: Orders API</div>`,
		"<h2>Shop front</h2>", "<h2>Back office</h2>",
		`&lt;b&gt;Shop&lt;/b&gt; &amp; co`, ">Operational<", ">Down<", ">Paused<", "Orders API",
		"100% uptime", "0% uptime",
		`<span class="month">` + time.Now().UTC().Format("January") + `: 100%</span>`,
		`<span class="month">` + time.Now().UTC().Format("January") + `: 0%</span>`,
		"<h2>Incidents, last 14 days</h2>", `<span class="name">Orders API</span><span class="state down">Ongoing</span>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page has no %q", want)
		}
	}
	if strings.Contains(body, "<b>Shop</b>") {
		t.Errorf("a site's name was inserted as HTML")
	}
	for _, secret := range []string{"internal-health", "secret-endpoint", "127.0.0.1", "HTTP 503"} {
		if strings.Contains(body, secret) {
			t.Errorf("the page shows %q: a site URL, which it must not unless asked", secret)
		}
	}
	if n := len(regexp.MustCompile(`<span class="(up|partial|down|none)" title="`).FindAllString(body, -1)); n != 3*90 {
		t.Errorf("%d daily bars, want 90 for each of 3 sites", n)
	}
	today := time.Now().UTC().Format(time.DateOnly)
	if !strings.Contains(body, `<span class="up" title="`+today+`: 100% (`) || !strings.Contains(body, `<span class="down" title="`+today+`: 0% (`) {
		t.Errorf("today's bars are not green for the site up and red for the one down")
	}
	if strings.Contains(body, "<script") {
		t.Errorf("the page has a script; it must work without one")
	}

	// Cached: the same answer, with its ETag, and a 304 for it.
	etag := h.Get("Etag")
	if etag == "" || !strings.HasPrefix(h.Get("Cache-Control"), "public, max-age=") || h.Get("Content-Security-Policy") == "" {
		t.Errorf("headers: ETag %q, Cache-Control %q, CSP %q", etag, h.Get("Cache-Control"), h.Get("Content-Security-Policy"))
	}
	if status, _, again := call(t, a, "GET", "/p/acme", ""); status != 200 || again != body {
		t.Errorf("a second request within the cache's life got another page")
	}
	if status, _, b := call(t, a, "GET", "/p/acme", "", "If-None-Match", etag); status != 304 || b != "" {
		t.Errorf("If-None-Match with the ETag: %d %q, want 304 and no body", status, b)
	}
	// Compressed for a client that takes gzip: the same page.
	_, zh, zipped := call(t, a, "GET", "/p/acme", "", "Accept-Encoding", "gzip")
	zr, err := gzip.NewReader(strings.NewReader(zipped))
	if err != nil || zh.Get("Content-Encoding") != "gzip" {
		t.Fatalf("with Accept-Encoding gzip: Content-Encoding %q, %v", zh.Get("Content-Encoding"), err)
	}
	if unzipped, _ := io.ReadAll(zr); string(unzipped) != body || len(zipped) >= len(body)/4 {
		t.Errorf("the gzipped page (%d bytes) is not the page (%d bytes), or hardly smaller", len(zipped), len(body))
	}
	_, ih, plain := call(t, a, "GET", "/p/acme", "", "Accept-Encoding", "identity")
	if plain != body || ih.Get("Content-Encoding") != "" || ih.Get("Etag") == zh.Get("Etag") {
		t.Errorf("without gzip: Content-Encoding %q, ETag %q (gzipped %q), the same page %v",
			ih.Get("Content-Encoding"), ih.Get("Etag"), zh.Get("Etag"), plain == body)
	}
	// A change of the page shows at once; with show_urls the URLs too.
	a.Call(t, "PATCH", "/status-page/acme", `{"title": "Acme systems", "show_urls": true}`, nil)
	if _, _, b := call(t, a, "GET", "/p/acme", ""); !strings.Contains(b, "<h1>Acme systems</h1>") || !strings.Contains(b, "secret-endpoint") ||
		!strings.Contains(b, "· HTTP 503") {
		t.Errorf("the page after PATCH still shows the old title, or no URLs, or no incident's cause")
	}
	// A page that does not exist is a page too.
	status, h, body = call(t, a, "GET", "/p/nope", "")
	if status != 404 || !strings.HasPrefix(h.Get("Content-Type"), "text/html") || !strings.Contains(body, "No such status page") {
		t.Errorf("GET /p/nope = %d %s %.200s", status, h.Get("Content-Type"), body)
	}
	// Made now, or renamed to, it shows at once, not its 404 still cached.
	a.Call(t, "POST", "/status-page", `{"slug": "nope", "title": "Now there is one"}`, nil)
	if status, _, b := call(t, a, "GET", "/p/nope", ""); status != 200 || !strings.Contains(b, "Now there is one") {
		t.Errorf("a page made after its 404 was seen: %d", status)
	}
	call(t, a, "GET", "/p/renamed", "")
	a.Call(t, "PATCH", "/status-page/nope", `{"slug": "renamed"}`, nil)
	if status, _, _ := call(t, a, "GET", "/p/renamed", ""); status != 200 {
		t.Errorf("a page renamed onto a slug whose 404 was seen: %d", status)
	}
}

// TestPublicPageIsNeverStaleWhileTheDatabaseAnswers: the first visitor
// after a quiet spell sees the state of now, not the rendering of before
// it; a stale rendering is only for while PostgreSQL cannot be reached.
func TestPublicPageIsNeverStaleWhileTheDatabaseAnswers(t *testing.T) {
	a := apptest.Start(t, apptest.Setup{})
	var failing atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			w.WriteHeader(503)
		}
	}))
	defer srv.Close()
	var shop struct{ ID int64 }
	a.Call(t, "POST", "/site", fmt.Sprintf(`{"url": %q, "name": "Shop", "confirmations": 0}`, srv.URL), &shop)
	a.Call(t, "POST", fmt.Sprintf("/check/%d", shop.ID), "", nil)
	a.Call(t, "POST", "/status-page", fmt.Sprintf(`{"slug": "shop", "title": "Shop", "groups": [{"name": "All", "sites": [%d]}]}`, shop.ID), nil)
	if _, _, body := call(t, a, "GET", "/p/shop", ""); !strings.Contains(body, ">Operational<") {
		t.Fatalf("the page before the outage does not say Operational")
	}
	failing.Store(true)
	a.Call(t, "POST", fmt.Sprintf("/check/%d", shop.ID), "", nil)
	time.Sleep(5500 * time.Millisecond) // past the cache's life of 5 s: a quiet spell
	if _, _, body := call(t, a, "GET", "/p/shop", ""); !strings.Contains(body, ">Down<") {
		t.Errorf("the first visit after the site went down and the cache's life passed does not say Down")
	}
}

// A site in a maintenance window shows as under maintenance, not down, as
// the dashboard shows it, and does not count as down in the page's state.
func TestPublicPageShowsMaintenance(t *testing.T) {
	a := apptest.Start(t, apptest.Setup{})
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
	defer down.Close()
	var db, web struct{ ID int64 }
	a.Call(t, "POST", "/site", fmt.Sprintf(`{"url": %q, "name": "Database", "tags": ["db"], "confirmations": 0}`, down.URL+"/db"), &db)
	a.Call(t, "POST", "/site", fmt.Sprintf(`{"url": %q, "name": "Web", "confirmations": 0}`, down.URL+"/web"), &web)
	a.Call(t, "POST", "/maintenance", fmt.Sprintf(`{"title": "move", "tags": ["db"], "start": %q, "end": %q}`,
		time.Now().Add(-time.Minute).UTC().Format(time.RFC3339), time.Now().Add(time.Hour).UTC().Format(time.RFC3339)), nil)
	a.Call(t, "POST", fmt.Sprintf("/check/%d", db.ID), "", nil)
	a.Call(t, "POST", fmt.Sprintf("/check/%d", web.ID), "", nil)
	a.Call(t, "POST", "/status-page", fmt.Sprintf(`{"slug": "m", "title": "M", "groups": [{"name": "All", "sites": [%d, %d]}]}`, db.ID, web.ID), nil)
	_, _, body := call(t, a, "GET", "/p/m", "")
	if !regexp.MustCompile(`data-state="maintenance">\s*<div class="head">\s*<div><div class="name">Database<`).MatchString(body) ||
		!strings.Contains(body, `<div class="state maintenance">Under maintenance</div>`) {
		t.Errorf("the site in the window is not shown under maintenance")
	}
	if !strings.Contains(body, `id="overall">1 site down: Web</div>`) {
		t.Errorf("the page's state does not count only the site outside the window as down")
	}
	if !regexp.MustCompile(`<section class="maintenance" data-active="true">\s*<h2><span class="title">move</span><span class="state">In progress</span></h2>\s*<p class="when quiet">.*</time> · Database</p>`).MatchString(body) {
		t.Errorf("the window on now is not shown in progress with its site:\n%s", body)
	}
}

// A maintenance window is announced on the pages of the sites it covers
// from announce_before (24 hours unless it says) before it starts, with
// the page's sites it covers; one further off, or of other sites, is not.
// A bad announce_before is refused, naming it.
func TestPublicPageAnnouncesMaintenance(t *testing.T) {
	a := apptest.Start(t, apptest.Setup{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer up.Close()
	var web, api, other struct{ ID int64 }
	a.Call(t, "POST", "/site", fmt.Sprintf(`{"url": %q, "name": "Web"}`, up.URL+"/web"), &web)
	a.Call(t, "POST", "/site", fmt.Sprintf(`{"url": %q, "name": "API", "tags": ["api"]}`, up.URL+"/api"), &api)
	a.Call(t, "POST", "/site", fmt.Sprintf(`{"url": %q, "name": "Other"}`, up.URL+"/other"), &other)
	at := func(d time.Duration) string { return time.Now().Add(d).UTC().Format(time.RFC3339) }
	var soon, far struct {
		ID             int64
		AnnounceBefore string `json:"announce_before"`
	}
	a.Call(t, "POST", "/maintenance", fmt.Sprintf(`{"title": "Database upgrade", "sites": [%d], "tags": ["api"], "start": %q, "end": %q}`,
		web.ID, at(2*time.Hour), at(3*time.Hour)), &soon)
	a.Call(t, "POST", "/maintenance", fmt.Sprintf(`{"title": "Datacenter move", "sites": [%d], "start": %q, "end": %q}`,
		web.ID, at(72*time.Hour), at(80*time.Hour)), &far)
	a.Call(t, "POST", "/maintenance", fmt.Sprintf(`{"title": "Elsewhere", "sites": [%d], "start": %q, "end": %q, "announce_before": "0s"}`,
		other.ID, at(-time.Minute), at(time.Hour)), nil)
	if soon.AnnounceBefore != "24h" {
		t.Errorf("announce_before by default: %q, want 24h", soon.AnnounceBefore)
	}
	a.Call(t, "POST", "/status-page", fmt.Sprintf(`{"slug": "m", "title": "M", "groups": [{"name": "All", "sites": [%d, %d]}]}`, web.ID, api.ID), nil)
	_, _, body := call(t, a, "GET", "/p/m", "")
	if !regexp.MustCompile(`<section class="maintenance" data-active="false">\s*<h2><span class="title">Database upgrade</span><span class="state">Scheduled maintenance</span></h2>\s*<p class="when quiet"><time datetime="[^"]+">[^<]+</time> to <time datetime="[^"]+">[^<]+</time> · Web, API</p>`).MatchString(body) {
		t.Errorf("the window starting in 2 hours is not announced with its sites:\n%s", body)
	}
	for _, not := range []string{"Datacenter move", "Elsewhere"} {
		if strings.Contains(body, not) {
			t.Errorf("%s is announced", not)
		}
	}

	a.Call(t, "PATCH", fmt.Sprintf("/maintenance/%d", far.ID), `{"announce_before": "96h"}`, &far)
	if far.AnnounceBefore != "4d" {
		t.Errorf("announce_before once changed: %q, want 4d", far.AnnounceBefore)
	}
	// A change of another field keeps it, read back as it is shown.
	a.Call(t, "PATCH", fmt.Sprintf("/maintenance/%d", far.ID), `{"title": "Datacenter move"}`, &far)
	if far.AnnounceBefore != "4d" {
		t.Errorf("announce_before once the title changed: %q, want 4d", far.AnnounceBefore)
	}
	a.Call(t, "POST", "/status-page", fmt.Sprintf(`{"slug": "m2", "title": "M", "groups": [{"name": "All", "sites": [%d]}]}`, web.ID), nil)
	_, _, body = call(t, a, "GET", "/p/m2", "")
	if i, j := strings.Index(body, "Database upgrade"), strings.Index(body, "Datacenter move"); i < 0 || j < i {
		t.Errorf("with announce_before 96h, the window 3 days off is not announced after the sooner one")
	}

	for _, bad := range []string{`"-1h"`, `"31d"`, `"721h"`, `"soon"`, `24`} {
		status, _, body := call(t, a, "POST", "/maintenance", fmt.Sprintf(`{"title": "x", "start": %q, "end": %q, "announce_before": %s}`,
			at(time.Hour), at(2*time.Hour), bad))
		if status != http.StatusBadRequest || !strings.Contains(body, "announce_before") {
			t.Errorf("announce_before %s: %d %s, want a 400 naming it", bad, status, body)
		}
	}
	var list struct{ Windows []struct{ Title string } }
	a.Call(t, "GET", "/maintenance", "", &list)
	if len(list.Windows) != 3 {
		t.Errorf("%d windows after the refusals, want 3", len(list.Windows))
	}
}
