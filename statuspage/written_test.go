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
