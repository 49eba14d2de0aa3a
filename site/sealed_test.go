package site_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"uptime/internal/api"
	"uptime/internal/apptest"
	"uptime/internal/dbutil"
	"uptime/internal/errs"
	"uptime/internal/pgtest"
	"uptime/internal/seal"
	"uptime/internal/text"
	"uptime/site"
)

// A site's credentials are stored sealed: the database holds none of
// them, every read that shows them to the key holder gives them whole,
// and a site may differ from another by its password alone.
func TestCredentialsAreSealed(t *testing.T) {
	e := setup(t, "")
	e.Call(t, "POST", "/site", `{"url": "http://bob:s3cret-pw@a.example/x?token=s3cret-token&page=1",
		"method": "POST", "body": "s3cret-body", "headers": {"X-JWT": "s3cret-jwt"}}`, nil)
	e.Call(t, "POST", "/site", `{"url": "http://bob:other-s3cret@a.example/x?token=s3cret-token&page=1"}`, nil)
	e.Call(t, "POST", "/site", `{"url": "https://plain.example/", "name": "Plain"}`, nil)
	if status, body := e.Do(t, "POST", "/site", `{"url": "http://bob:s3cret-pw@a.example/x?token=s3cret-token&page=1"}`); status != 409 {
		t.Fatalf("the same URL again: %d %s, want 409", status, body)
	}
	e.Call(t, "PATCH", "/site/3", `{"headers": {"Authorization": "Bearer s3cret-bearer"}}`, nil)
	e.Call(t, "POST", "/site/import", `{"sites": [{"url": "http://ghp_s3cret-import@b.example/", "body": "s3cret-body-2", "method": "POST"},
		{"url": "http://bob:other-s3cret@a.example/x?token=s3cret-token&page=1", "headers": {"X-Key": "s3cret-key"}}]}`, nil)

	stored := pgtest.Dump(t, e.dbURL)
	if !strings.Contains(stored, "a.example") || !strings.Contains(stored, "X-JWT") {
		t.Fatalf("the database holds no site: %s", stored)
	}
	if i := strings.Index(stored, "s3cret"); i >= 0 {
		t.Fatalf("a credential is stored in the open: …%s…", stored[max(0, i-200):min(len(stored), i+100)])
	}

	var export site.ExportResponse
	e.Call(t, "GET", "/site/export", "", &export)
	want := map[string]string{
		"http://bob:s3cret-pw@a.example/x?token=s3cret-token&page=1":    `{"method":"POST","headers":{"X-JWT":"s3cret-jwt"},"body":"s3cret-body"}`,
		"http://bob:other-s3cret@a.example/x?token=s3cret-token&page=1": `{"headers":{"X-Key":"s3cret-key"}}`,
		"https://plain.example/":              `{"name":"Plain","headers":{"Authorization":"Bearer s3cret-bearer"}}`,
		"http://ghp_s3cret-import@b.example/": `{"method":"POST","body":"s3cret-body-2"}`,
	}
	if len(export.Sites) != len(want) {
		t.Fatalf("export: %+v", export.Sites)
	}
	for _, s := range export.Sites {
		got, _ := jsonOf(s.Settings)
		if w, ok := want[s.URL]; !ok || !sameJSON(t, got, w) {
			t.Errorf("export of %s: %s, want %s", s.URL, got, w)
		}
	}
	// What checks follow has every credential.
	list, err := e.svc.Entries(context.Background(), []int64{1, 2, 3, 4})
	if err != nil {
		t.Fatal(err)
	}
	if list[0].URL != "http://bob:s3cret-pw@a.example/x?token=s3cret-token&page=1" || list[0].Body != "s3cret-body" ||
		list[0].Headers["X-JWT"] != "s3cret-jwt" || list[2].Headers["Authorization"] != "Bearer s3cret-bearer" {
		t.Errorf("the entries a check follows: %+v", list)
	}
	// Sending back what a read shows changes nothing.
	var shown struct {
		URL     string            `json:"url"`
		Headers map[string]string `json:"headers"`
		Body    string            `json:"body"`
	}
	e.Call(t, "GET", "/site/1", "", &shown)
	if shown.URL != "http://bob:xxxxx@a.example/x?token=xxxxx&page=1" || shown.Headers["X-JWT"] != text.Mask || shown.Body != text.Mask {
		t.Fatalf("GET /site/1 shows %+v", shown)
	}
	e.Call(t, "PATCH", "/site/1", fmt.Sprintf(`{"url": %q, "headers": {"X-JWT": "xxxxx"}, "body": "xxxxx", "name": "A"}`, shown.URL), nil)
	after, _ := e.svc.Entry(context.Background(), 1)
	if after.URL != list[0].URL || after.Body != "s3cret-body" || after.Headers["X-JWT"] != "s3cret-jwt" || after.Name != "A" {
		t.Errorf("after sending back what a read shows: %+v", after)
	}
	if i := strings.Index(pgtest.Dump(t, e.dbURL), "s3cret"); i >= 0 {
		t.Fatal("a credential is stored in the open after a PATCH")
	}

	// An instance holding another key adds sites without credentials, as
	// before, and refuses to seal any, changing nothing.
	other := site.New(e.db)
	other.SealWith(seal.Ephemeral())
	ctx := context.Background()
	if _, err := other.Add(ctx, site.AddParams{URL: "https://another.example/"}); err != nil {
		t.Errorf("another key, a site without credentials: %v", err)
	}
	_, err = other.Add(ctx, site.AddParams{URL: "https://bob:pw@another.example/"})
	if !errs.Is(err, errs.FailedPrecondition) || !strings.Contains(err.Error(), seal.EnvName) {
		t.Errorf("another key, a site with credentials: %v, want a refusal naming %s", err, seal.EnvName)
	}
	if n := len(e.sites(t)); n != 5 {
		t.Errorf("%d sites after the refusal, want 5", n)
	}
}

