package monitor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"uptime/internal/wait"
	"uptime/site"
)

// BenchmarkStatus measures GET /status over HTTP with 1,000 checked sites
// and 100,000 recorded checks.
func BenchmarkStatus(b *testing.B) { benchmarkStatus(b, 1000) }

// BenchmarkStatus100k measures GET /status with 100,000 checked sites.
func BenchmarkStatus100k(b *testing.B) { benchmarkStatus(b, 100000) }

func benchmarkStatus(b *testing.B, sites int) {
	e := setup(b, setupOpts{})
	ctx := context.Background()
	if _, err := e.db.Exec(ctx, `INSERT INTO checks (site_id, up, checked_at, status_code, latency_ms)
		SELECT 1 + i % $1, i % 17 <> 0, now() - make_interval(secs => i * 3), 200, 12.5
		FROM generate_series(1, 100000) i`, sites); err != nil {
		b.Fatal(err)
	}
	if _, err := e.db.Exec(ctx, `INSERT INTO site_state (site_id, url, up, since, checked_at, status_code, latency_ms)
		SELECT i, 'https://site-' || i || '.example', i % 17 <> 0, now() - interval '1 hour', now(), 200, 12.5
		FROM generate_series(1, $1) i`, sites); err != nil {
		b.Fatal(err)
	}
	e.db.Exec(ctx, "ANALYZE")
	get := func() []byte {
		resp, err := http.Get(e.URL + "/status")
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			b.Fatal(err)
		}
		return body
	}
	var s struct{ Sites map[string]json.RawMessage }
	if err := json.Unmarshal(get(), &s); err != nil || len(s.Sites) != sites {
		b.Fatalf("status: %d sites, %v", len(s.Sites), err)
	}
	b.ResetTimer()
	for b.Loop() {
		b.SetBytes(int64(len(get())))
	}
}

// BenchmarkCheckAll measures one check-all tick over 1,000 healthy sites on
// loopback, every check recorded.
func BenchmarkCheckAll(b *testing.B) {
	e := setup(b, setupOpts{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	gdb := e.sites
	ctx := context.Background()
	for i := range 1000 {
		if _, err := gdb.Add(ctx, site.AddParams{URL: fmt.Sprintf("%s/site/%d", srv.URL, i)}); err != nil {
			b.Fatal(err)
		}
	}
	wait.Until(b, 60*time.Second, "the sites' first checks did not end", func() bool { return len(e.status(b)) == 1000 })
	b.ResetTimer()
	for b.Loop() {
		if err := e.mon.CheckAll(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(1000*b.N)/b.Elapsed().Seconds(), "checks/s")
}
