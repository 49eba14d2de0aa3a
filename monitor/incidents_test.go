package monitor_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"uptime/internal/dbutil"
	"uptime/internal/pgtest"
	"uptime/internal/wait"
	"uptime/monitor"
	"uptime/monitor/history"
)

// Each confirmed down period is an incident: opened by the check that
// confirmed the site down, with its reason, and closed by the one that
// confirmed it up, with its checks counted.
func TestIncidents(t *testing.T) {
	e := setup(t, setupOpts{opts: monitor.Options{Confirmations: 0}})
	sw, srv := newSwitchable(t, 200)
	s := e.addSite(t, srv.URL)
	other := e.addSite(t, srv.URL+"/other")
	var got history.IncidentsResponse
	e.Call(t, "GET", "/incident", "", &got)
	if len(got.Incidents) != 0 {
		t.Fatalf("incidents of sites up: %+v", got.Incidents)
	}

	outage := func() (start, end time.Time) {
		sw.set(500)
		before := time.Now()
		for range 3 {
			e.check(t, s.ID)
		}
		e.Call(t, "GET", fmt.Sprintf("/incident?site=%d", s.ID), "", &got)
		open := got.Incidents[0]
		if open.EndedAt != nil || open.Cause != "HTTP 500" || open.Checks != 3 || open.StartedAt.Before(before) {
			t.Fatalf("the open incident: %+v, want one since the first failing check, HTTP 500, 3 checks", open)
		}
		sw.set(200)
		e.check(t, s.ID)
		e.Call(t, "GET", fmt.Sprintf("/incident?site=%d", s.ID), "", &got)
		closed := got.Incidents[0]
		if closed.ID != open.ID || closed.EndedAt == nil || closed.Checks != 3 || !closed.EndedAt.After(closed.StartedAt) {
			t.Fatalf("the closed incident: %+v, want it ended by the passing check, after 3 checks", closed)
		}
		return closed.StartedAt, *closed.EndedAt
	}
	firstStart, _ := outage()
	// Another site's outage is its own.
	_, otherSrv := newSwitchable(t, 503)
	e.Call(t, "PATCH", fmt.Sprintf("/site/%d", other.ID), fmt.Sprintf(`{"url": %q}`, otherSrv.URL), nil)
	e.check(t, other.ID)
	outage()

	e.Call(t, "GET", fmt.Sprintf("/incident?site=%d", s.ID), "", &got)
	if len(got.Incidents) != 2 || got.Incidents[0].ID <= got.Incidents[1].ID || !got.Incidents[1].StartedAt.Equal(firstStart) {
		t.Fatalf("the site's incidents, newest first: %+v", got.Incidents)
	}
	e.Call(t, "GET", "/incident", "", &got)
	if len(got.Incidents) != 3 || got.Incidents[1].SiteID != other.ID || got.Incidents[1].EndedAt != nil {
		t.Fatalf("every site's incidents: %+v", got.Incidents)
	}
	// Pages: limit, then before the last one shown; or before a time.
	var page history.IncidentsResponse
	e.Call(t, "GET", "/incident?limit=1", "", &page)
	e.Call(t, "GET", fmt.Sprintf("/incident?limit=5&before=%d", page.Incidents[0].ID), "", &got)
	if len(page.Incidents) != 1 || len(got.Incidents) != 2 || got.Incidents[0].ID >= page.Incidents[0].ID {
		t.Errorf("paging: %+v then %+v", page.Incidents, got.Incidents)
	}
	e.Call(t, "GET", "/incident?before="+firstStart.Add(time.Millisecond).UTC().Format(time.RFC3339Nano), "", &got)
	if len(got.Incidents) != 1 || !got.Incidents[0].StartedAt.Equal(firstStart) {
		t.Errorf("before the first outage's start: %+v", got.Incidents)
	}
	for _, q := range []string{"site=abc", "site=0", "before=yesterday", "before=-3", "limit=0", "limit=1001"} {
		if status, body := e.Do(t, "GET", "/incident?"+q, ""); status != 400 || !strings.Contains(body, "invalid_argument") {
			t.Errorf("GET /incident?%s = %d %s, want 400", q, status, body)
		}
	}
	// A site deleted takes its incidents with it.
	e.Call(t, "DELETE", fmt.Sprintf("/site/%d", other.ID), "", nil)
	wait.For(t, 10*time.Second, func() error {
		e.Call(t, "GET", fmt.Sprintf("/incident?site=%d", other.ID), "", &got)
		if len(got.Incidents) == 0 {
			return nil
		}
		return fmt.Errorf("the deleted site's incidents are still there: %+v", got.Incidents)
	})
}

// A site down when the incidents arrive is in one from when it went down.
func TestUpgradeOpensTheIncidentsOfSitesDown(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	if err := dbutil.Migrate(dbURL, migrationsBefore(t, 8), "migrations"); err != nil {
		t.Fatal(err)
	}
	_, db := serviceOn(t, dbURL, monitor.Options{})
	ctx := context.Background()
	since := time.Date(2026, 11, 20, 3, 4, 5, 0, time.UTC)
	if _, err := db.Exec(ctx, `INSERT INTO site_state (site_id, url, up, since, checked_at, reason)
		VALUES (1, 'http://a.example', false, $1, now(), 'HTTP 502'), (2, 'http://b.example', true, $1, now(), '')`, since); err != nil {
		t.Fatal(err)
	}
	if err := dbutil.Migrate(dbURL, monitor.Migrations, "migrations"); err != nil {
		t.Fatal(err)
	}
	mon, _ := serviceOn(t, dbURL, monitor.Options{})
	got, err := mon.Incidents(ctx, history.IncidentQuery{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Incidents) != 1 || got.Incidents[0].SiteID != 1 || !got.Incidents[0].StartedAt.Equal(since) ||
		got.Incidents[0].EndedAt != nil || got.Incidents[0].Cause != "HTTP 502" {
		t.Errorf("after the upgrade: %+v, want site 1's open incident since %s", got.Incidents, since)
	}
}
