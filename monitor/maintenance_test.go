package monitor_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"uptime/monitor"
	"uptime/monitor/event"
	"uptime/monitor/history"
	"uptime/monitor/maintenance"
)

// Bad input for /maintenance is a 400 naming the field, and changes
// nothing.
func TestMaintenanceValidation(t *testing.T) {
	e := setup(t, setupOpts{})
	_, srv := newSwitchable(t, 200)
	id := e.addWithSettings(t, srv.URL, `"tags": ["db"]`)
	now := time.Now().UTC()
	at := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339) }
	for _, tc := range []struct{ name, body, want string }{
		{"not JSON", `{"title": `, "JSON"},
		{"unknown field", `{"title": "x", "starts": "2026-01-01T00:00:00Z"}`, `unknown field "starts"`},
		{"no title", fmt.Sprintf(`{"start": %q, "end": %q}`, at(0), at(time.Hour)), "title is required"},
		{"neither kind", `{"title": "x"}`, "give start and end"},
		{"no end", fmt.Sprintf(`{"title": "x", "start": %q}`, at(0)), "needs start and end"},
		{"end before start", fmt.Sprintf(`{"title": "x", "start": %q, "end": %q}`, at(time.Hour), at(0)), "end must be after start"},
		{"bad time", `{"title": "x", "start": "tomorrow", "end": "later"}`, "start"},
		{"both kinds", fmt.Sprintf(`{"title": "x", "start": %q, "end": %q, "cron": "0 2 * * *"}`, at(0), at(time.Hour)), "not both"},
		{"cron alone", `{"title": "x", "cron": "0 2 * * *"}`, "needs cron, duration and timezone; duration and timezone are missing"},
		{"no time zone", `{"title": "x", "cron": "0 2 * * *", "duration": "1h"}`, "timezone is missing"},
		{"bad cron, no time zone", `{"title": "x", "cron": "every night", "duration": "1h"}`, "is not a cron expression"},
		{"bad cron", `{"title": "x", "cron": "every night", "duration": "1h", "timezone": "UTC"}`, "is not a cron expression"},
		{"six fields", `{"title": "x", "cron": "0 0 2 * * *", "duration": "1h", "timezone": "UTC"}`, "is not a cron expression"},
		{"bad time zone", `{"title": "x", "cron": "0 2 * * *", "duration": "1h", "timezone": "Mars/Olympus"}`, "timezone \"Mars/Olympus\" is not a time zone"},
		{"bad duration", `{"title": "x", "cron": "0 2 * * *", "duration": "forever", "timezone": "UTC"}`, "duration must be"},
		{"too long", `{"title": "x", "cron": "0 2 * * *", "duration": "200h", "timezone": "UTC"}`, "duration must be"},
		{"always on", `{"title": "x", "cron": "@every 1s", "duration": "1h", "timezone": "UTC"}`, "before the 1h of the first are over"},
		{"back to back", `{"title": "x", "cron": "0 * * * *", "duration": "1h", "timezone": "UTC"}`, "each must end before the next starts"},
		{"overlapping", `{"title": "x", "cron": "*/10 * * * *", "duration": "15m", "timezone": "UTC"}`, "before the 15m of the first are over"},
		{"overlapping some days", `{"title": "x", "cron": "0 22 * * MON,TUE", "duration": "25h", "timezone": "UTC"}`, "before the 25h"},
		{"unknown site", fmt.Sprintf(`{"title": "x", "start": %q, "end": %q, "sites": [%d, 99999]}`, at(0), at(time.Hour), id), "sites[1]: no site has the id 99999"},
		{"unknown tag", fmt.Sprintf(`{"title": "x", "start": %q, "end": %q, "tags": ["web"]}`, at(0), at(time.Hour)), `tags[0]: no site has the tag "web"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, msg := e.Refusal(t, "POST", "/maintenance", tc.body)
			if status != 400 || !strings.Contains(msg, tc.want) {
				t.Errorf("POST /maintenance %s = %d %q, want 400 saying %q", tc.body, status, msg, tc.want)
			}
		})
	}
	var list maintenance.WindowList
	e.Call(t, "GET", "/maintenance", "", &list)
	if len(list.Windows) != 0 {
		t.Fatalf("bad requests stored %+v", list.Windows)
	}
	// A good one, then a bad change to it, which changes nothing.
	var w maintenance.Window
	e.Call(t, "POST", "/maintenance", fmt.Sprintf(`{"title": "db upgrade", "tags": ["db"], "start": %q, "end": %q}`, at(time.Hour), at(2*time.Hour)), &w)
	if status, _ := e.Do(t, "PATCH", fmt.Sprintf("/maintenance/%d", w.ID), fmt.Sprintf(`{"end": %q}`, at(0))); status != 400 {
		t.Errorf("PATCH with the end before the start: %d, want 400", status)
	}
	var got maintenance.Window
	e.Call(t, "GET", fmt.Sprintf("/maintenance/%d", w.ID), "", &got)
	if !got.End.Equal(*w.End) || got.Active {
		t.Errorf("after a bad change the window is %+v", got)
	}
	for _, path := range []string{"/maintenance/x", "/maintenance/0"} {
		if status, _ := e.Do(t, "GET", path, ""); status != 400 {
			t.Errorf("GET %s: %d, want 400", path, status)
		}
	}
	if status, _ := e.Do(t, "DELETE", "/maintenance/9999", ""); status != 404 {
		t.Errorf("DELETE of no window: %d, want 404", status)
	}
}

// A recurring window is on during each occurrence, in its time zone.
func TestRecurringWindow(t *testing.T) {
	e := setup(t, setupOpts{})
	// Weekly at 02:00 Berlin time for 2 hours: once a year the clock goes
	// back and 02:00 comes twice, which is no overlap.
	e.Call(t, "POST", "/maintenance", `{"title": "weekly", "cron": "0 2 * * SUN", "duration": "2h", "timezone": "Europe/Berlin"}`, nil)
	var now, nightly maintenance.Window
	// One that started this minute, every day.
	started := time.Now().UTC().Truncate(time.Minute)
	e.Call(t, "POST", "/maintenance", fmt.Sprintf(`{"title": "now", "cron": "%d %d * * *", "duration": "30m", "timezone": "UTC"}`,
		started.Minute(), started.Hour()), &now)
	e.Call(t, "POST", "/maintenance", `{"title": "nightly", "cron": "30 3 * * *", "duration": "30m", "timezone": "America/New_York"}`, &nightly)
	if !now.Active || now.Current == nil || !now.Current.Start.Equal(started) || now.Current.End.Sub(now.Current.Start) != 30*time.Minute {
		t.Errorf("a window that started at %s: %+v, want it on now, from then", started, now)
	}
	if now.Next == nil || !now.Next.Start.Equal(started.AddDate(0, 0, 1)) {
		t.Errorf("a daily window on now: next %+v, want tomorrow's", now.Next)
	}
	for _, w := range []maintenance.Window{now, nightly} {
		if w.Next == nil || !w.Next.Start.After(time.Now()) {
			t.Errorf("window %q: next %+v, want a period that starts after now", w.Title, w.Next)
		}
	}
	ny, _ := time.LoadLocation("America/New_York")
	start := nightly.Next.Start.In(ny)
	if start.Hour() != 3 || start.Minute() != 30 || nightly.Next.End.Sub(nightly.Next.Start) != 30*time.Minute {
		t.Errorf("the nightly window's next period %+v starts at %s New York time, want 03:30", nightly.Next, start)
	}
	if nightly.Active != (time.Now().In(ny).Hour() == 3 && time.Now().In(ny).Minute() >= 30) {
		t.Errorf("nightly active = %v at %s", nightly.Active, time.Now().In(ny))
	}
	// Turned into a one-off window by a PATCH.
	var changed maintenance.Window
	e.Call(t, "PATCH", fmt.Sprintf("/maintenance/%d", nightly.ID), fmt.Sprintf(`{"start": %q, "end": %q}`,
		time.Now().Add(-time.Minute).Format(time.RFC3339), time.Now().Add(time.Hour).Format(time.RFC3339)), &changed)
	if changed.Cron != "" || !changed.Active || changed.Current == nil || changed.Next != nil {
		t.Errorf("after the PATCH: %+v, want a one-off window on now, with no next period", changed)
	}
}

// During a window checks go on and are marked, changes are recorded but
// not announced; when it ends with the site still down, the alert goes out
// at its next check, through single checks and rounds alike. A site outside
// the window is alerted as usual.
func TestMaintenanceHoldsAlerts(t *testing.T) {
	e := setup(t, setupOpts{opts: monitor.Options{Confirmations: 0}})
	a, srvA := newSwitchable(t, 200)
	b, srvB := newSwitchable(t, 200)
	c, srvC := newSwitchable(t, 200)
	idA := e.addWithSettings(t, srvA.URL, `"tags": ["db"], "interval": "1h"`)
	idB := e.addWithSettings(t, srvB.URL, `"interval": "1h"`)
	idC := e.addWithSettings(t, srvC.URL, `"tags": ["db"], "interval": "1h"`)
	end := time.Now().Add(4 * time.Second)
	var w maintenance.Window
	e.Call(t, "POST", "/maintenance", fmt.Sprintf(`{"title": "db move", "tags": ["db"], "start": %q, "end": %q}`,
		time.Now().Add(-time.Minute).Format(time.RFC3339Nano), end.Format(time.RFC3339Nano)), &w)
	if !w.Active {
		t.Fatalf("the window %+v is not on", w)
	}
	a.set(503)
	b.set(503)
	c.set(503)
	e.check(t, idA)
	e.check(t, idB)
	e.checkAll(t) // C through a round
	got := e.waitTransitions(t, 1)
	if len(got) != 1 || got[0].Site.ID != idB || got[0].Kind() != event.Down {
		t.Fatalf("events during the window: %+v, want only the site outside it down", got)
	}
	var marked, all int
	e.db.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE maintenance), count(*) FROM checks WHERE site_id = ANY($1)`,
		[]int64{idA, idC}).Scan(&marked, &all)
	if marked == 0 || marked != all-2 { // each site's first check, when added, came before the window
		t.Errorf("%d of %d checks of the sites in the window are marked", marked, all)
	}
	var incidents history.IncidentsResponse
	e.Call(t, "GET", fmt.Sprintf("/incident?site=%d", idA), "", &incidents)
	if len(incidents.Incidents) != 1 {
		t.Errorf("the outage in the window is no incident: %+v", incidents)
	}

	time.Sleep(time.Until(end) + 100*time.Millisecond)
	e.check(t, idA)
	e.checkAll(t)
	got = e.waitTransitions(t, 3)
	var held []int64
	for _, ev := range got[1:] {
		if ev.Kind() == event.Down {
			held = append(held, ev.Site.ID)
		}
	}
	if len(got) != 3 || len(held) != 2 {
		t.Fatalf("after the window: %s, want A and C down once each", kinds(got))
	}
	e.checkAll(t)
	if got := e.waitTransitions(t, 3); len(got) != 3 {
		t.Errorf("more alerts came: %s", kinds(got))
	}
}
