package statuspage_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"uptime/internal/apptest"
	"uptime/internal/pgtest"
	"uptime/statuspage"
)

// A month's report gives each site's figures as its checks and incidents
// say them, computed here from the rows written: checks and uptime without
// maintenance, downtime within the month, mean and p95 latency of the
// answered checks; as JSON, CSV and printable HTML alike. Bad input is a
// 400 naming what.
func TestMonthReport(t *testing.T) {
	prefix := pgtest.Prefix(t)
	a := apptest.Start(t, apptest.Setup{Prefix: prefix})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	var steady, flaky struct{ ID int64 }
	a.Call(t, "POST", "/site", fmt.Sprintf(`{"url": %q, "name": "Steady", "interval": "24h"}`, srv.URL+"/a"), &steady)
	a.Call(t, "POST", "/site", fmt.Sprintf(`{"url": %q, "name": "Flaky", "interval": "24h"}`, srv.URL+"/b"), &flaky)
	a.Call(t, "POST", "/status-page", fmt.Sprintf(`{"slug": "r", "title": "R", "groups": [{"name": "All", "sites": [%d]}]}`, steady.ID), nil)

	now := time.Now().UTC()
	month := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, -1, 0)
	end := month.AddDate(0, 1, 0)
	type check struct {
		site      int64
		at        time.Time
		up, maint bool
		status    int
		latency   float64
	}
	var checks []check
	for at := month.Add(-2 * time.Hour); at.Before(end.Add(2 * time.Hour)); at = at.Add(time.Hour) {
		i := int(at.Sub(month).Hours())
		checks = append(checks, check{site: steady.ID, at: at, up: true, status: 200, latency: float64(i%97) + 0.5})
		c := check{site: flaky.ID, at: at, up: true, status: 200, latency: float64(i%13) * 10}
		switch {
		case i >= 24 && i < 34:
			c.up, c.status, c.latency = false, 0, 0 // no answer
		case i >= 50 && i < 55:
			c.up, c.status, c.maint = false, 503, true // in maintenance
		case i >= 100 && i < 103:
			c.up, c.status = false, 503
		}
		checks = append(checks, c)
	}
	db, err := pgxpool.New(context.Background(), pgtest.Cluster(t).URL(prefix+"monitor"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var rows [][]any
	for _, c := range checks {
		var status *int
		if c.status != 0 {
			status = &c.status
		}
		rows = append(rows, []any{c.site, c.up, c.at, status, c.latency, c.maint})
	}
	if _, err := db.CopyFrom(context.Background(), pgx.Identifier{"checks"}, []string{"site_id", "up", "checked_at", "status_code", "latency_ms", "maintenance"},
		pgx.CopyFromRows(rows)); err != nil {
		t.Fatal(err)
	}
	// Two incidents: one begun the month before and ended in it, one within it.
	incidents := [][2]time.Time{{month.Add(-5 * time.Hour), month.Add(3 * time.Hour)}, {month.Add(100 * time.Hour), month.Add(103 * time.Hour)}}
	for _, in := range incidents {
		if _, err := db.Exec(context.Background(), `INSERT INTO incident (site_id, started_at, ended_at, cause, checks) VALUES ($1, $2, $3, 'HTTP 503', 3)`,
			flaky.ID, in[0], in[1]); err != nil {
			t.Fatal(err)
		}
	}

	// What the rows say.
	want := map[int64]statuspage.SiteReport{}
	lats := map[int64][]float64{}
	for _, c := range checks {
		if c.at.Before(month) || !c.at.Before(end) || c.maint {
			continue
		}
		w := want[c.site]
		w.Checks++
		if c.up {
			w.Up++
		}
		want[c.site] = w
		if c.status != 0 {
			lats[c.site] = append(lats[c.site], c.latency)
		}
	}
	round := func(f float64) float64 { return math.Round(f*1000) / 1000 }
	for id, w := range want {
		u := round(100 * float64(w.Up) / float64(w.Checks))
		w.Uptime = &u
		l := slices.Sorted(slices.Values(lats[id]))
		sum := 0.0
		for _, v := range l {
			sum += v
		}
		mean, p95 := round(sum/float64(len(l))), round(l[int(math.Ceil(0.95*float64(len(l))))-1])
		w.MeanLatencyMS, w.P95LatencyMS = &mean, &p95
		want[id] = w
	}
	wantDown := 3*time.Hour + 3*time.Hour

	var rep statuspage.Report
	a.Call(t, "GET", fmt.Sprintf("/report?month=%s&sites=%d,%d", month.Format("2006-01"), flaky.ID, steady.ID), "", &rep)
	if rep.Month != month.Format("2006-01") || len(rep.Sites) != 2 {
		t.Fatalf("report: %+v", rep)
	}
	for _, sr := range rep.Sites {
		w := want[sr.SiteID]
		if sr.Checks != w.Checks || sr.Up != w.Up || *sr.Uptime != *w.Uptime || *sr.MeanLatencyMS != *w.MeanLatencyMS || *sr.P95LatencyMS != *w.P95LatencyMS {
			t.Errorf("site %s: checks %d up %d uptime %v mean %v p95 %v; want %d %d %v %v %v", sr.Name, sr.Checks, sr.Up, *sr.Uptime,
				*sr.MeanLatencyMS, *sr.P95LatencyMS, w.Checks, w.Up, *w.Uptime, *w.MeanLatencyMS, *w.P95LatencyMS)
		}
		if len(sr.Days) != int(end.Sub(month).Hours()/24) {
			t.Errorf("site %s: %d days", sr.Name, len(sr.Days))
		}
	}
	f := rep.Sites[1] // in the order of their ids
	if f.SiteID != flaky.ID || f.Incidents != 2 || f.DowntimeS != wantDown.Seconds() {
		t.Errorf("flaky: %d incidents, %v s down; want 2 and %v", f.Incidents, f.DowntimeS, wantDown.Seconds())
	}
	if d := *f.Days[1]; d != round(100*float64(24-10)/24) {
		t.Errorf("flaky's second day: %v%% up", d)
	}

	// The same as CSV, asked by Accept, and as HTML.
	status, h, body := a.DoWithHeaders(t, "GET", fmt.Sprintf("/report?month=%s&sites=%d,%d", month.Format("2006-01"), flaky.ID, steady.ID), "",
		"Accept", "text/csv")
	records, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if status != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/csv") || err != nil || len(records) != 3 {
		t.Fatalf("CSV: %d %s %v\n%s", status, h.Get("Content-Type"), err, body)
	}
	for i, sr := range rep.Sites {
		r := records[i+1]
		if r[1] != strconv.FormatInt(sr.SiteID, 10) || r[2] != sr.Name || r[5] != strconv.FormatFloat(*sr.Uptime, 'f', -1, 64) ||
			r[9] != strconv.FormatFloat(*sr.P95LatencyMS, 'f', -1, 64) {
			t.Errorf("CSV row %v against %+v", r, sr)
		}
	}
	status, _, body = a.DoWithHeaders(t, "GET", fmt.Sprintf("/report.html?month=%s&page=r", month.Format("2006-01")), "")
	if status != http.StatusOK || !strings.Contains(body, "<td>Steady</td>") || strings.Contains(body, "Flaky") ||
		strings.Count(body, "<span class=") != len(rep.Sites[0].Days) {
		t.Errorf("HTML of the page's sites: %d, %d bars\n%.400s", status, strings.Count(body, "<span class="), body)
	}

	for _, c := range []struct{ query, want string }{
		{"month=2026-13&sites=1", "month must be a month"},
		{"sites=abc", "sites[0]"},
		{"", "sites or page is required"},
		{"sites=999999", "sites[0]: no site has the id 999999"},
		{"page=nope", "page: no status page"},
	} {
		status, _, body := a.DoWithHeaders(t, "GET", "/report?"+c.query, "")
		var e struct{ Message string }
		json.Unmarshal([]byte(body), &e)
		if status != http.StatusBadRequest || !strings.Contains(e.Message, c.want) {
			t.Errorf("/report?%s: %d %s, want a 400 saying %q", c.query, status, body, c.want)
		}
	}
}
