package site_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// view is a site as GET /site/:siteID shows it.
type view struct {
	ID            int64             `json:"id"`
	URL           string            `json:"url"`
	Name          string            `json:"name"`
	Interval      string            `json:"interval"`
	Timeout       string            `json:"timeout"`
	Method        string            `json:"method"`
	Headers       map[string]string `json:"headers"`
	Body          string            `json:"body"`
	BodyBytes     int               `json:"body_bytes"`
	ExpectStatus  string            `json:"expect_status"`
	Keyword       string            `json:"keyword"`
	KeywordAbsent bool              `json:"keyword_absent"`
	MaxLatency    *string           `json:"max_latency"`
	Confirmations int               `json:"confirmations"`
	Recoveries    int               `json:"recoveries"`
	Paused        bool              `json:"paused"`
	Tags          []string          `json:"tags"`
	Locations     []string          `json:"locations"`
}

func (e *env) view(t *testing.T, id int64) view {
	t.Helper()
	var v view
	e.Call(t, "GET", fmt.Sprintf("/site/%d", id), "", &v)
	return v
}

// defaults is what a site added with its URL alone shows, with the
// service's own defaults.
func defaults(id int64, url, name string) view {
	return view{
		ID: id, URL: url, Name: name, Interval: "5m", Timeout: "10s", Method: "GET",
		Headers: map[string]string{}, ExpectStatus: "100-399", Recoveries: 1,
		Tags: []string{}, Locations: []string{},
	}
}

func TestURLAloneShowsEveryDefault(t *testing.T) {
	e := setup(t, "")
	status, resp := e.Do(t, "POST", "/site", `{"url": "https://encore.dev"}`)
	if status != 200 || strings.TrimSpace(resp) != `{"id":1,"url":"https://encore.dev"}` {
		t.Fatalf("POST /site = %d %s, want the tutorial's answer", status, resp)
	}
	if got, want := e.view(t, 1), defaults(1, "https://encore.dev", "encore.dev"); !reflect.DeepEqual(got, want) {
		t.Fatalf("GET /site/1 =\n %+v\nwant\n %+v", got, want)
	}
	var list struct{ Sites []view }
	e.Call(t, "GET", "/site", "", &list)
	if len(list.Sites) != 1 || !reflect.DeepEqual(list.Sites[0], defaults(1, "https://encore.dev", "encore.dev")) {
		t.Fatalf("GET /site = %+v, want the site with its defaults", list.Sites)
	}
	e.Call(t, "GET", "/site?limit=10", "", &list)
	if len(list.Sites) != 1 || list.Sites[0].Interval != "5m" {
		t.Fatalf("GET /site?limit=10 = %+v, want the site with its settings", list.Sites)
	}
}

func TestEverySettingIsStoredAndShown(t *testing.T) {
	e := setup(t, "")
	body := `{"url": "https://shop.example/health", "name": "  Shop  ", "interval": "30s", "timeout": "5s",
		"method": "post", "headers": {"Accept": "application/json", "Authorization": "Bearer s3cret"},
		"body": "{\"ping\": 1}", "expect_status": "301, 200-299,418", "keyword": "ok", "keyword_absent": false,
		"max_latency": "1.5s", "confirmations": 3, "recoveries": 2, "paused": true,
		"tags": ["prod", "team:web", "prod"], "locations": ["eu-west", "us-east"]}`
	status, resp := e.Do(t, "POST", "/site", body)
	if status != 200 {
		t.Fatalf("POST /site = %d %s", status, resp)
	}
	// The answer echoes what was given, in its normalized form, and hides
	// the credential.
	var echo map[string]any
	json.Unmarshal([]byte(resp), &echo)
	if echo["method"] != "POST" || echo["expect_status"] != "200-299,301,418" || echo["name"] != "Shop" {
		t.Errorf("POST /site answered %s: want the settings normalized", resp)
	}
	if strings.Contains(resp, "s3cret") || strings.Contains(resp, "application/json") || strings.Contains(resp, "ping") {
		t.Errorf("POST /site answered %s: a header's value or the body shows", resp)
	}
	if _, ok := echo["keyword_absent"]; ok {
		t.Errorf("POST /site answered %s: keyword_absent false was given, but is the default", resp)
	}
	want := view{
		ID: 1, URL: "https://shop.example/health", Name: "Shop", Interval: "30s", Timeout: "5s", Method: "POST",
		Headers: map[string]string{"Accept": "xxxxx", "Authorization": "xxxxx"},
		Body:    "xxxxx", BodyBytes: 11, ExpectStatus: "200-299,301,418", Keyword: "ok", MaxLatency: ptr("1.5s"),
		Confirmations: 3, Recoveries: 2, Paused: true, Tags: []string{"prod", "team:web"},
		Locations: []string{"eu-west", "us-east"},
	}
	if got := e.view(t, 1); !reflect.DeepEqual(got, want) {
		t.Fatalf("GET /site/1 =\n %+v\nwant\n %+v", got, want)
	}
	// The key holder's export has them.
	_, export := e.Do(t, "GET", "/site/export", "")
	if !strings.Contains(export, "Bearer s3cret") || !strings.Contains(export, `"application/json"`) || !strings.Contains(export, `ping`) {
		t.Errorf("GET /site/export = %s, want the headers' values and the body", export)
	}
	// The search finds sites by name too.
	var page struct{ Sites []view }
	e.Call(t, "GET", "/site?q=shop&limit=5", "", &page)
	if len(page.Sites) != 1 {
		t.Fatalf("search by name found %d sites, want 1", len(page.Sites))
	}
}

