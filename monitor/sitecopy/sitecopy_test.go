package sitecopy_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"uptime/internal/dbutil"
	"uptime/internal/pgtest"
	"uptime/internal/seal"
	"uptime/monitor"
	"uptime/monitor/sitecopy"
	"uptime/site"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func newDB(t *testing.T) (*pgxpool.Pool, string) {
	t.Helper()
	dbURL := pgtest.NewDatabase(t)
	if err := dbutil.Migrate(dbURL, monitor.Migrations, "migrations"); err != nil {
		t.Fatal(err)
	}
	db, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db, dbURL
}

func entry(t *testing.T, id, version int64, url, given string) site.Entry {
	t.Helper()
	e := site.Entry{Site: site.Site{ID: id, URL: url}, Version: version}
	if err := e.SetGiven([]byte(given)); err != nil {
		t.Fatal(err)
	}
	return e
}

// The copy keeps the newest version of each site, sealed, opens it again
// with its credentials, and tells what reconciliation must repair.
func TestKeepStaleAndOpen(t *testing.T) {
	ctx := context.Background()
	db, dbURL := newDB(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	box := seal.Ephemeral()
	defaults := site.Defaults{Interval: time.Minute, Timeout: 10 * time.Second, Confirmations: 1}
	c := sitecopy.New(db, box, defaults, 3*time.Second, log)

	secret := entry(t, 1, 2, "https://bob:s3cret-pw@a.example/x", `{"headers": {"X-Token": "s3cret-token"}}`)
	plain := entry(t, 2, 1, "https://b.example/", `{"interval": "30s"}`)
	if err := c.Keep(ctx, secret, plain); err != nil {
		t.Fatal(err)
	}
	// An older version does not overwrite a newer one.
	if err := c.Keep(ctx, entry(t, 1, 1, "https://old.example/", `{}`)); err != nil {
		t.Fatal(err)
	}
	if dump := pgtest.Dump(t, dbURL); strings.Contains(dump, "s3cret") || strings.Contains(dump, "old.example") {
		t.Fatalf("the copy holds credentials in the clear or an older version")
	}
	var (
		shown, settings string
		sealed          []byte
		interval, phase int64
		budget          int64
	)
	if err := db.QueryRow(ctx, `SELECT url, settings, sealed, interval_ms, phase_ms, budget_ms FROM monitored WHERE site_id = 1`).
		Scan(&shown, &settings, &sealed, &interval, &phase, &budget); err != nil {
		t.Fatal(err)
	}
	// Two tries of 10 s and a pause of 3 s between them.
	if interval != 60_000 || phase < 0 || phase >= interval || budget != 23_000 {
		t.Errorf("interval %d ms, phase %d ms, budget %d ms; want 60000, within it, 23000", interval, phase, budget)
	}
	e, err := c.Open(1, shown, settings, sealed, 2)
	if err != nil {
		t.Fatal(err)
	}
	if e.URL != secret.URL || e.Given.Headers["X-Token"] != "s3cret-token" || e.Version != 2 {
		t.Errorf("opened %+v, want the site as kept, credentials included", e)
	}
	if cfg := c.Config(&plain); time.Duration(cfg.Interval) != 30*time.Second || cfg.Confirmations != 1 {
		t.Errorf("config %+v: want its own interval and the default confirmations", cfg)
	}

	stale, gone, err := c.Stale(ctx, map[int64]int64{1: 2, 2: 3, 3: 1})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(stale)
	if !slices.Equal(stale, []int64{2, 3}) || len(gone) != 0 {
		t.Errorf("stale %v, gone %v; want 2 (another version) and 3 (missing), none gone", stale, gone)
	}
	if _, gone, _ = c.Stale(ctx, map[int64]int64{2: 1}); !slices.Equal(gone, []int64{1}) {
		t.Errorf("gone %v, want site 1, no longer listed", gone)
	}
	// Other defaults make every copy stale: its interval may follow them.
	other := sitecopy.New(db, box, site.Defaults{Interval: 5 * time.Minute, Timeout: defaults.Timeout}, 3*time.Second, log)
	if stale, _, _ := other.Stale(ctx, map[int64]int64{1: 2, 2: 1}); len(stale) != 2 {
		t.Errorf("with other defaults, stale %v, want both", stale)
	}

	// What is left of a site no longer copied is an orphan.
	if _, err := db.Exec(ctx, `INSERT INTO site_state (site_id, url, up) VALUES (2, 'https://b.example/', true), (9, 'https://gone.example/', false)`); err != nil {
		t.Fatal(err)
	}
	if orphans, err := c.Orphans(ctx); err != nil || !slices.Equal(orphans, []int64{9}) {
		t.Errorf("orphans %v, %v; want site 9", orphans, err)
	}

	// Another key is refused: it would seal what this one cannot open.
	stranger := sitecopy.New(db, seal.Ephemeral(), defaults, 3*time.Second, log)
	if err := stranger.CheckKey(ctx); err == nil {
		t.Error("a key other than the one the copy is sealed with was accepted")
	}
	if err := stranger.Keep(ctx, entry(t, 3, 1, "https://carol:pw@c.example/", `{}`)); err == nil {
		t.Error("a copy was sealed with a key other than the database's")
	}
	if err := c.CheckKey(ctx); err != nil {
		t.Errorf("the copy's own key: %v", err)
	}
}

// A push site's copy is left alone by the scheduler (as a paused one is)
// and has a heartbeat row with its token's hash, period and grace; the
// row goes when the site is a push site no more.
func TestKeepPushSites(t *testing.T) {
	ctx := context.Background()
	db, _ := newDB(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	c := sitecopy.New(db, seal.Ephemeral(), site.Defaults{Interval: time.Minute, Timeout: 10 * time.Second}, time.Second, log)
	hash := site.HashToken("0123456789abcdef0123456789abcdef")
	push := entry(t, 1, 1, "push://0123456789abcdef", `{"interval": "2h", "grace": "10m", "token_hash": "`+hash+`"}`)
	if err := c.Keep(ctx, push); err != nil {
		t.Fatal(err)
	}
	var (
		paused        bool
		got           string
		period, grace int64
		due           *time.Time
	)
	if err := db.QueryRow(ctx, `SELECT m.paused, h.token_hash, h.period_ms, h.grace_ms, h.due_at
		FROM monitored m JOIN heartbeat h USING (site_id) WHERE site_id = 1`).Scan(&paused, &got, &period, &grace, &due); err != nil {
		t.Fatal(err)
	}
	if !paused || got != hash || period != 7_200_000 || grace != 600_000 || due != nil {
		t.Errorf("kept: scheduled paused %v, hash %s, period %d ms, grace %d ms, due %v", paused, got, period, grace, due)
	}

	// A run awaited follows a new schedule from the last success: a cron
	// expression's next time after it, due a grace later.
	success := time.Date(2026, 12, 7, 6, 55, 0, 0, time.UTC)
	if _, err := db.Exec(ctx, `UPDATE heartbeat SET last_success_at = $1::timestamptz, expected_at = $1::timestamptz + interval '2 hours',
		due_at = $1::timestamptz + interval '2 hours 10 minutes' WHERE site_id = 1`, success); err != nil {
		t.Fatal(err)
	}
	expected := func() (e, d *time.Time) {
		t.Helper()
		if err := db.QueryRow(ctx, `SELECT expected_at, due_at FROM heartbeat WHERE site_id = 1`).Scan(&e, &d); err != nil {
			t.Fatal(err)
		}
		return e, d
	}
	if err := c.Keep(ctx, entry(t, 1, 2, "push://0123456789abcdef", `{"grace": "10m", "name": "b", "token_hash": "`+hash+`", "interval": "2h"}`)); err != nil {
		t.Fatal(err)
	}
	if e, d := expected(); e == nil || !e.Equal(success.Add(2*time.Hour)) || d == nil || !d.Equal(success.Add(130*time.Minute)) {
		t.Errorf("after a new name only: expected %v, due %v, want both kept", e, d)
	}
	if err := c.Keep(ctx, entry(t, 1, 3, "push://0123456789abcdef", `{"cron": "0 2 * * *", "timezone": "Europe/Berlin", "grace": "30m", "token_hash": "`+hash+`"}`)); err != nil {
		t.Fatal(err)
	}
	next := time.Date(2026, 12, 8, 1, 0, 0, 0, time.UTC) // 02:00 CET
	if e, d := expected(); e == nil || !e.Equal(next) || d == nil || !d.Equal(next.Add(30*time.Minute)) {
		t.Errorf("after a cron schedule: expected %v, due %v, want %s and 30m after", e, d, next)
	}
	// Paused, a site awaits nothing and its runs going are forgotten.
	if _, err := db.Exec(ctx, `INSERT INTO heartbeat_run (site_id, rid, started_at) VALUES (1, '', now())`); err != nil {
		t.Fatal(err)
	}
	if err := c.Keep(ctx, entry(t, 1, 4, "push://0123456789abcdef", `{"cron": "0 2 * * *", "paused": true, "token_hash": "`+hash+`"}`)); err != nil {
		t.Fatal(err)
	}
	var runs int
	db.QueryRow(ctx, `SELECT count(*) FROM heartbeat_run`).Scan(&runs)
	if e, d := expected(); e != nil || d != nil || runs != 0 {
		t.Errorf("paused: expected %v, due %v, %d runs going", e, d, runs)
	}
	if _, err := db.Exec(ctx, `INSERT INTO heartbeat_signal (site_id, at, kind) VALUES (1, now(), 'success')`); err != nil {
		t.Fatal(err)
	}
	if err := c.Keep(ctx, entry(t, 1, 5, "https://a.example/", `{}`)); err != nil {
		t.Fatal(err)
	}
	var n, signals int
	db.QueryRow(ctx, `SELECT count(*), (SELECT count(*) FROM heartbeat_signal) FROM heartbeat`).Scan(&n, &signals)
	if n != 0 || signals != 0 {
		t.Errorf("%d heartbeat rows and %d signals after the site became an https one", n, signals)
	}
}
