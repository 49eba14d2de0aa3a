package monitor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"uptime/monitor"
	"uptime/monitor/history"
	"uptime/monitor/history/packed"
)

// fullCheck is a check with every field the history keeps.
type fullCheck struct {
	site     int64
	location *string
	c        packed.Check
}

// insertFull writes checks as the record path does, every column given.
func insertFull(t *testing.T, db *pgxpool.Pool, checks []fullCheck) {
	t.Helper()
	rows := make([][]any, len(checks))
	for i, f := range checks {
		rows[i] = []any{f.site, f.c.Up, f.c.At, f.c.Status, f.c.LatencyMS, f.c.Reason, f.c.CertExpires,
			f.c.Degraded, f.c.Maintenance, f.location}
	}
	if _, err := db.CopyFrom(context.Background(), pgx.Identifier{"checks"},
		[]string{"site_id", "up", "checked_at", "status_code", "latency_ms", "reason", "cert_expires_at", "degraded",
			"maintenance", "location"}, pgx.CopyFromRows(rows)); err != nil {
		t.Fatal(err)
	}
}

// thirtyDays returns 30 days of checks of the sites, of every kind: up,
// down with and without an answer, degraded, in maintenance, from three
// locations (and none, as before locations were recorded), with reasons,
// certificates renewed, latencies from 0.1 ms to 60 s.
func thirtyDays(rng *rand.Rand, sites []int64, now time.Time) []fullCheck {
	locations := []*string{nil, ptr("local"), ptr("eu-west"), ptr("us-east")}
	var out []fullCheck
	from := now.AddDate(0, 0, -30)
	for _, id := range sites {
		step := time.Duration(10+id*7) * time.Minute
		cert := from.AddDate(0, 1, 0).Add(time.Duration(id) * time.Microsecond)
		for at := from.Add(time.Duration(rng.Int64N(int64(step)))); at.Before(now); at = at.Add(step) {
			loc := locations[rng.IntN(len(locations))]
			c := packed.Check{At: at.Add(time.Duration(rng.IntN(3000)) * time.Microsecond), Up: true, Status: ptr(200),
				LatencyMS: ptr(float64(100+rng.IntN(2_000_000)) / 1000), CertExpires: &cert}
			switch k := rng.IntN(100); {
			case k < 4:
				c.Up, c.Status, c.LatencyMS, c.Reason = false, nil, nil, "dial tcp: connection refused"
			case k < 8:
				c.Up, c.Status, c.Reason = false, ptr(503), "status 503"
			case k < 10:
				c.Degraded, c.LatencyMS = true, ptr(60_000.0)
			case k < 12:
				c.Maintenance = true
			case k < 13:
				c.LatencyMS = ptr(0.1)
			case k < 14:
				c.CertExpires = nil
			}
			if rng.IntN(300) == 0 {
				cert = cert.AddDate(0, 2, 0)
			}
			out = append(out, fullCheck{site: id, location: loc, c: c})
		}
	}
	return out
}

// answers is what every reader of the history says of the sites, as JSON.
func answers(t *testing.T, h *history.History, sites []int64, now time.Time) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	put := func(key string, v any) {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out[key] = string(b)
	}
	for _, id := range sites {
		// Every check, a page of 500 at a time, and pages of 30 from
		// points in between.
		var all []history.CheckRecord
		var before time.Time
		for {
			page, err := h.Checks(ctx, id, before, 500)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, page...)
			if len(page) < 500 {
				break
			}
			before = page[len(page)-1].CheckedAt
		}
		put(fmt.Sprintf("site %d: all %d checks", id, len(all)), all)
		for _, back := range []time.Duration{0, 36 * time.Hour, 5 * 24 * time.Hour, 29*24*time.Hour + 7*time.Minute} {
			page, err := h.Checks(ctx, id, now.Add(-back), 30)
			if err != nil {
				t.Fatal(err)
			}
			put(fmt.Sprintf("site %d: 30 before now-%s", id, back), page)
		}
		days, err := h.Days(ctx, id, 90, now)
		if err != nil {
			t.Fatal(err)
		}
		put(fmt.Sprintf("site %d: 90 days", id), days)
		up, err := h.Uptime(ctx, id, now)
		if err != nil {
			t.Fatal(err)
		}
		put(fmt.Sprintf("site %d: uptime", id), up)
	}
	in, err := h.Incidents(ctx, history.IncidentQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	put("incidents", in)
	return out
}

