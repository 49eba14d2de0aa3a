package statuspage

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"uptime/internal/api"
	"uptime/internal/errs"
	"uptime/internal/text"
	"uptime/monitor/history"
	"uptime/site"
)

// maxReportSites bounds the sites of one report: each site's checks of
// the month are read for its latency's 95th percentile.
const maxReportSites = 100

// Report is each site's figures for a month.
type Report struct {
	Month string       `json:"month"`
	Sites []SiteReport `json:"sites"`
}

// SiteReport is a site's month.
type SiteReport struct {
	SiteID int64  `json:"site_id"`
	Name   string `json:"name"`
	// Checks are the month's checks outside maintenance, Up those that
	// found the site up, and Uptime their share in percent (null without
	// checks).
	Checks int64    `json:"checks"`
	Up     int64    `json:"up"`
	Uptime *float64 `json:"uptime"`
	// DowntimeS is how long, in seconds, its incidents lasted within the
	// month; Incidents is how many were on during it.
	DowntimeS float64 `json:"downtime_s"`
	Incidents int     `json:"incidents"`
	// MeanLatencyMS and P95LatencyMS are over the checks answered
	// outside maintenance; null without one.
	MeanLatencyMS *float64 `json:"mean_latency_ms"`
	P95LatencyMS  *float64 `json:"p95_latency_ms"`
	// Days are its uptime by day, in percent, null for a day without
	// checks.
	Days []*float64 `json:"days"`
}

