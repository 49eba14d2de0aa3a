package monitor

import (
	"uptime/internal/metrics"
	"uptime/site"
)

// countChecks adds recorded checks of the site at rawURL to the process's
// metrics.
func (s *Service) countChecks(rawURL string, attempts []Result) {
	kind := site.KindOf(rawURL)
	s.checked.Add(int64(len(attempts)))
	for _, a := range attempts {
		result := "down"
		switch {
		case a.Up && a.Degraded:
			result = "degraded"
		case a.Up:
			result = "up"
		}
		metrics.Checks.WithLabelValues(result, kind).Inc()
		metrics.CheckDuration.Observe(a.Latency.Seconds())
	}
}