func ptr[T any](v T) *T { return &v }

func TestPatchChangesOnlyWhatItNames(t *testing.T) {
	e := setup(t, "")
	e.Do(t, "POST", "/site", `{"url": "https://a.example", "name": "A", "interval": "1m", "tags": ["x"],
		"headers": {"X-Api-Key": "k-123", "Accept": "text/html"}}`)
	base := e.view(t, 1)

	tests := []struct {
		name  string
		patch string
		want  func(v *view)
	}{
		{"one field", `{"timeout": "3s"}`, func(v *view) { v.Timeout = "3s" }},
		{"another, the first stays", `{"keyword": "Welcome"}`, func(v *view) { v.Keyword = "Welcome" }},
		{"null goes back to the default", `{"interval": null}`, func(v *view) { v.Interval = "5m" }},
		{"pause", `{"paused": true}`, func(v *view) { v.Paused = true }},
		{"resume", `{"paused": false}`, func(v *view) { v.Paused = false }},
		{"masked header keeps its value", `{"headers": {"X-Api-Key": "xxxxx", "Accept": "*/*"}}`, func(v *view) {}},
		{"a body", `{"method": "POST", "body": "hello, world"}`, func(v *view) { v.Method, v.Body, v.BodyBytes = "POST", "xxxxx", 12 }},
		{"masked body keeps its value", `{"body": "xxxxx", "timeout": "4s"}`, func(v *view) { v.Timeout = "4s" }},
		{"back to GET", `{"method": "GET", "body": null}`, func(v *view) { v.Method, v.Body, v.BodyBytes = "GET", "", 0 }},
		{"tags replaced whole", `{"tags": ["y", "z"]}`, func(v *view) { v.Tags = []string{"y", "z"} }},
		{"url", `{"url": "a2.example"}`, func(v *view) { v.URL = "https://a2.example"; v.Name = "A" }},
		{"nothing", `{}`, func(v *view) {}},
	}
	want := base
	want.Headers = map[string]string{"X-Api-Key": "xxxxx", "Accept": "xxxxx"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got view
			e.Call(t, "PATCH", "/site/1", tt.patch, &got)
			tt.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("PATCH %s answered\n %+v\nwant\n %+v", tt.patch, got, want)
			}
			if got := e.view(t, 1); !reflect.DeepEqual(got, want) {
				t.Fatalf("after PATCH %s GET shows\n %+v\nwant\n %+v", tt.patch, got, want)
			}
		})
	}
	// The masked value kept the real one: the key shows masked, and the
	// database still holds it.
	list := e.sites(t)
	if got := list[0].Given.Headers; got["X-Api-Key"] != "k-123" || got["Accept"] != "*/*" {
		t.Fatalf("headers %v after a PATCH that sent X-Api-Key masked and Accept */*, want k-123 kept and */*", got)
	}
	if status, resp := e.Do(t, "PATCH", "/site/99", `{"paused": true}`); status != 404 {
		t.Fatalf("PATCH of a missing site = %d %s, want 404", status, resp)
	}
}

