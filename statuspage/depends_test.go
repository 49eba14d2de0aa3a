package statuspage_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"uptime/internal/apptest"
)

// A site down because a site it depends on is down shows on a status page
// within that site's outage, not as an outage of its own.
func TestPageShowsDependentsWithinTheirDependencysOutage(t *testing.T) {
	a := apptest.Start(t, apptest.Setup{})
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
	defer down.Close()
	var db, web, api struct{ ID int64 }
	a.Call(t, "POST", "/site", fmt.Sprintf(`{"url": %q, "name": "Database"}`, down.URL+"/db"), &db)
	a.Call(t, "POST", "/site", fmt.Sprintf(`{"url": %q, "name": "Web", "depends_on": [%d]}`, down.URL+"/web", db.ID), &web)
	a.Call(t, "POST", "/site", fmt.Sprintf(`{"url": %q, "name": "API", "depends_on": [%d]}`, down.URL+"/api", db.ID), &api)
	a.Call(t, "POST", fmt.Sprintf("/check/%d", web.ID), "", nil) // the database is checked first
	a.Call(t, "POST", fmt.Sprintf("/check/%d", api.ID), "", nil)
	a.Call(t, "POST", "/status-page", fmt.Sprintf(`{"slug": "acme", "title": "Acme", "show_urls": true,
		"groups": [{"name": "All", "sites": [%d, %d, %d]}]}`, web.ID, api.ID, db.ID), nil)

	_, body := a.Do(t, "GET", "/p/acme", "")
	if n := strings.Count(body, `<div class="incident">`); n != 1 {
		t.Errorf("%d outages shown, want the database's alone:\n%s", n, body)
	}
	if !strings.Contains(body, `Down with it: <span class="dependent">Web</span>, <span class="dependent">API</span>`) &&
		!strings.Contains(body, `Down with it: <span class="dependent">API</span>, <span class="dependent">Web</span>`) {
		t.Errorf("the database's outage does not name Web and API as down with it:\n%s", body)
	}
	if strings.Contains(body, "dependency down: Database") {
		t.Error("an outage caused by the database is shown apart")
	}
	_, feed := a.Do(t, "GET", "/p/acme/feed.atom", "")
	if strings.Count(feed, "<entry>") != 1 || !strings.Contains(feed, "went down with it") {
		t.Errorf("the feed does not tell the database's outage alone, with Web and API:\n%s", feed)
	}
}
