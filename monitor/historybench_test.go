//go:build historybench

package monitor_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"uptime/internal/dbutil"
	"uptime/internal/pgtest"
	"uptime/monitor"
)

// TestHistoryBenchmark measures history at size (make bench-history):
// BENCH_HISTORY_SITES sites checked every minute for BENCH_HISTORY_DAYS
// days of raw checks, with daily rollups for a year before them; the
// queries of /history and of a status page's bars against the same on raw
// rows; a day dropped against the same rows deleted; and the upgrade of a
// database of BENCH_HISTORY_UPGRADE_ROWS checks in the previous schema.
// It writes its figures to BENCH_HISTORY_OUT.
func TestHistoryBenchmark(t *testing.T) {
	sites := envInt(t, "BENCH_HISTORY_SITES", 1000)
	days := envInt(t, "BENCH_HISTORY_DAYS", 30)
	upgradeRows := envInt(t, "BENCH_HISTORY_UPGRADE_ROWS", 10_000_000)
	var out strings.Builder
	report := func(format string, args ...any) {
		line := fmt.Sprintf(format, args...)
		t.Log(line)
		out.WriteString(line + "\n")
	}
	report("# History at size\n")
	report("%s; %d sites checked every minute, %d days of raw checks, daily rollups for the 365 days before them.\n",
		time.Now().UTC().Format(time.RFC3339), sites, days)
	if upgradeRows > 0 {
		benchUpgrade(t, upgradeRows, report)
	}
	benchQueries(t, sites, days, report)
	if path := os.Getenv("BENCH_HISTORY_OUT"); path != "" {
		if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// benchUpgrade loads rows into the schema before partitioning, then times
// the upgrade while a writer adds a check every 5 ms, and reports the
// longest wait between two of its checks.
func benchUpgrade(t *testing.T, rows int, report func(string, ...any)) {
	ctx := context.Background()
	dbURL := pgtest.NewDatabase(t)
	if err := dbutil.Migrate(dbURL, migrationsBefore(t, 4), "migrations"); err != nil {
		t.Fatal(err)
	}
	db, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	start := time.Now()
	const chunk = 1_000_000
	for done := 0; done < rows; done += chunk {
		n := min(chunk, rows-done)
		// 1,000 sites, spread over the last 30 days.
		if _, err := db.Exec(ctx, `INSERT INTO checks (site_id, up, checked_at, status_code, latency_ms)
			SELECT i % 1000 + 1, random() > 0.01, now() - (i::float8 / $3 * interval '30 days'), 200, random() * 300
			FROM generate_series($1::bigint, $2::bigint) i`, done, done+n-1, rows); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(ctx, "VACUUM ANALYZE checks"); err != nil {
		t.Fatal(err)
	}
	report("## The upgrade\n")
	report("- %d checks loaded into the previous schema in %s", rows, time.Since(start).Round(time.Second))

	stop := writeEvery5ms(ctx, db)
	time.Sleep(time.Second)
	start = time.Now()
	if err := dbutil.Migrate(dbURL, monitor.Migrations, "migrations"); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	time.Sleep(time.Second)
	longest, _ := stop()
	report("- the upgrade's migration took %s; the longest wait between two checks written every 5 ms during it: %s",
		took.Round(time.Millisecond), longest.Round(time.Millisecond))

	mon, _ := serviceOn(t, dbURL, monitor.Options{})
	start = time.Now()
	rolled := rollUpAll(t, mon.History(), time.Now())
	report("- rolling up its history afterwards, in the background (checking goes on): %d hours and %d days in %s\n",
		rolled.Hours, rolled.Days, time.Since(start).Round(time.Second))
}

func benchQueries(t *testing.T, sites, days int, report func(string, ...any)) {
	ctx := context.Background()
	dbURL := pgtest.NewDatabase(t)
	if err := dbutil.Migrate(dbURL, monitor.Migrations, "migrations"); err != nil {
		t.Fatal(err)
	}
	mon, db := serviceOn(t, dbURL, monitor.Options{Retention: time.Duration(days+5) * 24 * time.Hour})
	// Packed below, once the raw days are measured.
	now := time.Now().UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	first := today.AddDate(0, 0, -days)
	for d := first; !d.After(today); d = d.AddDate(0, 0, 1) {
		if _, err := mon.History().PreparePartitions(ctx, d); err != nil {
			t.Fatal(err)
		}
	}

	// Raw checks: every site every minute, a day at a time, up 99% of
	// the time, answering in 20 to 320 ms.
	report("## Queries, rollups and disk\n")
	start := time.Now()
	for d := first; d.Before(now); d = d.AddDate(0, 0, 1) {
		if _, err := db.Exec(ctx, `INSERT INTO checks (site_id, up, checked_at, status_code, latency_ms)
			SELECT s, random() > 0.01, t + (s % 60) * interval '1 second', 200, round((20 + random() * 300)::numeric, 3)::float8
			FROM generate_series(1, $1) s, generate_series($2::timestamptz, least($3::timestamptz, $4::timestamptz - interval '1 minute'), interval '1 minute') t`,
			sites, d, d.AddDate(0, 0, 1).Add(-time.Minute), now); err != nil {
			t.Fatal(err)
		}
	}
	var rawRows int64
	db.QueryRow(ctx, "SELECT count(*) FROM checks").Scan(&rawRows)
	if _, err := db.Exec(ctx, "VACUUM ANALYZE checks"); err != nil {
		t.Fatal(err)
	}
	report("- %d raw checks loaded in %s", rawRows, time.Since(start).Round(time.Second))

	start = time.Now()
	res := rollUpAll(t, mon.History(), now)
	took := time.Since(start)
	report("- rolled up %d hours and %d days in %s (%s per hour of %d checks, days included)",
		res.Hours, res.Days, took.Round(time.Second), (took / time.Duration(max(res.Hours, 1))).Round(time.Millisecond), sites*60)
	// The rollups of the year before the raw checks.
	if _, err := db.Exec(ctx, `INSERT INTO rollup_day (site_id, day, checks, up, degraded, maintenance_checks, maintenance_up,
			latency_count, latency_sum, latency_min, latency_max, latency_p95)
		SELECT s, d, 1440, 1440 - (random() * 20)::int, 0, 0, 0, 1440, 1440 * 170, 20, 320, 305
		FROM generate_series(1, $1) s, generate_series($2::timestamptz, $3::timestamptz, interval '1 day') d`,
		sites, first.AddDate(0, 0, -365), first.AddDate(0, 0, -1)); err != nil {
		t.Fatal(err)
	}
	db.Exec(ctx, "VACUUM ANALYZE rollup_day")
	db.Exec(ctx, "VACUUM ANALYZE rollup_hour")
	// The recent days' rows, rebuilt with the year in them, as once a day.
	if _, err := db.Exec(ctx, "UPDATE rollup_done SET recent_until = NULL"); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if r, err := mon.History().Rollup(ctx, now); err != nil || r.Recent != 1 {
		t.Fatalf("rebuilding the recent days: %+v, %v", r, err)
	}
	report("- the recent days' rows of %d sites (%d days each) rebuilt in %s, as once a day", sites, 100, time.Since(start).Round(time.Millisecond))
	db.Exec(ctx, "VACUUM ANALYZE rollup_recent")

	// Disk.
	var rawBytes, hourBytes, dayBytes int64
	var fullDays int
	db.QueryRow(ctx, `SELECT COALESCE(sum(pg_total_relation_size(c.oid)), 0), count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'checks'::regclass AND c.relname >= $1 AND c.relname < $2`,
		"checks_p"+first.Format("20060102"), "checks_p"+today.Format("20060102")).Scan(&rawBytes, &fullDays)
	db.QueryRow(ctx, `SELECT COALESCE(sum(pg_total_relation_size(c.oid)), 0) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'rollup_hour'::regclass`).Scan(&hourBytes)
	db.QueryRow(ctx, "SELECT pg_total_relation_size('rollup_day')").Scan(&dayBytes)
	var hourRows, dayRows int64
	db.QueryRow(ctx, "SELECT count(*) FROM rollup_hour").Scan(&hourRows)
	db.QueryRow(ctx, "SELECT count(*) FROM rollup_day").Scan(&dayRows)
	rawPerSiteDay := float64(rawBytes) / float64(fullDays*sites)
	rollPerSiteDay := float64(hourBytes)/float64(hourRows)*24 + float64(dayBytes)/float64(dayRows)
	report("- disk per site per day at a 1-minute interval: raw %.0f KiB (1,440 checks, indexes included), rolled up %.1f KiB (24 hourly rows and a daily one)",
		rawPerSiteDay/1024, rollPerSiteDay/1024)
	report("- projected for 100,000 sites at 1 minute: 30 days raw %.0f GiB, 400 days of rollups %.0f GiB",
		rawPerSiteDay*100_000*30/(1<<30), rollPerSiteDay*100_000*400/(1<<30))

	// Queries: through the monitor's own functions (the HTTP layer adds a
	// JSON encoding), against the same figures from raw rows.
	r := rand.New(rand.NewPCG(1, 1))
	pick := func() int64 { return int64(1 + r.IntN(sites)) }
	page := make([]int64, min(500, sites))
	for i := range page {
		page[i] = int64(i*sites/len(page) + 1)
	}
	timeIt := func(runs int, f func() error) []time.Duration {
		var ds []time.Duration
		for range runs {
			s := time.Now()
			if err := f(); err != nil {
				t.Fatal(err)
			}
			ds = append(ds, time.Since(s))
		}
		return ds
	}
	rawQuery := func(q string, args ...any) func() error {
		return func() error {
			rows, err := db.Query(ctx, q, args...)
			if err != nil {
				return err
			}
			for rows.Next() {
			}
			rows.Close()
			return rows.Err()
		}
	}
	report("\n| query | from rollups p50 / p99 (200 runs) | from raw rows p50 / p99 (200 runs; 5 for the page) |")
	report("| --- | --- | --- |")
	row := func(name string, rolled, raw []time.Duration) {
		report("| %s | %s / %s | %s / %s |", name, pct(rolled, 50), pct(rolled, 99), pct(raw, 50), pct(raw, 99))
	}
	row("`/history/:id` uptime, 24h to 365d",
		timeIt(200, func() error { _, err := mon.Uptime(ctx, pick(), now); return err }),
		timeIt(200, func() error {
			return rawQuery(`SELECT 100 * avg(up::int) FILTER (WHERE checked_at > now() - interval '24 hours'),
				100 * avg(up::int) FILTER (WHERE checked_at > now() - interval '7 days'),
				100 * avg(up::int) FILTER (WHERE checked_at > now() - interval '30 days'),
				100 * avg(up::int) FILTER (WHERE checked_at > now() - interval '90 days'),
				100 * avg(up::int) FROM checks WHERE site_id = $1 AND checked_at > now() - interval '365 days'`, pick())()
		}))
	rawDays := `SELECT site_id, date_trunc('day', checked_at, 'UTC'), count(*), avg(up::int), avg(latency_ms)
		FROM checks WHERE site_id = ANY($1) AND checked_at >= $2 GROUP BY 1, 2`
	row("`/history/:id?days=90`",
		timeIt(200, func() error { _, err := mon.History().Days(ctx, pick(), 90, now); return err }),
		timeIt(200, func() error { return rawQuery(rawDays, []int64{int64(pick())}, today.AddDate(0, 0, -89))() }))
	row(fmt.Sprintf("a status page's 90 daily bars of %d sites", len(page)),
		timeIt(200, func() error { _, err := mon.DaysOf(ctx, page, 90, now); return err }),
		// Each of these reads every raw check of 500 sites: a few runs.
		timeIt(5, func() error { return rawQuery(rawDays, page, today.AddDate(0, 0, -89))() }))
	row(fmt.Sprintf("of which today's bars of the %d sites", len(page)),
		timeIt(200, rawQuery("SELECT site_id, day, checks, up, latency_count, latency_sum FROM checks_day WHERE site_id = ANY($1) AND day >= $2", page, today)),
		nil)
	row(fmt.Sprintf("of which the recent days' rows of the %d sites", len(page)),
		timeIt(200, rawQuery("SELECT site_id, days_from, days FROM rollup_recent WHERE site_id = ANY($1)", page)),
		nil)
	report("\nRaw rows hold %d days, so the raw queries' 90- and 365-day windows cover only those; at a year of raw checks they would read 12 times as many rows.\n", days)

	// A day dropped against the same number of rows deleted.
	d1, d2 := first.AddDate(0, 0, 1), first.AddDate(0, 0, 2)
	var n1, n2 int64
	db.QueryRow(ctx, "SELECT count(*) FROM checks WHERE checked_at >= $1 AND checked_at < $2", d1, d1.AddDate(0, 0, 1)).Scan(&n1)
	db.QueryRow(ctx, "SELECT count(*) FROM checks WHERE checked_at >= $1 AND checked_at < $2", d2, d2.AddDate(0, 0, 1)).Scan(&n2)
	start = time.Now()
	if _, err := db.Exec(ctx, "DELETE FROM checks WHERE checked_at >= $1 AND checked_at < $2", d1, d1.AddDate(0, 0, 1)); err != nil {
		t.Fatal(err)
	}
	deleted := time.Since(start)
	start = time.Now()
	if _, err := db.Exec(ctx, "DROP TABLE checks_p"+d2.Format("20060102")); err != nil {
		t.Fatal(err)
	}
	dropped := time.Since(start)
	report("- a day of %d checks deleted row by row: %s (and its space comes back only by VACUUM); the next day, %d checks, dropped as a partition: %s",
		n1, deleted.Round(time.Millisecond), n2, dropped.Round(time.Millisecond))

	benchPacking(t, mon, db, sites, days, page, now, rawPerSiteDay/1440, rollPerSiteDay, report)
}

// benchPacking times the history's readers on raw days, packs every closed
// day, times them again on packed days, and reports what a check costs
// packed against raw, and against what it says.
func benchPacking(t *testing.T, mon *monitor.Service, db *pgxpool.Pool, sites, days int, page []int64, now time.Time,
	raw, rollPerSiteDay float64, report func(string, ...any)) {
	ctx := context.Background()
	h := mon.History()
	r := rand.New(rand.NewPCG(2, 2))
	pick := func() int64 { return int64(1 + r.IntN(sites)) }
	back := min(28, days-2)
	monthBack := now.AddDate(0, 0, -back)
	readers := []struct {
		name string
		runs int
		f    func() error
	}{
		{"`/history/:id?limit=30`", 200, func() error { _, err := h.Checks(ctx, pick(), time.Time{}, 30); return err }},
		{fmt.Sprintf("`/history/:id?limit=30&before=` %d days back", back), 200, func() error { _, err := h.Checks(ctx, pick(), monthBack, 30); return err }},
		{fmt.Sprintf("`/history/:id?limit=1000&before=` %d days back", back), 100, func() error { _, err := h.Checks(ctx, pick(), monthBack, 1000); return err }},
		{"`/history/:id?days=90`", 200, func() error { _, err := h.Days(ctx, pick(), 90, now); return err }},
		{fmt.Sprintf("a status page's 90 daily bars of %d sites", len(page)), 100, func() error { _, err := h.DaysOf(ctx, page, 90, now); return err }},
	}
	timeAll := func() [][]time.Duration {
		var out [][]time.Duration
		for _, rd := range readers {
			var ds []time.Duration
			for range rd.runs {
				s := time.Now()
				if err := rd.f(); err != nil {
					t.Fatal(err)
				}
				ds = append(ds, time.Since(s))
			}
			out = append(out, ds)
		}
		return out
	}
	before := timeAll()

	report("\n## Packed days\n")
	stop := writeEvery5ms(ctx, db)
	pgBefore, selfBefore := postgresCPUNow(), selfCPUNow()
	start := time.Now()
	res, err := h.Compact(ctx, now, 3*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	pgCPU, selfCPU := postgresCPUNow()-pgBefore, selfCPUNow()-selfBefore
	longest, written := stop()
	if _, err := db.Exec(ctx, "VACUUM ANALYZE checks_packed"); err != nil {
		t.Fatal(err)
	}
	report("- packed %d days (%d site-days, %d checks) in %s: %s a day of %d sites; CPU %.1f s of PostgreSQL and %.1f s of Uptime, %.2f µs and %.2f µs a check",
		res.Days, res.Rows, res.Checks, took.Round(time.Second), (took / time.Duration(max(res.Days, 1))).Round(time.Millisecond), sites,
		pgCPU, selfCPU, pgCPU/float64(res.Checks)*1e6, selfCPU/float64(res.Checks)*1e6)
	report("- the longest wait between two checks written every 5 ms while it packed: %s (%d written; the CPU above includes theirs)",
		longest.Round(time.Millisecond), written)

	var table, encoded, stored, rows int64
	db.QueryRow(ctx, `SELECT pg_total_relation_size('checks_packed'), COALESCE(sum(octet_length(data)), 0),
		COALESCE(sum(pg_column_size(data)), 0), count(*) FROM checks_packed`).Scan(&table, &encoded, &stored, &rows)
	var compression string
	db.QueryRow(ctx, "SELECT COALESCE(string_agg(DISTINCT pg_column_compression(data), ','), 'none') FROM checks_packed").Scan(&compression)
	packed := float64(table) / float64(res.Checks)
	report("- bytes per check: raw %.0f, compacted %.1f", raw, packed)
	report("- of the compacted figure: %.2f bytes the packed columns, %.2f bytes as stored (compression: %s), the rest the %d rows' headers, keys and index",
		float64(encoded)/float64(res.Checks), float64(stored)/float64(res.Checks), compression, rows)
	// What a check of this data says: its time is its schedule (0 bits),
	// its latency one of 300,000 microseconds alike (18.2 bits), up or
	// not at 99 % (0.08 bits), its status always 200.
	info := (math.Log2(300_000) + 0.0808) / 8
	report("- what a check here says: %.2f bytes (a latency of 300,000 values alike, up 99 %% of the time, on schedule); the packed columns spend a varint of 3 bytes on the latency, 1 on the time",
		info)
	siteYear := packed*525_600 + rollPerSiteDay*365
	report("- the whole history of a site checked every minute for a year, packed, with its roll-ups: %.1f MiB (raw it would be %.0f MiB)",
		siteYear/(1<<20), (raw*525_600+rollPerSiteDay*365)/(1<<20))

	after := timeAll()
	report("\n| reader | raw days p50 / p99 | packed days p50 / p99 | p50 change |")
	report("| --- | --- | --- | --- |")
	for i, rd := range readers {
		b, a := quantile(before[i], 50), quantile(after[i], 50)
		report("| %s | %s / %s | %s / %s | %+.0f %% |", rd.name, pct(before[i], 50), pct(before[i], 99), pct(after[i], 50), pct(after[i], 99),
			(float64(a)/float64(b)-1)*100)
	}
}

// writeEvery5ms adds a check every 5 ms, as a running instance would,
// through the statement trigger, until stop is called; stop returns the
// longest wait between two of them and how many were written.
func writeEvery5ms(ctx context.Context, db *pgxpool.Pool) (stop func() (time.Duration, int)) {
	var (
		stamps []time.Time
		done   = make(chan struct{})
		wg     sync.WaitGroup
	)
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
			if _, err := db.Exec(ctx, "INSERT INTO checks (site_id, up, checked_at) VALUES (1, true, now())"); err == nil {
				stamps = append(stamps, time.Now())
			}
		}
	})
	return func() (time.Duration, int) {
		close(done)
		wg.Wait()
		var longest time.Duration
		for i := 1; i < len(stamps); i++ {
			longest = max(longest, stamps[i].Sub(stamps[i-1]))
		}
		return longest, len(stamps)
	}
}

func quantile(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

// postgresCPUNow is the CPU time, in seconds, of every postgres process on
// the machine: the test's cluster alone, while it runs.
func postgresCPUNow() float64 {
	var total float64
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		text := string(b)
		open, end := strings.IndexByte(text, '('), strings.LastIndexByte(text, ')')
		if open < 0 || end < 0 || text[open+1:end] != "postgres" {
			continue
		}
		f := strings.Fields(text[end+2:])
		u, _ := strconv.ParseFloat(f[11], 64)
		s, _ := strconv.ParseFloat(f[12], 64)
		total += (u + s) / 100
	}
	return total
}

// selfCPUNow is this process's CPU time, in seconds.
func selfCPUNow() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func pct(ds []time.Duration, p int) string {
	if len(ds) == 0 {
		return "-"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	d := s[min(len(s)-1, len(s)*p/100)]
	return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000)
}
