package app_test

import (
	"fmt"
	"strings"
	"testing"

	"uptime/internal/apptest"
)

// TestBodiesMustBeValidText sends every endpoint that takes a JSON body
// text that encoding/json would rewrite unseen (bytes that are not UTF-8,
// an escaped unpaired surrogate) or reduce (a field given twice): each is
// a 400 that says where, and changes nothing.
func TestBodiesMustBeValidText(t *testing.T) {
	a := apptest.Start(t, apptest.Setup{})
	site := a.AddSite(t, "http://127.0.0.1:9/ok")
	a.Call(t, "POST", "/status-page", `{"slug": "all", "title": "All"}`, nil)
	for _, ep := range []struct{ method, path, good string }{
		{"POST", "/site", `{"url": "http://127.0.0.1:9/new", "name": "NAME"}`},
		{"PATCH", fmt.Sprintf("/site/%d", site), `{"name": "NAME"}`},
		{"POST", "/site/import", `{"sites": [{"url": "http://127.0.0.1:9/imported", "name": "NAME"}]}`},
		{"POST", "/channel", `{"name": "NAME", "url": "http://127.0.0.1:9/hook"}`},
		{"POST", "/maintenance", `{"title": "NAME", "start": "2030-01-01T00:00:00Z", "end": "2030-01-01T01:00:00Z"}`},
		{"POST", "/status-page", `{"slug": "other", "title": "NAME"}`},
		{"PATCH", "/status-page/all", `{"title": "NAME"}`},
		{"POST", "/slack.Notify", `{"text": "NAME"}`},
	} {
		for _, bad := range []struct{ name, body, want string }{
			{"a byte that is not UTF-8", strings.Replace(ep.good, "NAME", "Shop\xff\xfe", 1), "not valid UTF-8: byte 0xff at offset"},
			{"an unpaired surrogate", strings.Replace(ep.good, "NAME", `Shop\ud800`, 1), `unpaired surrogate \ud800 at offset`},
			{"a field given twice", strings.Replace(ep.good, `"NAME"`, `"one", `+nameField(ep.good)+`: "two"`, 1), "twice"},
		} {
			before := snapshot(t, a)
			status, msg := a.Refusal(t, ep.method, ep.path, bad.body)
			if status != 400 || !strings.Contains(msg, bad.want) {
				t.Errorf("%s %s with %s = %d %q, want 400 with %q", ep.method, ep.path, bad.name, status, msg, bad.want)
			}
			if after := snapshot(t, a); after != before {
				t.Errorf("%s %s with %s changed what is stored:\nbefore %s\nafter  %s", ep.method, ep.path, bad.name, before, after)
			}
		}
	}
}

// nameField returns the name of the field holding "NAME" in body.
func nameField(body string) string {
	i := strings.Index(body, `"NAME"`)
	j := strings.LastIndex(body[:i], `": `)
	k := strings.LastIndex(body[:j], `"`)
	return body[k : j+1]
}

// snapshot is what the lists of sites, channels, windows and pages say.
func snapshot(t *testing.T, a *apptest.App) string {
	t.Helper()
	var out strings.Builder
	for _, path := range []string{"/site", "/channel", "/maintenance", "/status-page"} {
		_, body := a.Do(t, "GET", path, "")
		out.WriteString(body)
	}
	return out.String()
}
