package site_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"uptime/site"
)

func TestImportAddsUpdatesAndRefusesRowByRow(t *testing.T) {
	e := setup(t, "")
	e.Do(t, "POST", "/site", `{"url": "https://kept.example", "interval": "1m"}`)
	e.Do(t, "POST", "/site", `{"url": "https://changed.example", "interval": "1m", "tags": ["a"]}`)

	body := `{"sites": [
		{"url": "new-one.example"},
		{"url": "https://kept.example", "interval": "1m"},
		{"url": "https://changed.example", "interval": "2m"},
		{"url": "ftp://bad.example"},
		{"url": "https://new-two.example", "interval": "5s"},
		{"url": "HTTPS://NEW-ONE.example:443"},
		{"interval": "1m"},
		{"url": "https://new-three.example", "name": "Three", "method": "HEAD", "paused": true},
		"not an object",
		{"url": "https://new-four.example", "colour": "red"}
	]}`
	var resp site.ImportResponse
	e.Call(t, "POST", "/site/import", body, &resp)
	wantErrors := []struct {
		index   int
		message string
	}{
		{3, "must use one of http, https, tcp, tls"},
		{4, "interval must be from 10s"},
		{5, "listed already, at index 0"},
		{6, "url is required"},
		{8, "each site must be a JSON object, not string"},
		{9, `unknown field "colour"`},
	}
	if resp.Created != 2 || resp.Updated != 1 || resp.Unchanged != 1 || len(resp.Errors) != len(wantErrors) {
		t.Fatalf("import answered %+v; want 2 created, 1 updated, 1 unchanged and %d errors", resp, len(wantErrors))
	}
	for i, w := range wantErrors {
		got := resp.Errors[i]
		if got.Index != w.index || got.Code != "invalid_argument" || !strings.Contains(got.Message, w.message) {
			t.Errorf("error %d = %+v, want index %d, invalid_argument, saying %q", i, got, w.index, w.message)
		}
	}
	// The row states the site whole: settings it leaves out are defaults.
	changed := e.view(t, 2)
	if changed.Interval != "2m" || len(changed.Tags) != 0 {
		t.Errorf("the changed site shows interval %s and tags %v, want 2m and none", changed.Interval, changed.Tags)
	}
	if v := e.view(t, 4); v.Name != "Three" || v.Method != "HEAD" || !v.Paused {
		t.Errorf("imported site shows %+v", v)
	}

	// A second import of the same rows changes nothing.
	e.Call(t, "POST", "/site/import", body, &resp)
	if resp.Created != 0 || resp.Updated != 0 || resp.Unchanged != 4 {
		t.Fatalf("the same import again answered %+v; want 4 unchanged", resp)
	}
	// A list of nothing but bad rows changes nothing and says why.
	before := e.sites(t)
	e.Call(t, "POST", "/site/import", `{"sites": [{"url": "https://x.example", "timeout": "1h"}]}`, &resp)
	if len(resp.Errors) != 1 || resp.Created != 0 || !reflect.DeepEqual(before, e.sites(t)) {
		t.Fatalf("an import of one bad row answered %+v and changed the sites", resp)
	}
	for _, bad := range []string{`{}`, `{"sites": {}}`, `[]`} {
		if status, resp := e.Do(t, "POST", "/site/import", bad); status != 400 {
			t.Errorf("POST /site/import %s = %d %s, want 400", bad, status, resp)
		}
	}
}

func TestExportImportsBackTheSameSites(t *testing.T) {
	e := setup(t, "")
	e.Do(t, "POST", "/site", `{"url": "https://ops:pw@a.example", "interval": "30s",
		"headers": {"Authorization": "Bearer t"}, "keyword": "ok"}`)
	e.Do(t, "POST", "/site", `{"url": "https://b.example"}`)
	status, export := e.Do(t, "GET", "/site/export", "")
	if status != 200 {
		t.Fatalf("GET /site/export = %d %s", status, export)
	}
	var got struct{ Sites []map[string]any }
	json.Unmarshal([]byte(export), &got)
	want := []map[string]any{
		{"url": "https://ops:pw@a.example", "interval": "30s", "headers": map[string]any{"Authorization": "Bearer t"}, "keyword": "ok"},
		{"url": "https://b.example"},
	}
	if !reflect.DeepEqual(got.Sites, want) {
		t.Fatalf("export = %v, want %v: the settings given, credentials included", got.Sites, want)
	}

	other := setup(t, "")
	var resp site.ImportResponse
	other.Call(t, "POST", "/site/import", export, &resp)
	if resp.Created != 2 || len(resp.Errors) != 0 {
		t.Fatalf("importing the export answered %+v", resp)
	}
	a, b := e.sites(t), other.sites(t)
	for i := range a {
		if a[i].URL != b[i].URL || !reflect.DeepEqual(a[i].Given, b[i].Given) {
			t.Fatalf("site %d after export and import: %+v, want %+v", i, b[i], a[i])
		}
	}
}

func TestExportNeedsTheKey(t *testing.T) {
	e := setup(t, "a-key-of-sixteen-chars")
	if status, body := e.Do(t, "GET", "/site/export", ""); status != 401 {
		t.Fatalf("GET /site/export without the key = %d %s, want 401", status, body)
	}
	if status, body := e.Do(t, "GET", "/site/export", "", "Authorization", "Bearer a-key-of-sixteen-chars"); status != 200 {
		t.Fatalf("GET /site/export with the key = %d %s", status, body)
	}
	if status, body := e.Do(t, "GET", "/site", ""); status != 200 {
		t.Fatalf("GET /site without the key = %d %s: reads stay open", status, body)
	}
}

func TestImportOfManySites(t *testing.T) {
	e := setup(t, "")
	const n = 5000
	rows := make([]string, n)
	for i := range rows {
		rows[i] = fmt.Sprintf(`{"url": "https://s%d.example", "interval": "1m"}`, i)
	}
	var resp site.ImportResponse
	e.Call(t, "POST", "/site/import", `{"sites": [`+strings.Join(rows, ",")+`]}`, &resp)
	if resp.Created != n || len(resp.Errors) != 0 {
		t.Fatalf("import of %d sites answered created %d, %d errors", n, resp.Created, len(resp.Errors))
	}
	if len(resp.Changes) != site.MaxChanges || resp.ChangesOmitted != n-site.MaxChanges {
		t.Fatalf("the answer lists %d changes and omits %d; want %d and %d", len(resp.Changes), resp.ChangesOmitted,
			site.MaxChanges, n-site.MaxChanges)
	}
	if got := len(e.sites(t)); got != n {
		t.Fatalf("%d sites after importing %d", got, n)
	}
}
