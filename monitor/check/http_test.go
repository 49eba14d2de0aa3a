package check_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"uptime/monitor/check"
	"uptime/site"
)

// echoSite answers as its query says: ?status=N, ?body=text, ?delay=d;
// and records the last request it got.
type echoSite struct {
	last chan *seen
}

type seen struct {
	method, host, body string
	header             http.Header
}

func (s *echoSite) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	select {
	case s.last <- &seen{method: r.Method, host: r.Host, body: string(body), header: r.Header.Clone()}:
	default:
	}
	q := r.URL.Query()
	if d, err := time.ParseDuration(q.Get("delay")); err == nil {
		time.Sleep(d)
	}
	if st := q.Get("status"); st != "" {
		var n int
		for _, c := range st {
			n = n*10 + int(c-'0')
		}
		w.WriteHeader(n)
	}
	io.WriteString(w, q.Get("body"))
}

func TestChecksFollowTheSettings(t *testing.T) {
	es := &echoSite{last: make(chan *seen, 1)}
	srv := httptest.NewServer(es)
	t.Cleanup(srv.Close)
	checker := check.NewChecker(5*time.Second, nil, nil)
	d := site.Defaults{Interval: time.Minute, Timeout: 5 * time.Second}

	tests := []struct {
		name     string
		settings string // JSON of site.Settings
		query    string
		up       bool
		degraded bool
		reason   string
	}{
		{"tutorial rule: 200 is up", `{}`, "?status=200", true, false, ""},
		{"tutorial rule: 302 without a location is up", `{}`, "?status=304", true, false, ""},
		{"tutorial rule: 404 is down", `{}`, "?status=404", false, false, "HTTP 404"},
		{"expect_status accepts 404", `{"expect_status": "404"}`, "?status=404", true, false, ""},
		{"expect_status refuses 200", `{"expect_status": "201-204,418"}`, "?status=200", false, false, "HTTP 200, expected 201-204,418"},
		{"expect_status range holds", `{"expect_status": "201-204,418"}`, "?status=418", true, false, ""},
		{"keyword found", `{"keyword": "Welcome"}`, "?body=a+Welcome+page", true, false, ""},
		{"keyword not found", `{"keyword": "Welcome"}`, "?body=an+error", false, false, `keyword "Welcome" not found`},
		{"keyword is case-sensitive", `{"keyword": "Welcome"}`, "?body=welcome", false, false, `keyword "Welcome" not found`},
		{"keyword absent and absent", `{"keyword": "error", "keyword_absent": true}`, "?body=all+good", true, false, ""},
		{"keyword absent but present", `{"keyword": "error", "keyword_absent": true}`, "?body=an+error", false, false, `keyword "error" found`},
		{"status decides before keyword", `{"keyword": "ok"}`, "?status=500&body=ok", false, false, "HTTP 500"},
		{"slower than max_latency is degraded", `{"max_latency": "50ms"}`, "?delay=150ms", true, true, "above max_latency 50ms"},
		{"faster than max_latency is not", `{"max_latency": "2s"}`, "?delay=10ms", true, false, ""},
		{"timeout", `{"timeout": "200ms"}`, "?delay=2s", false, false, "timeout after 200ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := checker.Run(context.Background(), siteCheck(t, tt.settings, srv.URL+"/"+tt.query, d))
			if res.Up != tt.up || res.Degraded != tt.degraded || !strings.Contains(res.Reason, tt.reason) || (tt.reason == "" && res.Reason != "") {
				t.Fatalf("check = up %v, degraded %v, reason %q; want up %v, degraded %v, reason with %q",
					res.Up, res.Degraded, res.Reason, tt.up, tt.degraded, tt.reason)
			}
		})
	}

	t.Run("a keyword past the first MiB is not seen", func(t *testing.T) {
		big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(strings.Repeat("x", 1<<20)))
			w.Write([]byte("needle"))
		}))
		defer big.Close()
		res := checker.Run(context.Background(), siteCheck(t, `{"keyword": "needle"}`, big.URL, d))
		if res.Up || !strings.Contains(res.Reason, "not found") {
			t.Fatalf("keyword after 1 MiB: up %v, reason %q; want down, not found", res.Up, res.Reason)
		}
	})

	t.Run("method, headers, body and host are sent", func(t *testing.T) {
		drain(es.last)
		checker.Run(context.Background(), siteCheck(t, `{"method": "POST", "body": "{\"a\": 1}", "headers": {"X-Token": "t1", "User-Agent": "mine", "Host": "virtual.example"}}`, srv.URL, d))
		got := <-es.last
		if got.method != "POST" || got.body != `{"a": 1}` || got.header.Get("X-Token") != "t1" ||
			got.header.Get("User-Agent") != "mine" || got.host != "virtual.example" ||
			got.header.Get("Content-Type") != "application/json" || got.header.Get(check.CheckHeader) != "1" {
			t.Fatalf("the site got %s %q host %q headers %v", got.method, got.body, got.host, got.header)
		}
	})
	t.Run("HEAD", func(t *testing.T) {
		drain(es.last)
		checker.Run(context.Background(), siteCheck(t, `{"method": "HEAD"}`, srv.URL, d))
		if got := <-es.last; got.method != "HEAD" {
			t.Fatalf("the site got %s, want HEAD", got.method)
		}
	})
}