// handleReport serves GET /report: the sites of ?sites= and of the page
// of ?page= (every site of the two), for ?month= (this one unless given),
// as JSON, CSV or printable HTML.
func (s *Service) handleReport(r *http.Request) (any, error) {
	q := r.URL.Query()
	month, err := parseMonth(q.Get("month"), s.now())
	if err != nil {
		return nil, err
	}
	var ids []int64
	if v := q.Get("sites"); v != "" {
		for i, f := range strings.Split(v, ",") {
			id, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
			if err != nil || id < 1 {
				return nil, errs.Errorf(errs.InvalidArgument, "sites[%d]: %s is not a site id", i, text.Quote(f))
			}
			ids = append(ids, id)
		}
	}
	if slug := q.Get("page"); slug != "" {
		p, err := s.Get(r.Context(), slug)
		if errs.Is(err, errs.NotFound) {
			return nil, errs.Errorf(errs.InvalidArgument, "page: no status page has the slug %s", text.Quote(slug))
		}
		if err != nil {
			return nil, err
		}
		ids = append(ids, p.siteIDs()...)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	switch {
	case len(ids) == 0:
		return nil, errs.Errorf(errs.InvalidArgument, "sites or page is required: the sites to report on")
	case len(ids) > maxReportSites:
		return nil, errs.Errorf(errs.InvalidArgument, "a report covers at most %d sites, got %d", maxReportSites, len(ids))
	}
	entries, byID, err := s.pageSites(r.Context(), ids)
	if err != nil {
		return nil, err
	}
	if len(entries) != len(ids) {
		for i, id := range ids {
			if byID[id] == nil {
				return nil, errs.Errorf(errs.InvalidArgument, "sites[%d]: no site has the id %d", i, id)
			}
		}
	}
	rep, err := s.report(r.Context(), ids, byID, month, s.now())
	if err != nil {
		return nil, err
	}
	switch format := reportFormat(r); format {
	case "csv":
		return rep.csv()
	case "html":
		return rep.html()
	}
	return rep, nil
}

// reportFormat is what the request asks for: its path's extension, or
// else its Accept header.
func reportFormat(r *http.Request) string {
	switch {
	case strings.HasSuffix(r.URL.Path, ".csv"):
		return "csv"
	case strings.HasSuffix(r.URL.Path, ".html"):
		return "html"
	case strings.HasPrefix(r.Header.Get("Accept"), "text/csv"):
		return "csv"
	case strings.HasPrefix(r.Header.Get("Accept"), "text/html"):
		return "html"
	}
	return "json"
}

// report reads the sites' months: their checks, for the counts and the
// latencies, and their incidents.
func (s *Service) report(ctx context.Context, ids []int64, sites map[int64]*site.Entry, month, now time.Time) (*Report, error) {
	end := month.AddDate(0, 1, 0)
	until := end
	if now.Before(until) {
		until = now
	}
	days := int(end.Sub(month).Hours() / 24)
	incidents, err := s.mon.Incidents(ctx, history.IncidentQuery{Sites: ids, Since: month, Before: end, Limit: history.MaxIncidents})
	if err != nil {
		return nil, err
	}
	rep := &Report{Month: month.Format("2006-01"), Sites: []SiteReport{}}
	for _, id := range ids {
		sr := SiteReport{SiteID: id, Name: sites[id].Name, Days: make([]*float64, days)}
		var (
			latencies   []float64
			dayN, dayUp = make([]int64, days), make([]int64, days)
			before      = until
		)
		for {
			page, err := s.mon.Checks(ctx, id, before, 10_000)
			if err != nil {
				return nil, err
			}
			done := len(page) == 0
			for _, c := range page {
				if c.CheckedAt.Before(month) {
					done = true
					break
				}
				before = c.CheckedAt
				if c.Maintenance {
					continue
				}
				d := int(c.CheckedAt.Sub(month).Hours() / 24)
				sr.Checks++
				dayN[d]++
				if c.Up {
					sr.Up++
					dayUp[d]++
				}
				if c.StatusCode != 0 {
					latencies = append(latencies, c.LatencyMS)
				}
			}
			if done || len(page) < 10_000 {
				break
			}
		}
		if sr.Checks > 0 {
			sr.Uptime = new(round3(100 * float64(sr.Up) / float64(sr.Checks)))
		}
		for d := range days {
			if dayN[d] > 0 {
				sr.Days[d] = new(round3(100 * float64(dayUp[d]) / float64(dayN[d])))
			}
		}
		if len(latencies) > 0 {
			sum := 0.0
			for _, l := range latencies {
				sum += l
			}
			slices.Sort(latencies)
			sr.MeanLatencyMS = new(round3(sum / float64(len(latencies))))
			sr.P95LatencyMS = new(round3(latencies[int(math.Ceil(0.95*float64(len(latencies))))-1]))
		}
		for _, in := range incidents.Incidents {
			if in.SiteID != id {
				continue
			}
			from, to := in.StartedAt, until
			if in.EndedAt != nil && in.EndedAt.Before(to) {
				to = *in.EndedAt
			}
			if from.Before(month) {
				from = month
			}
			sr.Incidents++
			if to.After(from) {
				sr.DowntimeS += math.Round(to.Sub(from).Seconds())
			}
		}
		rep.Sites = append(rep.Sites, sr)
	}
	return rep, nil
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

// csv is the report as CSV, a row a site, the days left out.
func (rep *Report) csv() (*api.Raw, error) {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{"month", "site_id", "name", "checks", "up", "uptime", "downtime_s", "incidents", "mean_latency_ms", "p95_latency_ms"})
	num := func(f *float64) string {
		if f == nil {
			return ""
		}
		return strconv.FormatFloat(*f, 'f', -1, 64)
	}
	for _, sr := range rep.Sites {
		w.Write([]string{rep.Month, strconv.FormatInt(sr.SiteID, 10), sr.Name, strconv.FormatInt(sr.Checks, 10), strconv.FormatInt(sr.Up, 10),
			num(sr.Uptime), strconv.FormatFloat(sr.DowntimeS, 'f', -1, 64), strconv.Itoa(sr.Incidents), num(sr.MeanLatencyMS), num(sr.P95LatencyMS)})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return nil, err
	}
	return &api.Raw{Status: http.StatusOK, Header: http.Header{
		"Content-Type":        {"text/csv; charset=utf-8"},
		"Content-Disposition": {fmt.Sprintf(`attachment; filename="uptime-report-%s.csv"`, rep.Month)},
	}, Body: b.Bytes()}, nil
}

var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"pct": func(f *float64) string {
		if f == nil {
			return "—"
		}
		return strconv.FormatFloat(*f, 'f', 3, 64) + " %"
	},
	"ms": func(f *float64) string {
		if f == nil {
			return "—"
		}
		return strconv.FormatFloat(*f, 'f', 1, 64) + " ms"
	},
	"lasted": func(s float64) string { return lasted(time.Duration(s) * time.Second) },
	"bar": func(f *float64) string {
		switch {
		case f == nil:
			return "none"
		case *f >= 99.9:
			return "up"
		case *f >= 95:
			return "partial"
		}
		return "down"
	},
}).Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Uptime report, {{.Month}}</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 2rem; color: #111; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid #ddd; vertical-align: middle; }
  td.n { text-align: right; white-space: nowrap; }
  .bars { display: flex; gap: 1px; height: 1.2rem; min-width: 12rem; }
  .bars span { flex: 1; background: #c8ccd0; }
  .bars .up { background: #2e9e44; } .bars .partial { background: #e5a50a; } .bars .down { background: #d43f3a; }
  @media print { body { margin: 0; } .bars span { print-color-adjust: exact; -webkit-print-color-adjust: exact; } }
</style>
</head>
<body>
<h1>Uptime report, {{.Month}}</h1>
<table>
<tr><th>Site</th><th>Uptime</th><th>Downtime</th><th>Incidents</th><th>Mean latency</th><th>p95 latency</th><th>By day</th></tr>
{{- range .Sites}}
<tr class="site" data-site="{{.SiteID}}"><td>{{.Name}}</td><td class="n">{{pct .Uptime}}</td><td class="n">{{lasted .DowntimeS}}</td><td class="n">{{.Incidents}}</td>
<td class="n">{{ms .MeanLatencyMS}}</td><td class="n">{{ms .P95LatencyMS}}</td>
<td><div class="bars">{{range .Days}}<span class="{{bar .}}" title="{{pct .}}"></span>{{end}}</div></td></tr>
{{- end}}
</table>
</body>
</html>
`))

// html is the report as a printable page, a bar a day.
func (rep *Report) html() (*api.Raw, error) {
	var b bytes.Buffer
	if err := reportTemplate.Execute(&b, rep); err != nil {
		return nil, fmt.Errorf("render the report: %w", err)
	}
	return &api.Raw{Status: http.StatusOK, Header: http.Header{
		"Content-Type":            {"text/html; charset=utf-8"},
		"Content-Security-Policy": {"default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"},
	}, Body: b.Bytes()}, nil
}
