//go:build chaos

package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"uptime/internal/wait"
	"uptime/monitor/history/packed"
)

// compactSites and compactDays size the history the chaos test packs:
// 2,000 sites every five minutes for three closed days, 1.7 million checks.
const (
	compactSites = 2000
	compactDays  = 3
)

// siteChecks returns the checks written of a site on the days from first,
// the same each time for a site: every five minutes from a phase of its
// own, up, down with and without an answer, degraded, in maintenance, from
// one location or two.
func siteChecks(site int64, first time.Time) (map[string][]packed.Check, []string) {
	rng := rand.New(rand.NewPCG(uint64(site), 99))
	locations := []string{"local"}
	if site%2 == 1 {
		locations = []string{"eu", "us"}
	}
	out := map[string][]packed.Check{}
	cert := first.AddDate(0, 3, 0).Add(time.Duration(site) * time.Second)
	phase := time.Duration(rng.Int64N(int64(5 * time.Minute)))
	for at := first.Add(phase); at.Before(first.AddDate(0, 0, compactDays)); at = at.Add(5 * time.Minute) {
		for _, loc := range locations {
			status, latency := 200, float64(rng.IntN(3_000_000))/1000
			// PostgreSQL keeps microseconds.
			c := packed.Check{At: at.Add(time.Duration(rng.IntN(4000)) * time.Microsecond).Truncate(time.Microsecond), Up: true, Status: &status,
				LatencyMS: &latency, CertExpires: &cert}
			switch k := rng.IntN(50); {
			case k == 0:
				c.Up, c.Status, c.LatencyMS, c.Reason = false, nil, nil, "dial tcp: connection refused"
			case k == 1:
				s := 503
				c.Up, c.Status, c.Reason = false, &s, "HTTP 503"
			case k == 2:
				c.Degraded = true
			case k == 3:
				c.Maintenance = true
			}
			out[loc] = append(out[loc], c)
		}
	}
	return out, locations
}

