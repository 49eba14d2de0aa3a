package site_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"uptime/internal/pgtest"
	"uptime/site"
)

// A push site is added with no url: it gets a push:// URL of its own and
// a ping URL whose token is shown this once; reads show the ping URL
// masked, and keep the token's hash out of sight; a new token answers a
// new ping URL and the hash changes with it.
func TestPushSites(t *testing.T) {
	e := setup(t, "")
	e.svc.SetPublicURL("https://uptime.example/")
	var added struct {
		ID        int64
		URL, Kind string
		PingURL   string  `json:"ping_url"`
		TokenHash *string `json:"token_hash"`
	}
	e.Call(t, "POST", "/site", `{"kind": "push", "name": "nightly-backup", "interval": "1d", "grace": "2h"}`, &added)
	token, ok := strings.CutPrefix(added.PingURL, "https://uptime.example/heartbeat/")
	if !ok || len(token) != 32 || added.Kind != "push" || !strings.HasPrefix(added.URL, "push://") || added.TokenHash != nil {
		t.Fatalf("added %+v, want a push:// site with a ping URL of a 128-bit token and no hash shown", added)
	}
	var got map[string]any
	e.Call(t, "GET", fmt.Sprintf("/site/%d", added.ID), "", &got)
	if got["kind"] != "push" || got["ping_url"] != "https://uptime.example/heartbeat/xxxxx" || got["grace"] != "2h" ||
		got["interval"] != "24h" || got["confirmations"] != 0.0 || got["timeout"] != nil || got["token_hash"] != nil {
		t.Errorf("read back: %v", got)
	}
	stored, err := e.svc.Entry(context.Background(), added.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Given.TokenHash == nil || *stored.Given.TokenHash != site.HashToken(token) {
		t.Fatalf("the site keeps %v, want the token's hash", stored.Given.TokenHash)
	}
	if strings.Contains(pgtest.Dump(t, e.dbURL), token) {
		t.Fatal("the database holds the token itself")
	}

	// Grace defaults to an hour, or the interval when that is shorter.
	var short struct{ ID int64 }
	e.Call(t, "POST", "/site", `{"kind": "push", "interval": "10m"}`, &short)
	e.Call(t, "GET", fmt.Sprintf("/site/%d", short.ID), "", &got)
	if got["grace"] != "10m" {
		t.Errorf("grace of a 10m push site: %v, want 10m", got["grace"])
	}

	// A job run at the times of a cron expression, in its time zone.
	var nightly struct {
		ID      int64
		PingURL string `json:"ping_url"`
	}
	e.Call(t, "POST", "/site", `{"kind": "push", "name": "nightly", "cron": "0  2 * * *", "timezone": "America/New_York"}`, &nightly)
	got = nil
	e.Call(t, "GET", fmt.Sprintf("/site/%d", nightly.ID), "", &got)
	if got["cron"] != "0 2 * * *" || got["timezone"] != "America/New_York" || got["interval"] != nil || got["grace"] != "1h" ||
		got["schedule"] != "every day at 02:00 (America/New_York)" {
		t.Errorf("a cron push site read back: %v", got)
	}
	e.Call(t, "POST", "/site", `{"kind": "push", "cron": "*/5 * * * *"}`, &short)
	e.Call(t, "GET", fmt.Sprintf("/site/%d", short.ID), "", &got)
	if got["timezone"] != "UTC" || got["schedule"] != "every 5 minutes (UTC)" {
		t.Errorf("a cron push site with no timezone: %v, want UTC", got)
	}

	var renewed struct {
		ID      int64
		PingURL string `json:"ping_url"`
	}
	e.Call(t, "POST", fmt.Sprintf("/site/%d/token", added.ID), "", &renewed)
	again, _ := strings.CutPrefix(renewed.PingURL, "https://uptime.example/heartbeat/")
	if renewed.ID != added.ID || len(again) != 32 || again == token {
		t.Fatalf("renewed %+v, want a new token", renewed)
	}
	stored, _ = e.svc.Entry(context.Background(), added.ID)
	if *stored.Given.TokenHash != site.HashToken(again) || stored.Version != 2 {
		t.Errorf("after the new token the site keeps %s at version %d", *stored.Given.TokenHash, stored.Version)
	}
	// An export carries the hash, so an import answers to the same URL.
	var export struct{ Sites []map[string]any }
	e.Call(t, "GET", "/site/export", "", &export)
	if len(export.Sites) != 4 || export.Sites[0]["token_hash"] != site.HashToken(again) {
		t.Errorf("the export: %v", export.Sites)
	}
	var http struct{ ID int64 }
	e.Call(t, "POST", "/site", `{"url": "https://example.test"}`, &http)
	status, body := e.Do(t, "POST", fmt.Sprintf("/site/%d/token", http.ID), "")
	if status != 400 || !strings.Contains(body, "only push sites have a token") {
		t.Errorf("a new token for an https site: %d %s", status, body)
	}
}

// A push site's settings are checked as every site's are: what is not
// its own is refused, with nothing stored.
func TestBadPushSites(t *testing.T) {
	e := setup(t, "")
	for _, c := range []struct{ body, want string }{
		{`{"kind": "push"}`, "interval or cron is required"},
		{`{"kind": "push", "interval": "1h", "cron": "0 2 * * *"}`, "interval (a period) or cron (the times its job runs), not both"},
		{`{"kind": "push", "interval": "1h", "timezone": "UTC"}`, "give it with cron"},
		{`{"kind": "push", "cron": "0 2 * * *", "timezone": "Mars/Olympus"}`, `timezone \"Mars/Olympus\" is not a time zone`},
		{`{"kind": "push", "cron": "0 25 * * *"}`, "is not a cron expression of five fields"},
		{`{"kind": "push", "cron": "@every 1h"}`, "give interval rather than cron"},
		{`{"kind": "push", "cron": "0 2 * * *", "grace": "8d"}`, "grace must be from 1s to 7d"},
		{`{"url": "https://example.test", "cron": "0 2 * * *"}`, "cron is a setting of push:// sites"},
		{`{"kind": "push", "url": "https://example.test", "interval": "1h"}`, "a push site has no url"},
		{`{"kind": "http", "url": "https://example.test"}`, `\"kind\" is given only as \"push\"`},
		{`{"kind": "push", "interval": "30s"}`, "interval must be from 1m to 365d"},
		{`{"kind": "push", "interval": "1h", "grace": "0s"}`, "grace must be from 1s to 7d"},
		{`{"kind": "push", "interval": "1h", "grace": "8d"}`, "grace must be from 1s to 7d"},
		{`{"kind": "push", "interval": "1h", "timeout": "5s"}`, "timeout is not a setting of push sites"},
		{`{"kind": "push", "interval": "1h", "locations": ["eu"]}`, "locations and quorum are not settings of push sites"},
		{`{"kind": "push", "interval": "1h", "keyword": "ok"}`, "keyword is a setting of http:// and https:// sites, not of push:// ones"},
		{`{"kind": "push", "interval": "1h", "token_hash": "abc"}`, "token_hash must be a SHA-256 in hex"},
		{`{"url": "https://example.test", "grace": "1h"}`, "grace is a setting of push:// sites, not of https:// ones"},
		{`{"url": "push://not-a-key", "interval": "1h"}`, "a push site's URL is given by the server"},
	} {
		status, body := e.Do(t, "POST", "/site", c.body)
		if status != 400 || !strings.Contains(body, c.want) {
			t.Errorf("POST /site %s = %d %s, want 400 saying %q", c.body, status, body, c.want)
		}
	}
	// An import names its push sites by URL: each needs the token's hash
	// its export carried, or it could never be reached.
	status, body := e.Do(t, "POST", "/site/import", `{"sites": [{"url": "push://0123456789abcdef", "interval": "1h"}]}`)
	if status != 200 || !strings.Contains(body, `"created":0`) || !strings.Contains(body, "token_hash is required for a push site given by its url") {
		t.Errorf("an import of a push site without its token's hash = %d %s, want its row refused", status, body)
	}
	if n := len(e.sites(t)); n != 0 {
		t.Errorf("%d sites stored after bad requests only", n)
	}
}