func jsonOf(st site.Settings) (string, error) {
	b, err := json.Marshal(st)
	return string(b), err
}

func sameJSON(t *testing.T, a, b string) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal([]byte(a), &va); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(b), &vb); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(va, vb)
}

// The sites of a database written before credentials were sealed are
// sealed in place at start-up, read back whole, found by search as open
// reads show them, and kept unique; a second start changes nothing.
func TestSealOlder(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	if err := dbutil.Migrate(dbURL, pgtest.MigrationsBefore(t, site.Migrations, "migrations", 4), "migrations"); err != nil {
		t.Fatal(err)
	}
	old, err := site.OpenDB(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range []struct{ url, settings string }{
		{"http://bob:s3cret-one@old.example/", `{"name": "Old one"}`},
		{"http://bob:s3cret-two@old.example/", `{}`},
		{"https://old.example/q?api_key=s3cret-three", `{"method": "POST", "body": "s3cret-body", "headers": {"X-JWT": "s3cret-jwt"}}`},
		{"https://plain.example/", `{"tags": ["web"]}`},
	} {
		search := text.Redact(s.url)
		if i == 0 {
			search += "\nOld one"
		}
		if err := old.Exec(`INSERT INTO sites (url, settings, search) VALUES (?, ?, ?)`, s.url, s.settings, search).Error; err != nil {
			t.Fatal(err)
		}
	}
	// Another site, stored before searches matched the public form.
	if err := old.Exec(`INSERT INTO sites (url, settings) VALUES ('http://ann:s3cret-four@new.example/', '{}')`).Error; err != nil {
		t.Fatal(err)
	}
	sqlDB, _ := old.DB()
	sqlDB.Close()
	if err := dbutil.Migrate(dbURL, site.Migrations, "migrations"); err != nil {
		t.Fatalf("upgrade: %v", err)
	}

	db, err := site.OpenDB(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	sqlDB, _ = db.DB()
	t.Cleanup(func() { sqlDB.Close() })
	box := seal.Ephemeral()
	svc := site.New(db)
	svc.SealWith(box)
	if dups, err := svc.SealOlder(context.Background()); err != nil || len(dups) != 0 {
		t.Fatal(dups, err)
	}
	srv := api.NewServer(slog.New(slog.NewTextHandler(io.Discard, nil)), "")
	svc.Register(srv)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	e := &env{Client: apptest.Client{URL: ts.URL}, svc: svc, db: db, dbURL: dbURL}

	if i := strings.Index(pgtest.Dump(t, e.dbURL), "s3cret"); i >= 0 {
		t.Fatal("a credential is stored in the open after sealing")
	}
	var export site.ExportResponse
	e.Call(t, "GET", "/site/export", "", &export)
	got := make([]string, len(export.Sites))
	for i, s := range export.Sites {
		st, _ := jsonOf(s.Settings)
		got[i] = s.URL + " " + st
	}
	want := []string{
		`http://bob:s3cret-one@old.example/ {"name":"Old one"}`,
		`http://bob:s3cret-two@old.example/ {}`,
		`https://old.example/q?api_key=s3cret-three {"method":"POST","headers":{"X-JWT":"s3cret-jwt"},"body":"s3cret-body"}`,
		`https://plain.example/ {"tags":["web"]}`,
		`http://ann:s3cret-four@new.example/ {}`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("export after sealing:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var page struct{ Total int }
	for q, n := range map[string]int{"old one": 1, "old.example": 3, "new.example": 1, "s3cret": 0, "bob:s": 0} {
		e.Call(t, "GET", fmt.Sprintf("/site?limit=10&q=%s", url.QueryEscape(q)), "", &page)
		if page.Total != n {
			t.Errorf("after sealing q=%s matched %d, want %d", q, page.Total, n)
		}
	}
	if status, _ := e.Do(t, "POST", "/site", `{"url": "http://bob:s3cret-two@old.example/"}`); status != 409 {
		t.Errorf("a sealed site's URL added again: %d, want 409", status)
	}
	var version int64
	db.Raw("SELECT sum(version) FROM sites").Scan(&version)
	if dups, err := svc.SealOlder(context.Background()); err != nil || len(dups) != 0 {
		t.Fatal(dups, err)
	}
	var again site.ExportResponse
	e.Call(t, "GET", "/site/export", "", &again)
	var versionAgain int64
	db.Raw("SELECT sum(version) FROM sites").Scan(&versionAgain)
	if !reflect.DeepEqual(again, export) || version != 5 || versionAgain != version {
		t.Errorf("a second start changed the sites (versions %d, then %d)", version, versionAgain)
	}

	// An instance of the earlier version, still running, adds the URL of
	// a site sealed meanwhile, and one of its own: the first is left as
	// it is and named, the second sealed, and the start goes on.
	for _, u := range []string{"http://bob:s3cret-two@old.example/", "https://late.example/"} {
		if err := db.Exec(`INSERT INTO sites (url, settings, search) VALUES (?, '{}', ?)`, u, text.Redact(u)).Error; err != nil {
			t.Fatal(err)
		}
	}
	var dup int64
	db.Raw("SELECT id FROM sites WHERE url = 'http://bob:s3cret-two@old.example/'").Scan(&dup)
	for range 2 {
		dups, err := svc.SealOlder(context.Background())
		if err != nil || !reflect.DeepEqual(dups, []int64{dup}) {
			t.Fatalf("sealing beside a duplicate: %v, %v; want site %d left", dups, err, dup)
		}
	}
	if n := strings.Count(pgtest.Dump(t, e.dbURL), "late.example"); n == 0 {
		t.Error("the site added by the earlier version is gone")
	}
	var unsealed []string
	db.Raw("SELECT url FROM sites WHERE unique_url IS NULL").Scan(&unsealed)
	if !reflect.DeepEqual(unsealed, []string{"http://bob:s3cret-two@old.example/"}) {
		t.Errorf("left unsealed: %q", unsealed)
	}

	// Another key opens nothing: an instance holding it refuses to start.
	other := site.New(db)
	other.SealWith(seal.Ephemeral())
	if err := other.CheckKey(context.Background()); err == nil || !strings.Contains(err.Error(), seal.EnvName) {
		t.Errorf("an instance with another key: %v, want a refusal naming %s", err, seal.EnvName)
	}
	if err := svc.CheckKey(context.Background()); err != nil {
		t.Errorf("the instance that sealed them: %v", err)
	}
}

// BenchmarkSealOpen measures what sealing costs a site with credentials
// on each write, and opening it on each read of it.
func BenchmarkSealOpen(b *testing.B) {
	box := seal.Ephemeral()
	body := "s3cret-body"
	st := site.Settings{Headers: map[string]string{"Authorization": "Bearer s3cret"}, Body: &body}
	const u = "https://bob:s3cret@shop.example/health?token=s3cret"
	b.Run("seal", func(b *testing.B) {
		for b.Loop() {
			site.Seal(box, u, st)
		}
	})
	v := site.Seal(box, u, st)
	b.Run("open", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := v.Open(box); err != nil {
				b.Fatal(err)
			}
		}
	})
	plain := site.Seal(box, "https://shop.example/health", site.Settings{})
	b.Run("open without credentials", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := plain.Open(box); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("digest", func(b *testing.B) {
		for b.Loop() {
			box.Digest([]byte(u))
		}
	})
}
