// Package metrics is the program's Prometheus instrumentation: the
// counters and histograms the services add to as they work, and the
// registry GET /metrics serves, with the Go and process collectors and
// whatever per-site collector the app adds.
package metrics

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The program's counters and histograms. They count for the whole
// process; every registry serves the same ones.
var (
	// Checks counts the checks recorded, by result (up, degraded or down)
	// and kind of check (http, https, tcp...).
	Checks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "uptime_checks_total",
		Help: "Checks recorded, by result (up, degraded, down) and kind of check (http, https, tcp...).",
	}, []string{"result", "kind"})
	// CheckDuration is the time a recorded check took to its answer, or
	// to its failure.
	CheckDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "uptime_check_duration_seconds",
		Help:    "Time a recorded check took to its answer or its failure.",
		Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	})
	// Lateness is how long after its due time a scheduled round started.
	Lateness = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "uptime_scheduler_lateness_seconds",
		Help:    "How long after its due time a scheduled round started.",
		Buckets: []float64{.001, .005, .01, .05, .1, .5, 1, 5, 10, 30, 60},
	})
	// MissedRounds counts the rounds not run because they came later than
	// their site's interval.
	MissedRounds = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "uptime_scheduler_missed_rounds_total",
		Help: "Scheduled rounds not run because they came later than half their site's interval.",
	})
	// Deliveries counts the notifications sent, by channel and result (ok
	// or error).
	Deliveries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "uptime_deliveries_total",
		Help: "Notifications sent, by channel and result (ok, error).",
	}, []string{"channel", "result"})
	// Requests counts the HTTP requests served, by route pattern and
	// status code.
	Requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "uptime_http_requests_total",
		Help: "HTTP requests served, by route pattern and status code.",
	}, []string{"route", "code"})
	// RequestDuration is the time to serve a request, by route pattern.
	RequestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "uptime_http_request_duration_seconds",
		Help:    "Time to serve an HTTP request, by route pattern.",
		Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 5},
	}, []string{"route"})
)

// Registry returns a registry of the program's metrics, the Go and
// process collectors, and extra.
func Registry(extra ...prometheus.Collector) *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		Checks, CheckDuration, Lateness, MissedRounds, Deliveries, Requests, RequestDuration)
	r.MustRegister(extra...)
	return r
}

// Handler serves the registry in the Prometheus exposition format. A
// collector that fails (the database away) is left out of the answer, and
// logged.
func Handler(r *prometheus.Registry, log *slog.Logger) http.Handler {
	return promhttp.HandlerFor(r, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
		ErrorLog:      slogPrinter{log},
	})
}

type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Println(v ...any) { p.log.Warn("metrics: " + fmt.Sprint(v...)) }
