//go:build metricsbench

package monitor_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"uptime/internal/metrics"
	"uptime/monitor"
)

// TestMetricsBenchmark times GET /metrics with BENCH_METRICS_SITES sites
// (100,000 by default), every one checked, a third of them over https,
// with the per-site series and without. It writes its figures to
// BENCH_METRICS_OUT.
func TestMetricsBenchmark(t *testing.T) {
	sites := envInt(t, "BENCH_METRICS_SITES", 100_000)
	mon, db := historyService(t, monitor.Options{})
	ctx := context.Background()
	if _, err := db.Exec(ctx, `INSERT INTO monitored (site_id, url, settings, version, defaults, interval_ms, phase_ms, budget_ms)
		SELECT i, 'https://site-' || i || '.example.com/health', CASE WHEN i % 2 = 0 THEN jsonb_build_object('name', 'Site number ' || i) ELSE '{}' END,
			1, '', 60000, 0, 10000 FROM generate_series(1, $1) i`, sites); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO site_state (site_id, url, up, checked_at, since, status_code, latency_ms, reason, cert_expires_at, degraded)
		SELECT i, 'https://site-' || i || '.example.com/health', i % 50 <> 0, now(), now(), 200, 20 + random() * 300, '',
			CASE WHEN i % 3 = 0 THEN now() + interval '60 days' END, false FROM generate_series(1, $1) i`, sites); err != nil {
		t.Fatal(err)
	}
	db.Exec(ctx, "VACUUM ANALYZE site_state")
	db.Exec(ctx, "VACUUM ANALYZE monitored")
	var out strings.Builder
	report := func(format string, args ...any) {
		line := fmt.Sprintf(format, args...)
		t.Log(line)
		out.WriteString(line + "\n")
	}
	report("| `/metrics` at %d sites | bytes | p50 / max of 10 scrapes |", sites)
	report("| --- | --- | --- |")
	for _, c := range []struct {
		name  string
		extra []prometheus.Collector
	}{{"per-site series on", []prometheus.Collector{mon.SiteCollector()}}, {"per-site series off", nil}} {
		h := metrics.Handler(metrics.Registry(c.extra...), slog.Default())
		var took []time.Duration
		var size int
		for range 10 {
			start := time.Now()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
			took = append(took, time.Since(start))
			if rec.Code != 200 {
				t.Fatalf("%s: %d %s", c.name, rec.Code, rec.Body.String()[:min(200, rec.Body.Len())])
			}
			size = rec.Body.Len()
		}
		slices.Sort(took)
		report("| %s | %d (%.1f MiB) | %s / %s |", c.name, size, float64(size)/(1<<20),
			took[len(took)/2].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond))
	}
	if path := os.Getenv("BENCH_METRICS_OUT"); path != "" {
		if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
