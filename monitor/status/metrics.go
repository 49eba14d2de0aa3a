package status

import (
	"context"
	"math"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"uptime/site"
)

// siteCollector gives Prometheus each site's latest state at every scrape,
// read from the database: so every instance serves the same figures.
type siteCollector struct {
	r                 *Reader
	up, latency, cert *prometheus.Desc
}

// SiteCollector returns the collector of the per-site series: each checked
// site's up, latency and certificate expiry, labelled with its id, name
// and kind of check.
func (r *Reader) SiteCollector() prometheus.Collector {
	labels := []string{"site_id", "name", "kind"}
	return &siteCollector{
		r:       r,
		up:      prometheus.NewDesc("uptime_site_up", "Whether the site is up (1) or down (0), as confirmed.", labels, nil),
		latency: prometheus.NewDesc("uptime_site_latency_seconds", "The site's last check's time to an answer.", labels, nil),
		cert:    prometheus.NewDesc("uptime_site_cert_expiry_timestamp_seconds", "When the site's TLS certificate expires, in Unix time.", labels, nil),
	}
}

func (c *siteCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.up
	ch <- c.latency
	ch <- c.cert
}

// scrapeTimeout bounds the per-site read of one scrape.
const scrapeTimeout = 20 * time.Second

func (c *siteCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	rows, err := c.r.db.Query(ctx, `SELECT s.site_id, COALESCE(m.url, s.url), COALESCE(m.settings->>'name', ''), s.up,
			s.status_code IS NOT NULL, COALESCE(s.latency_ms, 0), s.cert_expires_at
		FROM site_state s LEFT JOIN monitored m USING (site_id) WHERE s.checked_at IS NOT NULL ORDER BY s.site_id`)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.up, err)
		return
	}
	var (
		id        int64
		rawURL    string
		name      string
		up, answr bool
		latencyMS float64
		cert      *time.Time
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &rawURL, &name, &up, &answr, &latencyMS, &cert}, func() error {
		labels := []string{strconv.FormatInt(id, 10), site.NameOf(name, rawURL), site.KindOf(rawURL)}
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, boolValue(up), labels...)
		if answr {
			// In seconds to the microsecond: 0.00238, not 0.0023799999999999997.
			ch <- prometheus.MustNewConstMetric(c.latency, prometheus.GaugeValue, math.Round(latencyMS*1000)/1e6, labels...)
		}
		if cert != nil {
			ch <- prometheus.MustNewConstMetric(c.cert, prometheus.GaugeValue, float64(cert.Unix()), labels...)
		}
		return nil
	})
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.up, err)
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
