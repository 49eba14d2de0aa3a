package main

import (
	"bufio"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
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
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	const prefix = `uptime_scheduler_lateness_seconds_bucket{le="`
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), prefix)
		if !ok {
			continue
		}
		le, rest, ok := strings.Cut(line, `"} `)
		if !ok {
			continue
		}
		bound := math.Inf(1)
		if le != "+Inf" {
			if bound, err = strconv.ParseFloat(le, 64); err != nil {
				return h, fmt.Errorf("/metrics: %q", sc.Text())
			}
		}
		n, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		if err != nil {
			return h, fmt.Errorf("/metrics: %q", sc.Text())
		}
		h.bounds, h.counts = append(h.bounds, bound), append(h.counts, n)
	}
	if len(h.bounds) == 0 {
		return h, fmt.Errorf("/metrics has no uptime_scheduler_lateness_seconds")
	}
	return h, sc.Err()
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
