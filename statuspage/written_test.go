package statuspage_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"uptime/internal/apptest"
	"uptime/statuspage"
)

// TestWrittenIncidents writes an incident with two updates, sees it on
// the public page at the top, newest update first and its Markdown
// rendered without raw HTML, resolves it, and refuses bad input, storing
// nothing.
func TestWrittenIncidents(t *testing.T) {
	a := apptest.Start(t, apptest.Setup{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	s1, s2 := a.AddSite(t, srv.URL+"/a"), a.AddSite(t, srv.URL+"/b")
	a.Call(t, "POST", "/status-page", fmt.Sprintf(`{"slug": "acme", "title": "Acme status",
		"groups": [{"name": "Web", "sites": [%d]}]}`, s1), nil)
	a.Call(t, "POST", "/status-page", fmt.Sprintf(`{"slug": "other", "title": "Other",
		"groups": [{"name": "API", "sites": [%d]}]}`, s2), nil)

	var in statuspage.WrittenIncident
	a.Call(t, "POST", "/status-page/acme/incident", fmt.Sprintf(`{"title": "Slow checkout", "status": "investigating",
		"message": "We are **looking** into it. <script>alert(1)</script> [more](javascript:alert(2))", "sites": [%d], "impact": "major"}`, s1), &in)
	if in.ID == 0 || in.Status != "investigating" || in.Impact != "major" || len(in.Updates) != 1 || in.ResolvedAt != nil {
		t.Fatalf("created %+v", in)
	}
	path := fmt.Sprintf("/status-page/acme/incident/%d", in.ID)
	a.Call(t, "POST", path+"/update", `{"status": "identified", "message": "A full disk on the *payments* host."}`, &in)
	if in.Status != "identified" || len(in.Updates) != 2 || in.Updates[0].Status != "identified" {
		t.Fatalf("after an update: %+v", in)
	}

	_, _, page := call(t, a, "GET", "/p/acme", "")
	top := page[strings.Index(page, `id="overall"`):strings.Index(page, "<h2>Web</h2>")]
	for _, want := range []string{"Slow checkout", "Identified", "<em>payments</em>", "<strong>looking</strong>", "Affects "} {
		if !strings.Contains(top, want) {
			t.Errorf("the page's top does not show %q:\n%s", want, top)
		}
	}
	if i, j := strings.Index(top, "A full disk"), strings.Index(top, "We are"); i < 0 || j < 0 || i > j {
		t.Errorf("the newest update is not first:\n%s", top)
	}
	for _, banned := range []string{"<script", "javascript:"} {
		if strings.Contains(page, banned) {
			t.Errorf("the page holds %q from a message:\n%s", banned, top)
		}
	}

	// Editing an update, deleting one, and resolving.
	first := in.Updates[1].ID
	a.Call(t, "PATCH", fmt.Sprintf("%s/update/%d", path, first), `{"message": "We are looking into slow checkouts."}`, &in)
	if in.Updates[1].Message != "We are looking into slow checkouts." || in.Updates[1].Status != "investigating" {
		t.Errorf("after a PATCH: %+v", in.Updates)
	}
	a.Call(t, "POST", path+"/update", `{"status": "resolved", "message": "Disk cleared; checkouts are fast again."}`, &in)
	if in.Status != "resolved" || in.ResolvedAt == nil {
		t.Fatalf("after resolving: %+v", in)
	}
	_, _, page = call(t, a, "GET", "/p/acme", "")
	top = page[strings.Index(page, `id="overall"`):strings.Index(page, "<h2>Web</h2>")]
	if strings.Contains(top, "Slow checkout") {
		t.Errorf("a resolved incident is still at the top:\n%s", top)
	}
	past := page[strings.Index(page, "Incidents, last"):]
	if !strings.Contains(past, "Slow checkout") || !strings.Contains(past, "Disk cleared") {
		t.Errorf("the resolved incident is not among the past ones:\n%s", past)
	}
	var listed statuspage.IncidentsResponse
	a.Call(t, "GET", "/status-page/acme/incident", "", &listed)
	if len(listed.Incidents) != 1 || len(listed.Incidents[0].Updates) != 3 {
		t.Errorf("listed %+v", listed)
	}

	// Bad input: a 400 naming the field, and nothing stored.
	other := fmt.Sprintf("/status-page/other/incident/%d", in.ID)
	for _, c := range []struct{ method, path, body, field string }{
		{"POST", "/status-page/acme/incident", `{"title": "x", "status": "panicking", "message": "m"}`, "status"},
		{"POST", "/status-page/acme/incident", `{"title": "x", "status": "identified", "message": "m", "impact": "huge"}`, "impact"},
		{"POST", "/status-page/acme/incident", `{"status": "identified", "message": "m"}`, "title"},
		{"POST", "/status-page/acme/incident", `{"title": "x", "status": "identified"}`, "message"},
		{"POST", "/status-page/acme/incident", `{"title": "x", "status": "identified", "message": "   "}`, "message"},
		{"POST", "/status-page/acme/incident", fmt.Sprintf(`{"title": "x", "status": "identified", "message": "m", "sites": [%d]}`, s2), "sites"},
		{"POST", "/status-page/acme/incident", `{"title": "x", "status": "identified", "message": "m", "colour": "red"}`, "colour"},
		{"POST", path + "/update", `{"status": "done", "message": "m"}`, "status"},
		{"POST", path + "/update", `{"message": "m"}`, "status"},
		{"POST", other + "/update", `{"status": "resolved", "message": "m"}`, "id"},
		{"PATCH", fmt.Sprintf("%s/update/%d", other, first), `{"message": "m"}`, "id"},
		{"PATCH", fmt.Sprintf("%s/update/%d", path, first), `{"status": "later"}`, "status"},
	} {
		status, _, body := call(t, a, c.method, c.path, c.body)
		var e struct{ Code, Message string }
		json.Unmarshal([]byte(body), &e)
		if status != 400 || e.Code != "invalid_argument" || !regexp.MustCompile(`\b`+c.field+`\b`).MatchString(e.Message) {
			t.Errorf("%s %s %s: %d %s, want 400 naming %s", c.method, c.path, c.body, status, body, c.field)
		}
	}
	a.Call(t, "GET", "/status-page/acme/incident", "", &listed)
	if len(listed.Incidents) != 1 || len(listed.Incidents[0].Updates) != 3 || listed.Incidents[0].Updates[2].Message != "We are looking into slow checkouts." {
		t.Errorf("bad input changed the incidents: %+v", listed)
	}
	if status, _, _ := call(t, a, "GET", "/status-page/acme/incident/99999", ""); status != 404 && status != 405 {
		t.Errorf("an unknown incident: %d", status)
	}

	// Deleting: not the only update; the incident goes whole.
	for _, u := range in.Updates[1:] {
		a.Call(t, "DELETE", fmt.Sprintf("%s/update/%d", path, u.ID), "", &in)
	}
	if len(in.Updates) != 1 || in.Status != "resolved" {
		t.Errorf("after deleting two updates: %+v", in)
	}
	if status, _, body := call(t, a, "DELETE", fmt.Sprintf("%s/update/%d", path, in.Updates[0].ID), ""); status != 400 || !regexp.MustCompile(`only one`).MatchString(body) {
		t.Errorf("deleting the only update: %d %s", status, body)
	}
	a.Call(t, "DELETE", path, "", nil)
	a.Call(t, "GET", "/status-page/acme/incident", "", &listed)
	if len(listed.Incidents) != 0 {
		t.Errorf("after deleting it: %+v", listed)
	}
}

// A written incident tells the story of outages of the page's sites: the
// page and its feed show each within it, not apart as well. An outage of
// no site on the page, or one another incident tells, is refused, naming
// it, and nothing is stored.
func TestWrittenIncidentTellsOutages(t *testing.T) {
	a := apptest.Start(t, apptest.Setup{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
	defer srv.Close()
	var shop, cart, web struct{ ID int64 }
	a.Call(t, "POST", "/site", fmt.Sprintf(`{"url": %q, "name": "Shop", "confirmations": 0}`, srv.URL+"/shop"), &shop)
	a.Call(t, "POST", "/site", fmt.Sprintf(`{"url": %q, "name": "Cart", "confirmations": 0}`, srv.URL+"/cart"), &cart)
	a.Call(t, "POST", "/site", fmt.Sprintf(`{"url": %q, "name": "Web", "confirmations": 0}`, srv.URL+"/web"), &web)
	a.Call(t, "POST", "/status-page", fmt.Sprintf(`{"slug": "acme", "title": "Acme",
		"groups": [{"name": "All", "sites": [%d, %d]}]}`, shop.ID, cart.ID), nil)
	outage := map[int64]int64{}
	for _, id := range []int64{shop.ID, cart.ID, web.ID} {
		a.Call(t, "POST", fmt.Sprintf("/check/%d", id), "", nil)
		var list struct{ Incidents []struct{ ID int64 } }
		a.Call(t, "GET", fmt.Sprintf("/incident?site=%d", id), "", &list)
		if len(list.Incidents) != 1 {
			t.Fatalf("site %d: %d outages, want 1", id, len(list.Incidents))
		}
		outage[id] = list.Incidents[0].ID
	}
	_, _, page := call(t, a, "GET", "/p/acme", "")
	if n := strings.Count(page, `<span class="name">Shop</span>`); n != 1 {
		t.Fatalf("the outage of Shop shows %d times before it is told", n)
	}

	var in statuspage.WrittenIncident
	a.Call(t, "POST", "/status-page/acme/incident", fmt.Sprintf(`{"title": "Payments down", "status": "identified",
		"message": "Our payment provider is down.", "outages": [%d]}`, outage[shop.ID]), &in)
	if len(in.Outages) != 1 || in.Outages[0] != outage[shop.ID] {
		t.Fatalf("the incident tells %v, want [%d]", in.Outages, outage[shop.ID])
	}
	_, _, page = call(t, a, "GET", "/p/acme?told", "")
	top := page[:strings.Index(page, "<h2>All</h2>")]
	if n := strings.Count(page, `<span class="name">Shop</span>`); n != 1 || !strings.Contains(top, `<span class="name">Shop</span>`) {
		t.Errorf("the told outage shows %d times, or not within the incident at the top", n)
	}
	if !strings.Contains(page[strings.Index(page, "<h2>All</h2>"):], `<span class="name">Cart</span>`) {
		t.Errorf("the outage told by no incident is not among the page's incidents")
	}

	// Bad input: nothing stored.
	for _, c := range []struct{ body, want string }{
		{`{"title": "x", "status": "investigating", "message": "x", "outages": [999999]}`, "outages[0]: no outage 999999"},
		{fmt.Sprintf(`{"title": "x", "status": "investigating", "message": "x", "outages": [%d, %d]}`, outage[cart.ID], outage[web.ID]),
			fmt.Sprintf("outages[1]: no outage %d of a site on page acme", outage[web.ID])},
		{fmt.Sprintf(`{"title": "x", "status": "investigating", "message": "x", "outages": [%d]}`, outage[shop.ID]),
			fmt.Sprintf("outages[0]: outage %d is told by incident %d already", outage[shop.ID], in.ID)},
	} {
		status, _, body := call(t, a, "POST", "/status-page/acme/incident", c.body)
		if status != http.StatusBadRequest || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d %s, want a 400 saying %q", c.body, status, body, c.want)
		}
	}
	var list statuspage.IncidentsResponse
	a.Call(t, "GET", "/status-page/acme/incident", "", &list)
	if len(list.Incidents) != 1 {
		t.Errorf("%d incidents after the refusals, want 1", len(list.Incidents))
	}

	// Adopting later.
	if status, _, body := call(t, a, "POST", fmt.Sprintf("/status-page/acme/incident/%d/adopt", in.ID), `{"outages": []}`); status != http.StatusBadRequest {
		t.Errorf("adopting nothing: %d %s, want 400", status, body)
	}
	a.Call(t, "POST", fmt.Sprintf("/status-page/acme/incident/%d/adopt", in.ID), fmt.Sprintf(`{"outages": [%d]}`, outage[cart.ID]), &in)
	if len(in.Outages) != 2 {
		t.Errorf("after adopting Cart's outage the incident tells %v", in.Outages)
	}
	status, _, feed := call(t, a, "GET", "/p/acme/feed.atom", "")
	if status != http.StatusOK || strings.Contains(feed, "<title>Shop is down</title>") || strings.Contains(feed, "<title>Cart is down</title>") ||
		!strings.Contains(feed, "Shop is down since") || !strings.Contains(feed, "Cart is down since") {
		t.Errorf("the feed shows the told outages apart, or not within the incident:\n%s", feed)
	}
}
