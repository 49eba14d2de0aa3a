package statuspage_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"uptime/internal/apptest"
	"uptime/internal/pgtest"
	"uptime/internal/wait"
)

// A page with a domain is served at / for that Host, with its history and
// feeds, and nothing else is; another instance of the same database
// admits the domain without a restart. A domain another page has, or one
// that is no host name, is refused, naming it; without it, the host name
// is refused again.
func TestPageOwnDomain(t *testing.T) {
	prefix := pgtest.Prefix(t)
	a := apptest.Start(t, apptest.Setup{Prefix: prefix})
	b := apptest.Start(t, apptest.Setup{Prefix: prefix})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	id := a.AddSite(t, srv.URL)
	const host = "status.acme.test"
	if status, _, _ := call(t, a, "GET", "/", "", "Host", host); status != http.StatusForbidden {
		t.Fatalf("GET / for %s before any page has it: %d, want 403", host, status)
	}
	a.Call(t, "POST", "/status-page", fmt.Sprintf(`{"slug": "acme", "title": "Acme status", "domain": "Status.Acme.Test.",
		"groups": [{"name": "All", "sites": [%d]}]}`, id), nil)
	var p struct{ Domain string }
	a.Call(t, "GET", "/status-page/acme", "", &p)
	if p.Domain != host {
		t.Errorf("domain %q, want %q", p.Domain, host)
	}
	for _, c := range []struct {
		path, want string
	}{{"/", "<h1>Acme status</h1>"}, {"/history", "<h1>Acme status</h1>"}, {"/feed.atom", "<feed"}, {"/feed.rss", "<rss"},
		{"/p/acme/history", "<h1>Acme status</h1>"}} {
		status, _, body := call(t, a, "GET", c.path, "", "Host", "STATUS.acme.test:8443")
		if status != http.StatusOK || !strings.Contains(body, c.want) {
			t.Errorf("GET %s for %s: %d, want 200 with %q", c.path, host, status, c.want)
		}
	}
	for _, c := range []struct{ method, path string }{{"GET", "/site"}, {"GET", "/status"}, {"GET", "/p/other"}, {"POST", "/"},
		{"GET", "/frontend/"}} {
		if status, _, _ := call(t, a, c.method, c.path, "", "Host", host); status != http.StatusNotFound {
			t.Errorf("%s %s for %s: %d, want 404", c.method, c.path, host, status)
		}
	}
	// The other instance admits it within a few seconds.
	wait.Until(t, 15*time.Second, "the other instance does not serve the page's domain", func() bool {
		status, _, body := call(t, b, "GET", "/", "", "Host", host)
		return status == http.StatusOK && strings.Contains(body, "<h1>Acme status</h1>")
	})

	// Bad domains: nothing stored.
	for _, c := range []struct{ body, want string }{
		{`{"slug": "other", "title": "Other", "domain": "status.acme.test"}`, "domain: status.acme.test is the domain of page acme already"},
		{`{"slug": "other", "title": "Other", "domain": "localhost"}`, "domain must be a host name"},
		{`{"slug": "other", "title": "Other", "domain": "10.0.0.1"}`, "domain must be a host name"},
		{`{"slug": "other", "title": "Other", "domain": "status.acme.test:80"}`, "domain must be a host name"},
		{`{"slug": "other", "title": "Other", "domain": "a b.test"}`, "domain must be a host name"},
	} {
		status, _, body := call(t, a, "POST", "/status-page", c.body)
		if status != http.StatusBadRequest || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d %s, want a 400 saying %q", c.body, status, body, c.want)
		}
	}
	if status, _, _ := call(t, a, "GET", "/status-page/other", ""); status != http.StatusNotFound {
		t.Errorf("a page was stored from a refused request: %d", status)
	}
	a.Call(t, "PATCH", "/status-page/acme", `{"domain": null}`, nil)
	if status, _, _ := call(t, a, "GET", "/", "", "Host", host); status != http.StatusForbidden {
		t.Errorf("GET / for %s once the page has no domain: %d, want 403", host, status)
	}
}