func TestBadSettingsAreRefusedAndChangeNothing(t *testing.T) {
	e := setup(t, "")
	e.Do(t, "POST", "/site", `{"url": "https://existing.example", "interval": "1m"}`)
	e.Do(t, "POST", "/site", `{"url": "https://other.example"}`)
	tests := []struct {
		name, body, message string
	}{
		{"interval below 10s", `{"interval": "9s"}`, "interval must be from 10s to 24h"},
		{"interval above 24h", `{"interval": "25h"}`, "interval must be from 10s to 24h"},
		{"interval not a duration", `{"interval": "often"}`, `interval must be a duration`},
		{"interval a number", `{"interval": 30}`, `interval must be a duration string`},
		{"timeout above the interval", `{"interval": "10s", "timeout": "11s"}`, "timeout must be above 0 and at most 10s (the site's interval), got 11s"},
		{"timeout above the longest", `{"interval": "5m", "timeout": "2m"}`, "timeout must be above 0 and at most 1m (the longest a check may take), got 2m"},
		{"timeout above 60s", `{"interval": "5m", "timeout": "61s"}`, "at most 1m (the longest a check may take), got 1m1s"},
		{"timeout zero", `{"timeout": "0s"}`, "timeout must be above 0"},
		{"unknown method", `{"method": "DELETE"}`, "method must be GET, HEAD or POST"},
		{"method a number", `{"method": 1}`, "method must be a string, not number"},
		{"expect_status not a list", `{"expect_status": "2xx"}`, `expect_status "2xx"`},
		{"expect_status out of range", `{"expect_status": "200-700"}`, "not a status from 100 to 599"},
		{"expect_status backwards", `{"expect_status": "299-200"}`, "ends before it starts"},
		{"expect_status empty part", `{"expect_status": "200,,301"}`, "want statuses and ranges"},
		{"body over 64 KiB", `{"method": "POST", "body": "` + strings.Repeat("x", 64<<10+1) + `"}`, "body must be at most 65536 bytes"},
		{"body with GET", `{"body": "x"}`, "body is sent only with method POST"},
		{"more than 50 headers", `{"headers": {` + manyHeaders(51) + `}}`, "headers must be at most 50"},
		{"header name invalid", `{"headers": {"Bad Name": "x"}}`, "is not a valid header name"},
		{"header set by the check", `{"headers": {"content-length": "5"}}`, "is set by the check itself"},
		{"header value with a newline", `{"headers": {"X-A": "a\nb"}}`, "without control characters"},
		{"headers a list", `{"headers": ["a"]}`, "headers must be an object of strings"},
		{"keyword_absent without keyword", `{"keyword_absent": true}`, "keyword_absent needs a keyword"},
		{"keyword too long", `{"keyword": "` + strings.Repeat("k", 1025) + `"}`, "keyword must be at most 1024 bytes"},
		{"max_latency above the timeout", `{"max_latency": "20s"}`, "max_latency must be above 0 and below the timeout"},
		{"remind_every too short", `{"remind_every": "30s"}`, "remind_every must be from 1m to 7d"},
		{"remind_every too long", `{"remind_every": "200h"}`, "remind_every must be from 1m"},
		{"confirmations above 10", `{"confirmations": 11}`, "confirmations must be from 0 to 10"},
		{"confirmations negative", `{"confirmations": -1}`, "confirmations must be from 0 to 10"},
		{"confirmations not whole", `{"confirmations": 1.5}`, "confirmations must be a whole number"},
		{"recoveries zero", `{"recoveries": 0}`, "recoveries must be from 1 to 10"},
		{"paused a string", `{"paused": "yes"}`, "paused must be true or false, not string"},
		{"tag with a space", `{"tags": ["a b"]}`, `tags: "a b" must match`},
		{"too many tags", `{"tags": [` + manyTags(21) + `]}`, "tags must be at most 20"},
		{"location in capitals", `{"locations": ["EU"]}`, `locations: "EU" must be 1 to 32 of a-z and 0-9`},
		{"location ending in a dash", `{"locations": ["eu-"]}`, `locations: "eu-" must be 1 to 32 of a-z and 0-9`},
		{"location too long", `{"locations": ["` + strings.Repeat("a", 33) + `"]}`, `is longer than 32`},
		{"quorum of none", `{"quorum": 0}`, `quorum must be from 1 to 32`},
		{"quorum beyond the locations", `{"locations": ["eu", "us"], "quorum": 3}`, `quorum 3 is more than the site's 2 locations`},
		{"name too long", `{"name": "` + strings.Repeat("n", 201) + `"}`, "name must be at most 200 bytes"},
		{"name with a control character", `{"name": "a\u0007b"}`, "name must not contain control characters"},
		{"unknown field", `{"intervall": "1m"}`, `unknown field "intervall"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.sites(t)
			add := strings.Replace(tt.body, "{", `{"url": "https://new.example", `, 1)
			for _, req := range []struct{ method, path, body string }{
				{"POST", "/site", add},
				{"PATCH", "/site/1", tt.body},
			} {
				status, resp := e.Do(t, req.method, req.path, req.body)
				var got struct{ Code, Message string }
				json.Unmarshal([]byte(resp), &got)
				if status != 400 || got.Code != "invalid_argument" || !strings.Contains(got.Message, tt.message) {
					t.Errorf("%s %s %.80s = %d %s, want 400 invalid_argument saying %q", req.method, req.path, req.body, status, resp, tt.message)
				}
			}
			if after := e.sites(t); !reflect.DeepEqual(before, after) {
				t.Errorf("the sites changed: before %+v, after %+v", before, after)
			}
		})
	}
	// A PATCH may not make the URL one already on the list, nor null.
	if status, resp := e.Do(t, "PATCH", "/site/1", `{"url": "other.example"}`); status != 409 {
		t.Errorf("PATCH to a URL already monitored = %d %s, want 409", status, resp)
	}
	if status, resp := e.Do(t, "PATCH", "/site/1", `{"url": null}`); status != 400 {
		t.Errorf("PATCH url null = %d %s, want 400", status, resp)
	}
}

func manyHeaders(n int) string {
	var parts []string
	for i := range n {
		parts = append(parts, fmt.Sprintf(`"X-H%d": "v"`, i))
	}
	return strings.Join(parts, ",")
}

func manyTags(n int) string {
	var parts []string
	for i := range n {
		parts = append(parts, fmt.Sprintf(`"t%d"`, i))
	}
	return strings.Join(parts, ",")
}
