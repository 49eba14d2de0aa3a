package monitor

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
	"uptime/internal/pubsub"
	"uptime/internal/queue"
	"uptime/monitor/decide"
	"uptime/monitor/event"
	"uptime/site"
)

func newStateService(t *testing.T, sites int, logTo io.Writer) (*Service, *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	dbURL := pgtest.NewDatabase(t)
	if err := dbutil.Migrate(dbURL, Migrations, "migrations"); err != nil {
		t.Fatal(err)
	}
	db, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	for id := 1; id <= sites; id++ {
		if _, err := db.Exec(ctx, `INSERT INTO monitored (site_id, url, settings, version, defaults, interval_ms, phase_ms, budget_ms, in_clear)
			VALUES ($1, 'https://a.example/', '{}', 1, '', 60000, 0, 10000, false)`, id); err != nil {
			t.Fatal(err)
		}
	}
	log := slog.New(slog.NewTextHandler(logTo, nil))
	q := queue.New()
	return New(db, nil, q, pubsub.NewTopic[event.Transition](q, event.Topic, log), Options{}, log), db
}

// A site's rounds decided on the bulk path (a batch, its quiet decisions
// written where the row is unchanged) and the same rounds decided on the
// per-site path under the row's lock leave the same state after each
// round: there is one rule, and both paths follow it. The rounds go
// through every alert: unstable, slow, down, a reminder, flapping and a
// certificate warning.
func TestBothPathsDecideAlike(t *testing.T) {
	ctx := context.Background()
	var logged strings.Builder
	s, db := newStateService(t, 2, &logged)
	s.opts.FlapChanges, s.opts.FlapWindow = 2, 10*time.Minute
	maxLatency, remind := site.Duration(time.Second), site.Duration(3*time.Minute)
	c := site.Config{Confirmations: 1, Recoveries: 2, MaxLatency: &maxLatency, RemindEvery: &remind}
	bulk := newTarget(site.Site{ID: 1, URL: "https://a.example/"}, "https://a.example/", c)
	locked := newTarget(site.Site{ID: 2, URL: "https://a.example/"}, "https://a.example/", c)

	var rounds []string
	for range 6 {
		rounds = append(rounds, "-+", "+", "+") // first checks failing: unstable
	}
	rounds = append(rounds, "s", "s", "s", "+", // slow, then fast again
		"--", "--", "--", "--", "+", "+", // down, a reminder, recovering, up
		"--", "+", "+", "--", "+", "+", "--", // flapping
		"--", "--", "--", "--", "--", "--", "--", "--", "--", "--", "--", // stable down: announced
		"c", "c", "+") // a certificate near its end
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var fails failures
	sawUnstable, sawFlapping := false, false
	for i, round := range rounds {
		at = at.Add(time.Minute)
		attempts := func() []Result {
			var out []Result
			for j, c := range round {
				r := Result{Up: c != '-', Status: 200, CheckedAt: at.Add(time.Duration(j) * time.Second), Latency: 100 * time.Millisecond}
				switch c {
				case '-':
					r.Status, r.Reason = 503, "HTTP 503"
				case 's':
					r.Degraded, r.Latency = true, 2*time.Second
				case 'c':
					expiry := at.Add(5 * 24 * time.Hour)
					r.CertExpiry = &expiry
				}
				out = append(out, r)
			}
			return out
		}
		s.writeBatch([]tickResult{{target: bulk, attempts: attempts(), from: s.opts.Location}}, &fails)
		if err := s.record(ctx, locked, s.opts.Location, attempts()); err != nil {
			t.Fatal(err)
		}
		if n, err := fails.get(); n > 0 {
			t.Fatalf("round %d (%s) on the bulk path: %v", i+1, round, err)
		}
		var a, b string
		var unstable, flapping bool
		if err := db.QueryRow(ctx, `SELECT to_jsonb(s) - 'site_id', unstable_since IS NOT NULL, flapping_since IS NOT NULL
			FROM site_state s WHERE site_id = 1`).Scan(&a, &unstable, &flapping); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRow(ctx, `SELECT to_jsonb(s) - 'site_id' FROM site_state s WHERE site_id = 2`).Scan(&b); err != nil {
			t.Fatal(err)
		}
		if a != b {
			t.Fatalf("after round %d (%s), the bulk path's state\n%s\nthe per-site path's\n%s", i+1, round, a, b)
		}
		sawUnstable, sawFlapping = sawUnstable || unstable, sawFlapping || flapping
	}
	if !sawUnstable || !sawFlapping {
		t.Fatalf("the rounds never made the site unstable (%v) or flapping (%v)", sawUnstable, sawFlapping)
	}
	var incidents [2]int
	db.QueryRow(ctx, `SELECT count(*) FILTER (WHERE site_id = 1), count(*) FILTER (WHERE site_id = 2) FROM incident`).Scan(&incidents[0], &incidents[1])
	if incidents[0] < 3 || incidents[0] != incidents[1] {
		t.Fatalf("incidents: %d of the bulk path's site, %d of the other's; want every down period of each", incidents[0], incidents[1])
	}
	// The same events announced of both, every kind among them.
	announced := map[string][]string{}
	for line := range strings.Lines(logged.String()) {
		var id, what string
		for _, f := range strings.Fields(line) {
			switch {
			case strings.HasPrefix(f, "site_id="):
				id = f
			case strings.HasPrefix(f, "event="), strings.HasPrefix(f, "up="):
				what = f
			}
		}
		if id != "" && what != "" {
			announced[id] = append(announced[id], what)
		}
	}
	a, b := announced["site_id=1"], announced["site_id=2"]
	if !slices.Equal(a, b) {
		t.Fatalf("announced of the bulk path's site %v, of the other %v", a, b)
	}
	for _, kind := range []string{event.Unstable, event.Degraded, event.DegradedEnd, event.Reminder, event.Flapping, event.CertExpiring} {
		if !slices.Contains(a, "event="+kind) {
			t.Errorf("no %s event among %v", kind, a)
		}
	}
}

