package site_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"gorm.io/gorm"

	"uptime/internal/api"
	"uptime/internal/apptest"
	"uptime/internal/dbutil"
	"uptime/internal/pgtest"
	"uptime/site"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// env is a site service on a fresh database, served over real HTTP.
type env struct {
	apptest.Client
	svc   *site.Service
	db    *gorm.DB
	dbURL string
}

func setup(t *testing.T, apiKey string) *env {
	t.Helper()
	dbURL := pgtest.NewDatabase(t)
	if err := dbutil.Migrate(dbURL, site.Migrations, "migrations"); err != nil {
		t.Fatal(err)
	}
	db, err := site.OpenDB(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	sqlDB, _ := db.DB()
	t.Cleanup(func() { sqlDB.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := site.New(db)
	srv := api.NewServer(log, apiKey)
	svc.Register(srv)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return &env{Client: apptest.Client{URL: ts.URL}, svc: svc, db: db, dbURL: dbURL}
}

// sites returns what the database holds, for checking that a refused
// request changed nothing.
func (e *env) sites(t *testing.T) []*site.Entry {
	t.Helper()
	list, err := e.svc.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return list.Sites
}

func errorCode(t *testing.T, body string) string {
	t.Helper()
	var e struct {
		Code    string          `json:"code"`
		Message string          `json:"message"`
		Details json.RawMessage `json:"details"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("error body %q is not JSON: %v", body, err)
	}
	if e.Message == "" || string(e.Details) != "null" {
		t.Errorf("error body %s: want a message and \"details\": null", body)
	}
	return e.Code
}

func TestAddGetListDelete(t *testing.T) {
	e := setup(t, "")
	tests := []struct {
		name, url, stored string
	}{
		{"with scheme", "https://encore.dev", "https://encore.dev"},
		{"without scheme gets https", "google.com", "https://google.com"},
		{"http with port and path", "http://localhost:8080/health?x=1", "http://localhost:8080/health?x=1"},
		{"host with port, no scheme", "localhost:9000", "https://localhost:9000"},
		{"surrounding spaces trimmed", "  example.org  ", "https://example.org"},
		{"scheme and host in one case", "HTTPS://Example.COM/Path?Q=A", "https://example.com/Path?Q=A"},
		{"default http port dropped", "http://example.net:80/x", "http://example.net/x"},
		{"default https port dropped", "https://example.io:443", "https://example.io"},
		{"international name in punycode", "https://bücher.example/", "https://xn--bcher-kva.example/"},
		{"IPv6 host", "http://[::1]:8080/", "http://[::1]:8080/"},
	}
	var added []site.Site
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, _ := json.Marshal(map[string]string{"url": tt.url})
			status, resp := e.Do(t, "POST", "/site", string(body))
			if status != 200 {
				t.Fatalf("POST /site %s: %d %s", body, status, resp)
			}
			var s site.Site
			if err := json.Unmarshal([]byte(resp), &s); err != nil {
				t.Fatal(err)
			}
			if s.ID == 0 || s.URL != tt.stored {
				t.Fatalf("added %+v, want a new id and url %q", s, tt.stored)
			}
			added = append(added, s)

			status, resp = e.Do(t, "GET", fmt.Sprintf("/site/%d", s.ID), "")
			var got site.Site
			json.Unmarshal([]byte(resp), &got)
			if status != 200 || got != s {
				t.Fatalf("GET /site/%d = %d %s, want %+v", s.ID, status, resp, s)
			}
		})
	}

	status, resp := e.Do(t, "GET", "/site", "")
	var list struct{ Sites []site.Site }
	if err := json.Unmarshal([]byte(resp), &list); err != nil || status != 200 {
		t.Fatalf("GET /site = %d %s", status, resp)
	}
	if !reflect.DeepEqual(list.Sites, added) {
		t.Fatalf("GET /site = %+v, want %+v in order", list.Sites, added)
	}

	status, resp = e.Do(t, "DELETE", fmt.Sprintf("/site/%d", added[0].ID), "")
	if status != 200 || resp != "" {
		t.Fatalf("DELETE = %d %q, want 200 and an empty body", status, resp)
	}
	if status, _ := e.Do(t, "GET", fmt.Sprintf("/site/%d", added[0].ID), ""); status != 404 {
		t.Errorf("GET of a deleted site = %d, want 404", status)
	}
	if n := len(e.sites(t)); n != len(added)-1 {
		t.Errorf("%d sites after a delete, want %d", n, len(added)-1)
	}
}

func TestEmptyListIsAnArray(t *testing.T) {
	e := setup(t, "")
	status, resp := e.Do(t, "GET", "/site", "")
	if status != 200 || strings.TrimSpace(resp) != `{"sites":[]}` {
		t.Fatalf("GET /site on an empty list = %d %s, want {\"sites\":[]}", status, resp)
	}
}

func TestListPagesAndSearch(t *testing.T) {
	e := setup(t, "")
	var all []site.Site
	for i := range 25 {
		u := fmt.Sprintf("https://site-%02d.example", i)
		if i%5 == 0 {
			u = fmt.Sprintf("https://Shop-%02d.example/a_b", i)
		}
		var s site.Site
		e.Call(t, "POST", "/site", fmt.Sprintf(`{"url": %q}`, u), &s)
		all = append(all, s)
	}
	type page struct {
		Sites []site.Site
		Total int64
		Next  *int
	}
	var got []site.Site
	path := "/site?limit=10"
	for pages := 0; ; pages++ {
		if pages > 3 {
			t.Fatal("paging does not end")
		}
		var p page
		e.Call(t, "GET", path, "", &p)
		if p.Total != 25 || len(p.Sites) > 10 {
			t.Fatalf("GET %s: total %d, %d sites; want 25 in all, at most 10", path, p.Total, len(p.Sites))
		}
		got = append(got, p.Sites...)
		if p.Next == nil {
			break
		}
		path = fmt.Sprintf("/site?limit=10&after=%d", *p.Next)
	}
	if !reflect.DeepEqual(got, all) {
		t.Fatalf("pages held %v, want every site once, oldest first: %v", got, all)
	}

	searches := []struct {
		q    string
		want []site.Site
	}{
		{"shop", []site.Site{all[0], all[5], all[10], all[15], all[20]}},
		{"SITE-1", append(append([]site.Site{}, all[11:15]...), all[16:20]...)},
		{"site-19", all[19:20]},
		{"a_b", []site.Site{all[0], all[5], all[10], all[15], all[20]}},
		{"a%b", nil},  // % is itself, not a wildcard
		{"p_-0", nil}, // and so is _
		{"nothing like it", nil},
	}
	for _, s := range searches {
		var p page
		e.Call(t, "GET", "/site?q="+url.QueryEscape(s.q), "", &p)
		if int(p.Total) != len(s.want) || len(p.Sites) != len(s.want) || (len(s.want) > 0 && !reflect.DeepEqual(p.Sites, s.want)) {
			t.Errorf("search %q: total %d, sites %v; want %v", s.q, p.Total, p.Sites, s.want)
		}
	}

	// Without paging parameters, the tutorial's response: every site, nothing else.
	status, body := e.Do(t, "GET", "/site", "")
	var plain map[string]json.RawMessage
	json.Unmarshal([]byte(body), &plain)
	var sites []site.Site
	json.Unmarshal(plain["sites"], &sites)
	if status != 200 || len(plain) != 1 || !reflect.DeepEqual(sites, all) {
		t.Fatalf("GET /site = %d %s, want {\"sites\": [all 25]}", status, body)
	}
}

func TestBadRequestsChangeNothing(t *testing.T) {
	e := setup(t, "")
	status, resp := e.Do(t, "POST", "/site", `{"url": "https://existing.example"}`)
	if status != 200 {
		t.Fatalf("seed: %d %s", status, resp)
	}
	var existing site.Site
	json.Unmarshal([]byte(resp), &existing)

	tests := []struct {
		name, method, path, body string
		status                   int
		code                     string
		message                  string // a part of the message
	}{
		{"malformed JSON", "POST", "/site", `{"url": `, 400, "invalid_argument", "malformed JSON"},
		{"empty body", "POST", "/site", ``, 400, "invalid_argument", "empty"},
		{"blank body", "POST", "/site", "  \n", 400, "invalid_argument", "empty"},
		{"array body", "POST", "/site", `["a.com"]`, 400, "invalid_argument", "JSON object"},
		{"string body", "POST", "/site", `"a.com"`, 400, "invalid_argument", "JSON object"},
		{"url is a number", "POST", "/site", `{"url": 5}`, 400, "invalid_argument", "must be a string, not number"},
		{"url is null", "POST", "/site", `{"url": null}`, 400, "invalid_argument", "url is required"},
		{"url missing", "POST", "/site", `{}`, 400, "invalid_argument", "url is required"},
		{"url blank", "POST", "/site", `{"url": "   "}`, 400, "invalid_argument", "url is required"},
		{"trailing data", "POST", "/site", `{"url": "a.com"} {}`, 400, "invalid_argument", "after the JSON"},
		{"ftp scheme", "POST", "/site", `{"url": "ftp://files.example"}`, 400, "invalid_argument", "must use one of http, https, tcp, tls"},
		{"invalid scheme", "POST", "/site", `{"url": "invalid://scheme"}`, 400, "invalid_argument", "must use one of http, https, tcp, tls"},
		{"javascript", "POST", "/site", `{"url": "javascript:alert(1)"}`, 400, "invalid_argument", "not a valid URL"},
		{"tcp without a port", "POST", "/site", `{"url": "tcp://db.example"}`, 400, "invalid_argument", "needs a port"},
		{"tcp with a path", "POST", "/site", `{"url": "tcp://db.example:5432/x"}`, 400, "invalid_argument", "no path or query"},
		{"tls with a query", "POST", "/site", `{"url": "tls://db.example:443?x=1"}`, 400, "invalid_argument", "no path or query"},
		{"tcp with a password", "POST", "/site", `{"url": "tcp://u:s3cret@db.example:5432"}`, 400, "invalid_argument", "no user information"},
		{"send on http", "POST", "/site", `{"url": "https://a.example", "send": "PING"}`, 400, "invalid_argument", "send is a setting of tcp://, tls://, ws:// and wss:// sites, not of https:// ones"},
		{"expect on http", "POST", "/site", `{"url": "http://a.example", "expect": "ok"}`, 400, "invalid_argument", "expect is a setting of tcp"},
		{"method on tcp", "POST", "/site", `{"url": "tcp://db.example:5432", "method": "POST"}`, 400, "invalid_argument", "method is a setting of http:// and https:// sites, not of tcp:// ones"},
		{"keyword on tls", "POST", "/site", `{"url": "tls://db.example:443", "keyword": "ok"}`, 400, "invalid_argument", "keyword is a setting of http"},
		{"headers on tcp", "POST", "/site", `{"url": "tcp://db.example:5432", "headers": {"X-A": "b"}}`, 400, "invalid_argument", "headers is a setting of http"},
		{"starttls on a port of no protocol", "POST", "/site", `{"url": "starttls://mail.example:8025"}`, 400, "invalid_argument", "starttls_protocol is needed on port 8025"},
		{"starttls with an unknown protocol", "POST", "/site", `{"url": "starttls://mail.example:8025", "starttls_protocol": "ftp"}`, 400, "invalid_argument", "starttls_protocol must be one of smtp, imap, pop3"},
		{"starttls_protocol on tls", "POST", "/site", `{"url": "tls://mail.example:465", "starttls_protocol": "smtp"}`, 400, "invalid_argument", "starttls_protocol is a setting of starttls:// sites, not of tls:// ones"},
		{"send on starttls", "POST", "/site", `{"url": "starttls://mail.example:587", "send": "x"}`, 400, "invalid_argument", "send is a setting of tcp://, tls://, ws:// and wss:// sites, not of starttls:// ones"},
		{"grpc without a port", "POST", "/site", `{"url": "grpc://api.example"}`, 400, "invalid_argument", "needs a port"},
		{"grpc_service on tcp", "POST", "/site", `{"url": "tcp://db.example:5432", "grpc_service": "x"}`, 400, "invalid_argument", "grpc_service is a setting of grpc:// and grpcs:// sites"},
		{"method on ws", "POST", "/site", `{"url": "ws://live.example/feed", "method": "POST"}`, 400, "invalid_argument", "method is a setting of http:// and https:// sites, not of ws:// ones"},
		{"icmp with a port", "POST", "/site", `{"url": "icmp://gw.example:7"}`, 400, "invalid_argument", "no port"},
		{"icmp count", "POST", "/site", `{"url": "icmp://gw.example", "count": 11}`, 400, "invalid_argument", "count must be from 1 to 10"},
		{"icmp max_loss", "POST", "/site", `{"url": "icmp://gw.example", "max_loss": 101}`, 400, "invalid_argument", "max_loss must be a percent"},
		{"count on tcp", "POST", "/site", `{"url": "tcp://db.example:5432", "count": 3}`, 400, "invalid_argument", "count is a setting of icmp:// sites"},
		{"assertion of a bad JSONPath", "POST", "/site", `{"url": "https://a.example", "assertions": [{"source": "status", "op": "==", "value": 200}, {"source": "json", "path": "$[", "op": "exists"}]}`, 400, "invalid_argument", "is not a JSONPath (RFC 9535)"},
		{"assertion of a long JSONPath", "POST", "/site", `{"url": "https://a.example", "assertions": [{"source": "json", "path": "$` + strings.Repeat(".a", 600) + `", "op": "exists"}]}`, 400, "invalid_argument", "assertions[0].path: must be at most 1024 bytes"},
		{"assertion of an unknown op", "POST", "/site", `{"url": "https://a.example", "assertions": [{"source": "json", "path": "$.a", "op": "~="}]}`, 400, "invalid_argument", "assertions[0].op: a json assertion's op is one of"},
		{"assertion of a bad regexp", "POST", "/site", `{"url": "https://a.example", "assertions": [{"source": "body", "op": "matches", "value": "(a"}]}`, 400, "invalid_argument", "is not a regular expression (RE2)"},
		{"assertion of a latency not a duration", "POST", "/site", `{"url": "https://a.example", "assertions": [{"source": "latency", "op": "<", "value": 800}]}`, 400, "invalid_argument", "assertions[0].value: a latency is a duration"},
		{"assertion ordering text", "POST", "/site", `{"url": "https://a.example", "assertions": [{"source": "json", "path": "$.a", "op": "<", "value": "abc"}]}`, 400, "invalid_argument", "compares numbers: give a number"},
		{"assertion exists with a value", "POST", "/site", `{"url": "https://a.example", "assertions": [{"source": "header", "path": "X-A", "op": "exists", "value": 1}]}`, 400, "invalid_argument", "assertions[0].value: exists takes no value"},
		{"assertion of an unknown source", "POST", "/site", `{"url": "https://a.example", "assertions": [{"source": "cookie", "op": "exists"}]}`, 400, "invalid_argument", "assertions[0].source: must be one of"},
		{"assertions on tcp", "POST", "/site", `{"url": "tcp://db.example:5432", "assertions": [{"source": "status", "op": "==", "value": 200}]}`, 400, "invalid_argument", "assertions is a setting of http:// and https:// sites"},
		{"assertions not a list", "POST", "/site", `{"url": "https://a.example", "assertions": "yes"}`, 400, "invalid_argument", "assertions must be a list of objects"},
		{"send with a NUL", "POST", "/site", `{"url": "tcp://db.example:5432", "send": "a\u0000b"}`, 400, "invalid_argument", "control characters"},
		{"send too long", "POST", "/site", `{"url": "tcp://db.example:5432", "send": "` + strings.Repeat("x", 5000) + `"}`, 400, "invalid_argument", "at most 4096 bytes"},
		{"no host", "POST", "/site", `{"url": "https://"}`, 400, "invalid_argument", "no host"},
		{"no host, http:", "POST", "/site", `{"url": "http:example.com"}`, 400, "invalid_argument", "no host"},
		{"port only", "POST", "/site", `{"url": "https://:443"}`, 400, "invalid_argument", "no host"},
		{"space in host", "POST", "/site", `{"url": "https://exa mple.com"}`, 400, "invalid_argument", "not a valid URL"},
		{"port out of range", "POST", "/site", `{"url": "https://example.com:99999"}`, 400, "invalid_argument", "invalid port"},
		{"url too long", "POST", "/site", `{"url": "https://example.com/` + strings.Repeat("a", 3000) + `"}`, 400, "invalid_argument", "limit"},
		{"oversized body", "POST", "/site", `{"url": "https://example.com", "pad": "` + strings.Repeat("x", 1<<20) + `"}`, 400, "invalid_argument", "larger than"},
		{"duplicate", "POST", "/site", `{"url": "https://existing.example"}`, 409, "already_exists", "already monitored"},
		{"duplicate without scheme", "POST", "/site", `{"url": "existing.example"}`, 409, "already_exists", "already monitored"},
		{"duplicate in other case with default port", "POST", "/site", `{"url": "HTTPS://EXISTING.example:443"}`, 409, "already_exists", "already monitored"},
		{"get id with a plus", "GET", "/site/+1", "", 400, "invalid_argument", "siteID"},
		{"get zero-padded id", "GET", "/site/01", "", 400, "invalid_argument", "siteID"},
		{"search with invalid UTF-8", "GET", "/site?q=%ff", "", 400, "invalid_argument", "UTF-8"},
		{"path with invalid UTF-8", "GET", "/site/%ff", "", 400, "invalid_argument", "UTF-8"},
		{"long bad value is not echoed whole", "GET", "/site?after=" + strings.Repeat("x", 1000), "", 400, "invalid_argument", strings.Repeat("x", 200) + "…"},
		{"get non-numeric id", "GET", "/site/abc", "", 400, "invalid_argument", "siteID"},
		{"get zero id", "GET", "/site/0", "", 400, "invalid_argument", "siteID"},
		{"get negative id", "GET", "/site/-1", "", 400, "invalid_argument", "siteID"},
		{"get huge id", "GET", "/site/99999999999999999999", "", 400, "invalid_argument", "siteID"},
		{"get missing site", "GET", "/site/424242", "", 404, "not_found", "site 424242 not found"},
		{"delete non-numeric id", "DELETE", "/site/x1", "", 400, "invalid_argument", "siteID"},
		{"page limit zero", "GET", "/site?limit=0", "", 400, "invalid_argument", "limit must be a number from 1 to 1000"},
		{"page limit too big", "GET", "/site?limit=1001", "", 400, "invalid_argument", "limit"},
		{"page limit not a number", "GET", "/site?limit=ten", "", 400, "invalid_argument", `got \"ten\"`},
		{"page after negative", "GET", "/site?after=-1", "", 400, "invalid_argument", "after must be a site id"},
		{"page after not a number", "GET", "/site?after=x", "", 400, "invalid_argument", "after must be a site id"},
		{"search too long", "GET", "/site?q=" + strings.Repeat("a", 101), "", 400, "invalid_argument", "at most 100"},
		{"unknown route", "GET", "/nowhere", "", 404, "not_found", "no endpoint"},
		{"unknown method", "PUT", "/site/1", `{"url": "a.com"}`, 405, "unimplemented", "use GET or HEAD or PATCH or DELETE"},
		{"trailing slash", "POST", "/site/", `{"url": "a.com"}`, 404, "not_found", "no endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.sites(t)
			status, resp := e.Do(t, tt.method, tt.path, tt.body, "Content-Type", "application/json")
			if status != tt.status {
				t.Errorf("%s %s = %d %s, want %d", tt.method, tt.path, status, resp, tt.status)
			}
			if code := errorCode(t, resp); code != tt.code {
				t.Errorf("code = %q, want %q (%s)", code, tt.code, resp)
			}
			if !strings.Contains(resp, tt.message) {
				t.Errorf("message %s does not say %q", resp, tt.message)
			}
			if after := e.sites(t); !reflect.DeepEqual(before, after) {
				t.Errorf("the sites changed: before %v, after %v", before, after)
			}
		})
	}
	if got := e.sites(t); len(got) != 1 || got[0].Site != existing {
		t.Fatalf("sites = %v, want only %+v", got, existing)
	}
	// The tutorial's delete answers 200 for a site that is not there, so a
	// retried delete is harmless.
	if status, resp := e.Do(t, "DELETE", "/site/424242", ""); status != 200 || resp != "" {
		t.Fatalf("DELETE of a missing site = %d %q, want 200 and an empty body", status, resp)
	}
	status, resp = e.Do(t, "PATCH", "/site", "")
	if status != 405 {
		t.Fatalf("PATCH /site = %d %s, want 405", status, resp)
	}
	for _, tt := range []struct{ method, path, allow string }{
		{"PUT", "/site/1", "GET, HEAD, PATCH, DELETE"},
		{"PATCH", "/site", "GET, HEAD, POST"},
		{"DELETE", "/ping/example.com", "GET, HEAD, POST"},
	} {
		req, _ := http.NewRequest(tt.method, e.URL+tt.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Allow"); resp.StatusCode != 405 && tt.path != "/ping/example.com" || resp.StatusCode == 405 && got != tt.allow {
			t.Errorf("%s %s = %d with Allow %q, want 405 with Allow %q", tt.method, tt.path, resp.StatusCode, got, tt.allow)
		}
	}
}

func TestAPIKey(t *testing.T) {
	const key = "s3cret-key"
	e := setup(t, key)
	tests := []struct {
		name, method, path, body string
		header                   []string
		status                   int
		code                     string
	}{
		{"add without key", "POST", "/site", `{"url": "a.example"}`, nil, 401, "unauthenticated"},
		{"add with wrong key", "POST", "/site", `{"url": "a.example"}`, []string{"Authorization", "Bearer nope"}, 401, "unauthenticated"},
		{"add with key as basic auth", "POST", "/site", `{"url": "a.example"}`, []string{"Authorization", "Basic " + key}, 401, "unauthenticated"},
		{"add with a longer key", "POST", "/site", `{"url": "a.example"}`, []string{"Authorization", "Bearer " + key + "x"}, 401, "unauthenticated"},
		{"delete without key", "DELETE", "/site/1", "", nil, 401, "unauthenticated"},
		{"export without key", "GET", "/site/export", "", nil, 401, "unauthenticated"},
		{"add with key", "POST", "/site", `{"url": "a.example"}`, []string{"Authorization", "Bearer " + key}, 200, ""},
		{"list without key", "GET", "/site", "", nil, 200, ""},
		{"get without key", "GET", "/site/1", "", nil, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.sites(t)
			status, resp := e.Do(t, tt.method, tt.path, tt.body, tt.header...)
			if status != tt.status {
				t.Fatalf("%s %s = %d %s, want %d", tt.method, tt.path, status, resp, tt.status)
			}
			if tt.code == "" {
				return
			}
			if code := errorCode(t, resp); code != tt.code {
				t.Errorf("code = %q, want %q", code, tt.code)
			}
			if after := e.sites(t); !reflect.DeepEqual(before, after) {
				t.Errorf("a refused request changed the sites: %v → %v", before, after)
			}
		})
	}
}

// TestCORS: a browser on any origin may read while reads are open
// (Access-Control-Allow-Origin: *), but a change from a page elsewhere is
// not offered the header: only what is public is open to every origin.
func TestCORS(t *testing.T) {
	e := setup(t, "")
	preflight := func(method string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("OPTIONS", e.URL+"/site", nil)
		req.Header.Set("Origin", "https://dashboard.example")
		req.Header.Set("Access-Control-Request-Method", method)
		req.Header.Set("Access-Control-Request-Headers", "content-type, authorization")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("preflight status %d", resp.StatusCode)
		}
		return resp
	}
	resp := preflight("GET")
	for h, want := range map[string]string{
		"Access-Control-Allow-Origin":  "*",
		"Access-Control-Allow-Headers": "content-type, authorization",
	} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	if !strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "DELETE") {
		t.Errorf("Access-Control-Allow-Methods = %q, want DELETE among them", resp.Header.Get("Access-Control-Allow-Methods"))
	}
	if got := preflight("POST").Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("a change's preflight from another origin: Access-Control-Allow-Origin = %q, want none", got)
	}

	status, _ := e.Do(t, "GET", "/site", "", "Origin", "https://dashboard.example")
	if status != 200 {
		t.Fatalf("cross-origin GET = %d", status)
	}
}

