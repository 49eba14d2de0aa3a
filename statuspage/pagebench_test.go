//go:build pagebench

package statuspage_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"uptime/internal/apptest"
	"uptime/internal/pgtest"
	"uptime/internal/wait"
)

// TestPageBenchmark times GET /p/:slug for a page of 500 sites with 90 days
// of history, an open written incident and maintenance announced: rendered afresh (p50/p99 over 100 pages), then cached, under
// 1,000 requests a second for 30 s from a load generator on loopback,
// counting the database transactions the load adds. It writes its figures
// to BENCH_PAGE_OUT.
func TestPageBenchmark(t *testing.T) {
	const sites, pages, rate, duration = 500, 100, 1000, 30 * time.Second
	prefix := pgtest.Prefix(t)
	a := apptest.Start(t, apptest.Setup{Prefix: prefix})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer up.Close()
	var rows []string
	for i := range sites {
		rows = append(rows, fmt.Sprintf(`{"url": %q, "name": "Service %03d"}`, fmt.Sprintf("%s/s%d", up.URL, i), i))
	}
	a.Call(t, "POST", "/site/import", `{"sites": [`+strings.Join(rows, ",")+`]}`, nil)

	ctx := context.Background()
	cluster := pgtest.Cluster(t)
	db, err := pgxpool.New(ctx, cluster.URL(prefix+"monitor"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now().UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	if _, err := db.Exec(ctx, `INSERT INTO rollup_day (site_id, day, checks, up, degraded, maintenance_checks, maintenance_up,
			latency_count, latency_sum)
		SELECT s, d, 1440, 1440 - (random() * 3)::int, 0, 0, 0, 1440, 1440 * 120.0
		FROM generate_series(1, $1) s, generate_series($2::timestamptz, $3::timestamptz - interval '1 day', interval '1 day') d`,
		sites, today.AddDate(0, 0, -89), today); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, "UPDATE rollup_done SET hours_until = $1, days_until = $2, recent_until = NULL",
		now.Add(-2*time.Minute).Truncate(time.Hour), today); err != nil {
		t.Fatal(err)
	}
	// The recent days' rows are rebuilt by the next roll-up, within a minute.
	wait.For(t, 90*time.Second, func() error {
		var n int
		db.QueryRow(ctx, "SELECT count(*) FROM rollup_recent").Scan(&n)
		if n == sites {
			return nil
		}
		return fmt.Errorf("%d recent days' rows after 90 s, want %d", n, sites)
	})
	var groups []string
	for g := range 5 {
		var ids []string
		for i := range sites / 5 {
			ids = append(ids, fmt.Sprint(g*sites/5+i+1))
		}
		groups = append(groups, fmt.Sprintf(`{"name": "Group %d", "sites": [%s]}`, g+1, strings.Join(ids, ",")))
	}
	for i := range pages {
		a.Call(t, "POST", "/status-page", fmt.Sprintf(`{"slug": "p%d", "title": "Page %d", "groups": [%s]}`,
			i, i, strings.Join(groups, ",")), nil)
		// An open incident, written in Markdown, with three updates.
		var in struct{ ID int64 }
		a.Call(t, "POST", fmt.Sprintf("/status-page/p%d/incident", i), `{"title": "Slow checkout", "status": "investigating",
			"message": "We are looking into **slow checkouts** on [the shop](https://shop.example).", "sites": [1, 2], "impact": "major"}`, &in)
		for _, u := range []string{`{"status": "identified", "message": "A full disk on the *payments* host:\n\n- cleared\n- watched"}`,
			`{"status": "monitoring", "message": "Checkouts are back to normal; we are watching."}`} {
			a.Call(t, "POST", fmt.Sprintf("/status-page/p%d/incident/%d/update", i, in.ID), u, nil)
		}
	}
	// Maintenance announced on every page.
	a.Call(t, "POST", "/maintenance", fmt.Sprintf(`{"title": "Database upgrade", "sites": [1], "start": %q, "end": %q}`,
		now.Add(2*time.Hour).Format(time.RFC3339), now.Add(3*time.Hour).Format(time.RFC3339)), nil)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	get := func(path string) (time.Duration, int, error) {
		start := time.Now()
		req, _ := http.NewRequest("GET", a.URL+path, nil)
		// As browsers do; given here, the client leaves the body compressed.
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := client.Do(req)
		if err != nil {
			return 0, 0, err
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return 0, 0, fmt.Errorf("GET %s = %d", path, resp.StatusCode)
		}
		return time.Since(start), int(n), nil
	}

	var out strings.Builder
	report := func(format string, args ...any) {
		line := fmt.Sprintf(format, args...)
		t.Log(line)
		out.WriteString(line + "\n")
	}
	// Afresh: each page's first request renders it.
	var fresh []time.Duration
	var size int
	for i := range pages {
		d, n, err := get(fmt.Sprintf("/p/p%d", i))
		if err != nil {
			t.Fatal(err)
		}
		fresh, size = append(fresh, d), n
	}
	xacts := func() int64 {
		var n int64
		db.QueryRow(ctx, `SELECT sum(xact_commit + xact_rollback) FROM pg_stat_database WHERE datname = ANY($1)`,
			[]string{prefix + "monitor", prefix + "site", prefix + "statuspage"}).Scan(&n)
		return n
	}
	// The database's own traffic (the jobs) for as long, without load.
	idle0 := xacts()
	time.Sleep(duration)
	idle := xacts() - idle0

	// Cached: rate requests a second, each on its own, paced.
	var (
		mu      sync.Mutex
		cached  []time.Duration
		errs    int
		wg      sync.WaitGroup
		start   = time.Now()
		loaded0 = xacts()
	)
	for i := 0; time.Since(start) < duration; i++ {
		next := start.Add(time.Duration(i) * time.Second / rate)
		time.Sleep(time.Until(next))
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, _, err := get("/p/p0")
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs++
				return
			}
			cached = append(cached, d)
		}()
	}
	wg.Wait()
	took := time.Since(start)
	loaded := xacts() - loaded0
	pct := func(ds []time.Duration, p int) string {
		s := slices.Clone(ds)
		slices.Sort(s)
		return fmt.Sprintf("%.2f ms", float64(s[min(len(s)-1, len(s)*p/100)].Microseconds())/1000)
	}
	report("| `/p/:slug`, 500 sites × 90 days, an open incident with three updates, maintenance announced (%d KiB of HTML, gzipped) | p50 | p99 |", size/1024)
	report("| --- | --- | --- |")
	report("| rendered afresh (%d pages, one request each) | %s | %s |", pages, pct(fresh, 50), pct(fresh, 99))
	report("| cached, %d requests a second for %s (%d answered, %d failed; %.0f a second) | %s | %s |",
		rate, duration, len(cached), errs, float64(len(cached))/took.Seconds(), pct(cached, 50), pct(cached, 99))
	report("\nDatabase transactions in the three databases over %s: %d with no load (the jobs), %d under the load: %+d.",
		duration, idle, loaded, loaded-idle)
	if path := os.Getenv("BENCH_PAGE_OUT"); path != "" {
		if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