// A decision of the bulk path is written only where its row is still as
// it was read: one written meanwhile is left to be decided again.
func TestABulkWriteLosesToAWriteMeanwhile(t *testing.T) {
	ctx := context.Background()
	s, db := newStateService(t, 1, io.Discard)
	tg := newTarget(site.Site{ID: 1, URL: "https://a.example/"}, "https://a.example/", site.Config{})
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if err := s.record(ctx, tg, s.opts.Location, []Result{{Up: true, Status: 200, CheckedAt: at}}); err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	seen, err := readStates(ctx, tx, []int64{1}, false)
	if err != nil {
		t.Fatal(err)
	}
	st := seen[1]
	// Another check of the site commits meanwhile.
	if err := s.record(ctx, tg, s.opts.Location, []Result{{Up: true, Status: 200, CheckedAt: at.Add(time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	out := decide.Decide(st.state, decide.Round{Here: s.opts.Location, Live: []string{s.opts.Location},
		Attempts: []Result{{Up: true, Status: 201, CheckedAt: at.Add(2 * time.Minute)}}}, s.policy(tg))
	written, err := writeStates(ctx, tx, []stateWrite{{id: 1, url: tg.shown, state: out.State, version: &st.version}})
	if err != nil {
		t.Fatal(err)
	}
	if len(written) != 0 {
		t.Fatalf("a decision from a row written since was written: %v", written)
	}
	// Read again, it is written.
	seen, err = readStates(ctx, tx, []int64{1}, false)
	if err != nil {
		t.Fatal(err)
	}
	st = seen[1]
	if written, err = writeStates(ctx, tx, []stateWrite{{id: 1, url: tg.shown, state: out.State, version: &st.version}}); err != nil || len(written) != 1 {
		t.Fatalf("a decision from the row as it is: written %v, %v", written, err)
	}
}