// A site of another kind than http's is a host and a port under its
// kind's scheme, with its kind's settings alone: GET shows its kind and
// hides what it sends, as a body is hidden; the export gives it back, and
// a PATCH that sends the hidden value back keeps it.
func TestSitesOfOtherKinds(t *testing.T) {
	e := setup(t, "")
	add := func(body string) map[string]any {
		t.Helper()
		var added struct{ ID int64 }
		e.Call(t, "POST", "/site", body, &added)
		var got map[string]any
		e.Call(t, "GET", fmt.Sprintf("/site/%d", added.ID), "", &got)
		return got
	}
	tcp := add(`{"url": "TCP://DB.Example:5432/", "send": "AUTH s3cret\r\n", "expect": "+OK"}`)
	tls := add(`{"url": "tls://mail.example:465"}`)
	if tcp["url"] != "tcp://db.example:5432" || tcp["kind"] != "tcp" || tcp["send"] != "xxxxx" || tcp["expect"] != "+OK" {
		t.Errorf("the tcp site as added: %v", tcp)
	}
	for _, httpOnly := range []string{"method", "headers", "expect_status"} {
		if _, ok := tcp[httpOnly]; ok {
			t.Errorf("the tcp site shows %s: %v", httpOnly, tcp)
		}
	}
	if tls["kind"] != "tls" || tls["name"] != "mail.example" {
		t.Errorf("the tls site as added: %v", tls)
	}
	for url, protocol := range map[string]string{"starttls://mail.example:587": "smtp", "starttls://mail.example:143": "imap",
		"starttls://mail.example:8025\", \"starttls_protocol\": \"POP3": "pop3"} {
		if got := add(fmt.Sprintf(`{"url": "%s"}`, url)); got["kind"] != "starttls" || got["starttls_protocol"] != protocol {
			t.Errorf("the starttls site %s as added: %v, want its protocol %s", url, got, protocol)
		}
	}
	web := add(`{"url": "a.example"}`)
	if web["kind"] != "https" || web["method"] != "GET" || web["expect_status"] != "100-399" {
		t.Errorf("an https site: %v", web)
	}
	if status, _ := e.Do(t, "POST", "/site", `{"url": "tcp://db.example:5432"}`); status != 409 {
		t.Errorf("the same tcp target again: %d, want 409", status)
	}

	id := int(tcp["id"].(float64))
	e.Call(t, "PATCH", fmt.Sprintf("/site/%d", id), `{"send": "xxxxx", "expect": "+PONG"}`, nil)
	_, export := e.Do(t, "GET", "/site/export", "")
	if !strings.Contains(export, `"send":"AUTH s3cret\r\n","expect":"+PONG"`) {
		t.Errorf("the export after a PATCH sending the hidden value back: %s", export)
	}
	if _, list := e.Do(t, "GET", "/site", ""); strings.Contains(list, "s3cret") {
		t.Errorf("GET /site shows what a tcp check sends: %s", list)
	}
}