// TestChaosCompactionKilled writes three closed days of checks, lets the
// program roll them up and pack them, and kills it with SIGKILL twice
// while it packs: every check written is then packed exactly once, field
// for field, and the days' partitions are gone.
func TestChaosCompactionKilled(t *testing.T) {
	p := newProgram(t)
	p.start(t)
	// Sites of their own (a site's history goes with it), paused so that
	// only the checks written here are theirs.
	rows := make([]string, compactSites)
	for i := range rows {
		rows[i] = fmt.Sprintf(`{"url": "https://s%d.example.com", "paused": true}`, i+1)
	}
	var imported struct{ Created int }
	p.Call(t, "POST", "/site/import", `{"sites": [`+strings.Join(rows, ",")+`]}`, &imported)
	if imported.Created != compactSites {
		t.Fatalf("import created %d sites, want %d", imported.Created, compactSites)
	}
	var list struct{ Sites []struct{ ID int64 } }
	p.Call(t, "GET", "/site", "", &list)
	var ids []int64
	for _, s := range list.Sites {
		ids = append(ids, s.ID)
	}
	slices.Sort(ids)
	if len(ids) < compactSites {
		t.Fatalf("%d sites listed, want %d", len(ids), compactSites)
	}
	ids = ids[len(ids)-compactSites:]
	db := p.monitorDB(t)
	p.kill()
	ctx := context.Background()

	now := time.Now().UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	first := today.AddDate(0, 0, -1-compactDays)
	for d := first; d.Before(today.AddDate(0, 0, -1)); d = d.AddDate(0, 0, 1) {
		name := pgx.Identifier{"checks_p" + d.Format("20060102")}.Sanitize()
		if _, err := db.Exec(ctx, fmt.Sprintf(`CREATE TABLE %s PARTITION OF checks FOR VALUES FROM ('%s') TO ('%s')`,
			name, d.Format(time.RFC3339), d.AddDate(0, 0, 1).Format(time.RFC3339))); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(ctx, "CREATE INDEX ON "+name+" USING brin (checked_at)"); err != nil {
			t.Fatal(err)
		}
	}
	var written int64
	next, queue := 0, []any(nil)
	var batch [][]any
	_, err := db.CopyFrom(ctx, pgx.Identifier{"checks"},
		[]string{"site_id", "location", "checked_at", "up", "status_code", "latency_ms", "reason", "cert_expires_at", "degraded", "maintenance"},
		pgx.CopyFromFunc(func() ([]any, error) {
			for len(batch) == 0 {
				if next == len(ids) {
					return nil, nil
				}
				site := ids[next]
				next++
				checks, locations := siteChecks(site, first)
				for _, loc := range locations {
					for _, c := range checks[loc] {
						batch = append(batch, []any{site, loc, c.At, c.Up, c.Status, c.LatencyMS, c.Reason, c.CertExpires,
							c.Degraded, c.Maintenance})
					}
				}
			}
			queue, batch = batch[0], batch[1:]
			written++
			return queue, nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	// As if the program had never rolled anything up: it rolls these days
	// up from the start, then packs them.
	for _, q := range []string{"DELETE FROM rollup_late", "DELETE FROM rollup_hour", "DELETE FROM rollup_day",
		"DELETE FROM rollup_recent", "UPDATE rollup_closed SET closed_until = NULL",
		"UPDATE rollup_done SET hours_until = NULL, days_until = NULL, recent_until = NULL"} {
		if _, err := db.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("wrote %d checks of %d sites over %d days", written, compactSites, compactDays)

	packedSoFar := func() int64 {
		var n int64
		db.QueryRow(ctx, "SELECT COALESCE(sum(checks), 0) FROM checks_packed").Scan(&n)
		return n
	}
	var atKill []int64
	for range 2 {
		p.start(t)
		from := packedSoFar()
		wait.For(t, 5*time.Minute, func() error {
			if n := packedSoFar(); n <= from {
				return fmt.Errorf("%d checks packed, waiting for more than %d", n, from)
			}
			return nil
		})
		p.kill()
		atKill = append(atKill, packedSoFar())
	}
	t.Logf("killed with %d, then %d of %d checks packed", atKill[0], atKill[1], written)
	if atKill[1] >= written {
		t.Errorf("the second kill came after the packing was done: the test packs too little to kill it midway")
	}

	p.start(t)
	end := today.AddDate(0, 0, -1)
	wait.For(t, 5*time.Minute, func() error {
		var raw int64
		var parts int
		db.QueryRow(ctx, "SELECT count(*) FROM checks WHERE checked_at < $1", end).Scan(&raw)
		db.QueryRow(ctx, `SELECT count(*) FROM pg_inherits WHERE inhparent = 'checks'::regclass
			AND inhrelid::regclass::text LIKE 'checks\_p%' AND inhrelid::regclass::text < $1`, "checks_p"+end.Format("20060102")).Scan(&parts)
		if raw > 0 || parts > 0 {
			return fmt.Errorf("%d raw checks and %d partitions of the packed days left", raw, parts)
		}
		return nil
	})

	// Every check, packed once, as it was written.
	got := map[int64]map[string][]packed.Check{}
	packedRows, err := db.Query(ctx, "SELECT site_id, location, day, data FROM checks_packed ORDER BY site_id, location, day")
	if err != nil {
		t.Fatal(err)
	}
	var (
		id       int64
		location string
		day      time.Time
		data     []byte
	)
	_, err = pgx.ForEachRow(packedRows, []any{&id, &location, &day, &data}, func() error {
		cs, err := packed.Decode(data)
		if err != nil {
			return fmt.Errorf("site %d, %s, %s: %w", id, location, day.Format(time.DateOnly), err)
		}
		if got[id] == nil {
			got[id] = map[string][]packed.Check{}
		}
		got[id][location] = append(got[id][location], cs...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var total, wrong int64
	for _, s := range ids {
		want, locations := siteChecks(s, first)
		for _, loc := range locations {
			g, w := got[s][loc], want[loc]
			total += int64(len(g))
			if len(g) != len(w) {
				wrong++
				t.Errorf("site %d from %s: %d checks packed, %d written", s, loc, len(g), len(w))
				continue
			}
			for i := range w {
				if !g[i].Equal(w[i]) {
					wrong++
					t.Errorf("site %d from %s, check %d: packed %+v, written %+v", s, loc, i, g[i], w[i])
					break
				}
			}
		}
		if wrong > 10 {
			t.Fatal("too many differences")
		}
	}
	if total != written {
		t.Errorf("%d checks packed, %d written", total, written)
	}
	report(t, faultFigures{fault: "SIGKILL twice while packing closed days", sites: compactSites, window: compactDays * 24 * time.Hour,
		performed: int(written), recorded: int(total), doubled: int(total - written),
		note: fmt.Sprintf("killed at %d and %d checks packed; every check packed once, field for field (%d sites differ)", atKill[0], atKill[1], wrong)})
	var rolled int64
	db.QueryRow(ctx, "SELECT COALESCE(sum(checks), 0) FROM rollup_day WHERE day < $1", end).Scan(&rolled)
	if rolled != written {
		t.Errorf("the daily roll-ups of the packed days count %d checks, %d were written", rolled, written)
	}
}
