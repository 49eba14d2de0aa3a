package main

import (
	"fmt"
	"math"
	"net/http"
	"slices"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// latenessBuckets is the cumulative histogram of the scheduler's lateness
// on /metrics: how many rounds started within each bound, in seconds, and
// in all.
type latenessBuckets struct {
	bounds []float64
	counts []float64
}

// readLateness scrapes uptime_scheduler_lateness_seconds from an instance.
func readLateness(base string) (latenessBuckets, error) {
	var h latenessBuckets
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return h, err
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return h, fmt.Errorf("/metrics: %w", err)
	}
	fam := fams["uptime_scheduler_lateness_seconds"]
	if fam == nil || len(fam.GetMetric()) != 1 || fam.GetMetric()[0].GetHistogram() == nil {
		return h, fmt.Errorf("/metrics has no uptime_scheduler_lateness_seconds histogram")
	}
	hist := fam.GetMetric()[0].GetHistogram()
	for _, b := range hist.GetBucket() {
		h.bounds, h.counts = append(h.bounds, b.GetUpperBound()), append(h.counts, float64(b.GetCumulativeCount()))
	}
	if len(h.bounds) == 0 || !math.IsInf(h.bounds[len(h.bounds)-1], 1) {
		h.bounds, h.counts = append(h.bounds, math.Inf(1)), append(h.counts, float64(hist.GetSampleCount()))
	}
	return h, nil
}

// since is the histogram of the rounds started after o was read.
func (h latenessBuckets) since(o latenessBuckets) latenessBuckets {
	out := latenessBuckets{bounds: h.bounds, counts: slices.Clone(h.counts)}
	for i := range out.counts {
		if i < len(o.counts) {
			out.counts[i] -= o.counts[i]
		}
	}
	return out
}

// quantile is the bound, in seconds, within which the share q of the
// rounds started: the histogram's bucket, not an exact figure.
func (h latenessBuckets) quantile(q float64) float64 {
	total := h.counts[len(h.counts)-1]
	for i, c := range h.counts {
		if c >= q*total {
			return h.bounds[i]
		}
	}
	return math.Inf(1)
}

// lateBound writes a bound of the histogram.
func lateBound(s float64) string {
	if math.IsInf(s, 1) {
		return "over 60 s"
	}
	if s < 1 {
		return fmt.Sprintf("%g ms", s*1000)
	}
	return fmt.Sprintf("%g s", s)
}