// WebSocket and gRPC sites keep their URLs as their kinds have them.
func TestWebSocketAndGRPCSites(t *testing.T) {
	e := setup(t, "")
	for given, want := range map[string]string{
		`{"url": "WS://Live.Example:80/feed?x=1", "send": "hi", "expect": "hello"}`: "ws://live.example/feed?x=1",
		`{"url": "wss://live.example:443/"}`:                                        "wss://live.example/",
		`{"url": "grpcs://API.example:443", "grpc_service": "orders"}`:              "grpcs://api.example:443",
	} {
		var added struct{ ID int64 }
		e.Call(t, "POST", "/site", given, &added)
		var got map[string]any
		e.Call(t, "GET", fmt.Sprintf("/site/%d", added.ID), "", &got)
		if got["url"] != want || got["kind"] != strings.SplitN(want, ":", 2)[0] {
			t.Errorf("%s: stored as %v, want %s", given, got, want)
		}
	}
}

// An icmp:// site shows its echo requests and the loss it allows.
func TestICMPSites(t *testing.T) {
	e := setup(t, "")
	var added struct{ ID int64 }
	e.Call(t, "POST", "/site", `{"url": "icmp://GW.example/", "max_loss": 34}`, &added)
	var got map[string]any
	e.Call(t, "GET", fmt.Sprintf("/site/%d", added.ID), "", &got)
	if got["url"] != "icmp://gw.example" || got["kind"] != "icmp" || got["count"] != 3.0 || got["max_loss"] != 34.0 {
		t.Fatalf("the icmp site: %v", got)
	}
}