// TestCompactionChangesNoAnswer packs 29 days of varied checks and sees
// every reader give the same answers, field by field, before and after;
// two instances pack at once, and each check is packed once.
func TestCompactionChangesNoAnswer(t *testing.T) {
	mon, db := historyService(t, monitor.Options{})
	other, _ := serviceOn(t, dbURLOf(t, db), monitor.Options{})
	ctx := context.Background()
	now := time.Now().UTC()
	sites := []int64{1, 2, 3}
	// Partitions for most days; the checks of days 20 to 17 back wait in
	// the default partition.
	for d := 31; d >= 0; d-- {
		if d <= 20 && d >= 17 {
			continue
		}
		if _, err := mon.History().PreparePartitions(ctx, now.AddDate(0, 0, -d)); err != nil {
			t.Fatal(err)
		}
	}
	checks := thirtyDays(rand.New(rand.NewPCG(7, 8)), sites, now)
	insertFull(t, db, checks)
	// Site 1 has been down for ten days; site 2 was down for a day, long ago.
	if _, err := db.Exec(ctx, `INSERT INTO incident (site_id, started_at, cause) VALUES (1, $1, 'status 503')`,
		now.AddDate(0, 0, -10)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO incident (site_id, started_at, ended_at, cause, checks) VALUES (2, $1, $2, 'timeout', 40)`,
		now.AddDate(0, 0, -25), now.AddDate(0, 0, -24)); err != nil {
		t.Fatal(err)
	}
	if _, err := mon.History().Rollup(ctx, now); err != nil {
		t.Fatal(err)
	}
	before := answers(t, mon.History(), sites, now)

	var wg sync.WaitGroup
	results := make([]history.CompactResult, 2)
	errs := make([]error, 2)
	for i, s := range []*monitor.Service{mon, other} {
		wg.Go(func() { results[i], errs[i] = s.History().Compact(ctx, now, time.Hour) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	packedChecks := results[0].Checks + results[1].Checks
	t.Logf("packed: %+v and %+v", results[0], results[1])

	// Every check before yesterday is packed, once; the rest stay raw.
	yesterday := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, -1)
	var wantPacked int64
	for _, c := range checks {
		if c.c.At.Before(yesterday) {
			wantPacked++
		}
	}
	var raw, old, inRows int64
	db.QueryRow(ctx, "SELECT count(*), count(*) FILTER (WHERE checked_at < $1) FROM checks", yesterday).Scan(&raw, &old)
	db.QueryRow(ctx, "SELECT COALESCE(sum(checks), 0) FROM checks_packed").Scan(&inRows)
	if packedChecks != wantPacked || inRows != wantPacked || old != 0 || raw+inRows != int64(len(checks)) {
		t.Fatalf("packed %d checks into rows holding %d, %d raw left (%d before yesterday); want %d packed of %d",
			packedChecks, inRows, raw, old, wantPacked, len(checks))
	}
	var partitions int
	db.QueryRow(ctx, `SELECT count(*) FROM pg_inherits WHERE inhparent = 'checks'::regclass
		AND inhrelid::regclass::text LIKE 'checks\_p%' AND inhrelid::regclass::text < $1`, "checks_p"+yesterday.Format("20060102")).Scan(&partitions)
	if partitions != 0 {
		t.Errorf("%d partitions of packed days are left", partitions)
	}

	after := answers(t, mon.History(), sites, now)
	for key, want := range before {
		if after[key] != want {
			t.Errorf("%s changed when packed:\nbefore %.600s\nafter  %.600s", key, want, after[key])
		}
	}

	// Nothing is left to pack; the open incident closes with every check
	// of its ten days counted, packed or raw.
	if res, err := mon.History().Compact(ctx, now, time.Hour); err != nil || res.Rows != 0 {
		t.Fatalf("a second run packed %+v, %v; want nothing", res, err)
	}
	var want int64
	for _, c := range checks {
		if c.site == 1 && !c.c.At.Before(now.AddDate(0, 0, -10)) {
			want++
		}
	}
	if err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error { return history.CloseIncident(ctx, tx, 1, now) }); err != nil {
		t.Fatal(err)
	}
	var got int64
	db.QueryRow(ctx, "SELECT checks FROM incident WHERE site_id = 1").Scan(&got)
	if got != want {
		t.Errorf("the incident closed with %d checks, want %d", got, want)
	}
}

func dbURLOf(t *testing.T, db *pgxpool.Pool) string {
	t.Helper()
	return db.Config().ConnString()
}

// TestLatePackedChecksMerge: checks of a packed day found raw later (a
// partition's stray rows) join its packed row, once.
func TestLatePackedChecksMerge(t *testing.T) {
	mon, db := historyService(t, monitor.Options{})
	ctx := context.Background()
	now := time.Now().UTC()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, -5)
	first := []fullCheck{{site: 4, location: ptr("local"), c: packed.Check{At: day.Add(time.Hour), Up: true, Status: ptr(200), LatencyMS: ptr(5.0)}}}
	insertFull(t, db, first)
	if _, err := mon.History().Rollup(ctx, now); err != nil {
		t.Fatal(err)
	}
	if _, err := mon.History().Compact(ctx, now, time.Hour); err != nil {
		t.Fatal(err)
	}
	insertFull(t, db, []fullCheck{{site: 4, location: ptr("local"), c: packed.Check{At: day.Add(30 * time.Minute), Reason: "late"}}})
	// Rolled up again from its raw checks alone, the day would count the
	// late one only: its roll-ups stay as they were.
	var late int
	db.QueryRow(ctx, "SELECT count(*) FROM rollup_late WHERE site_id = 4").Scan(&late)
	if _, err := mon.History().Rollup(ctx, now); err != nil {
		t.Fatal(err)
	}
	var dayChecks int
	db.QueryRow(ctx, "SELECT checks FROM rollup_day WHERE site_id = 4 AND day = $1", day).Scan(&dayChecks)
	if late != 1 || dayChecks != 1 {
		t.Fatalf("the late check was marked %d times; the day's roll-up counts %d checks, want the 1 packed", late, dayChecks)
	}
	res, err := mon.History().Compact(ctx, now, time.Hour)
	if err != nil || res.Checks != 1 {
		t.Fatalf("the late check: packed %+v, %v", res, err)
	}
	got, err := mon.History().Checks(ctx, 4, time.Time{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Reason != "" || got[1].Reason != "late" {
		t.Fatalf("after merging: %+v", got)
	}
}

// TestPackedDayDroppedLater: a packed day's partition whose drop gives way
// to a busy table of checks is emptied at once and dropped by a later run,
// which packs nothing again.
func TestPackedDayDroppedLater(t *testing.T) {
	mon, db := historyService(t, monitor.Options{})
	ctx := context.Background()
	now := time.Now().UTC()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, -4)
	if _, err := mon.History().PreparePartitions(ctx, day); err != nil {
		t.Fatal(err)
	}
	var checks []fullCheck
	for i := range 48 {
		checks = append(checks, fullCheck{site: 5, location: ptr("local"), c: packed.Check{At: day.Add(time.Duration(i) * 30 * time.Minute), Up: true}})
	}
	insertFull(t, db, checks)
	if _, err := mon.History().Rollup(ctx, now); err != nil {
		t.Fatal(err)
	}
	// A reader of today's checks holds the table of checks meanwhile (and
	// today's partition, not the packed day's).
	reader, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reader.Exec(ctx, "SELECT count(*) FROM checks WHERE checked_at >= $1", now.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	res, err := mon.History().Compact(ctx, now, time.Hour)
	if err != nil || res.Checks != 48 || len(res.Dropped) != 0 {
		t.Fatalf("while the table was busy: packed %+v, %v; want 48 checks packed and nothing dropped", res, err)
	}
	name := "checks_p" + day.Format("20060102")
	var size int64
	db.QueryRow(ctx, "SELECT pg_relation_size($1::regclass)", name).Scan(&size)
	if size != 0 {
		t.Errorf("%s holds %d bytes after packing, want it emptied", name, size)
	}
	reader.Rollback(ctx)
	res, err = mon.History().Compact(ctx, now, time.Hour)
	// (With the empty partitions of the days around it.)
	if err != nil || res.Rows != 0 || res.Days != 0 || !slices.Contains(res.Dropped, name) {
		t.Fatalf("the next run: %+v, %v; want %s dropped and nothing packed", res, err, name)
	}
	got, err := mon.History().Checks(ctx, 5, time.Time{}, 100)
	if err != nil || len(got) != 48 {
		t.Fatalf("after: %d checks, %v; want 48", len(got), err)
	}
}