func drain(c chan *seen) {
	for len(c) > 0 {
		<-c
	}
}

// siteCheck returns the check of the site at url with the settings, given
// as JSON.
func siteCheck(t *testing.T, settings, url string, d site.Defaults) *check.Site {
	t.Helper()
	c, err := site.ConfigOf(settings, url, d)
	if err != nil {
		t.Fatal(err)
	}
	return check.New(url, c)
}

// Assertions on the answer: each source and op, the first that fails
// named with what came.
func TestAssertions(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Version", "2")
		switch r.URL.Path {
		case "/degraded":
			io.WriteString(w, `{"status": "degraded", "count": 1}`)
		case "/html":
			io.WriteString(w, `<html>ok</html>`)
		default:
			io.WriteString(w, `{"status": "ok", "count": 3, "items": [{"id": 7}]}`)
		}
	}))
	defer srv.Close()
	checker := check.NewChecker(5*time.Second, nil, nil)
	d := site.Defaults{Interval: time.Minute, Timeout: 5 * time.Second}
	tests := []struct {
		path, assertions string
		reason           string // empty: up
	}{
		{"/", `{"source": "json", "path": "$.status", "op": "==", "value": "ok"}`, ""},
		{"/degraded", `{"source": "json", "path": "$.status", "op": "==", "value": "ok"}`, `json $.status == "ok": got "degraded"`},
		{"/", `{"source": "json", "path": "$.count", "op": ">=", "value": 3}`, ""},
		{"/", `{"source": "json", "path": "$.count", "op": ">", "value": 3}`, `json $.count > 3: got 3`},
		{"/", `{"source": "json", "path": "$.items[0].id", "op": "exists"}`, ""},
		{"/", `{"source": "json", "path": "$.missing", "op": "exists"}`, `json $.missing exists: nothing there`},
		{"/", `{"source": "json", "path": "$.missing", "op": "!exists"}`, ""},
		{"/", `{"source": "json", "path": "$.items[*].id", "op": "==", "value": 7}`, ""},
		{"/html", `{"source": "json", "path": "$.status", "op": "==", "value": "ok"}`, "the body is not JSON"},
		{"/", `{"source": "header", "path": "x-version", "op": "==", "value": 2}`, ""},
		{"/", `{"source": "header", "path": "X-Missing", "op": "exists"}`, "header X-Missing exists: nothing there"},
		{"/", `{"source": "status", "op": "<", "value": 300}`, ""},
		{"/", `{"source": "status", "op": "==", "value": 201}`, "status == 201: got 200"},
		{"/", `{"source": "latency", "op": "<", "value": "5s"}`, ""},
		{"/", `{"source": "latency", "op": "<", "value": "1ns"}`, `latency < "1ns": took`},
		{"/html", `{"source": "body", "op": "contains", "value": "ok"}`, ""},
		{"/html", `{"source": "body", "op": "matches", "value": "^<html>"}`, ""},
		{"/html", `{"source": "body", "op": "!contains", "value": "ok"}`, `body !contains "ok": got "<html>ok</html>"`},
		{"/", `{"source": "status", "op": "==", "value": 200}, {"source": "json", "path": "$.count", "op": "<", "value": 2}, {"source": "body", "op": "contains", "value": "nope"}`, "json $.count < 2: got 3"},
	}
	for _, tt := range tests {
		s := siteCheck(t, `{"assertions": [`+tt.assertions+`]}`, srv.URL+tt.path, d)
		res := checker.Run(context.Background(), s)
		if res.Up != (tt.reason == "") || !strings.Contains(res.Reason, tt.reason) || tt.reason == "" && res.Reason != "" {
			t.Errorf("%s with %s: up %v, reason %q; want reason %q", tt.path, tt.assertions, res.Up, res.Reason, tt.reason)
		}
	}
}
