package monitor_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"uptime/internal/testnet"
	"uptime/monitor"
	"uptime/monitor/event"
	"uptime/monitor/history"
)

// kinds lists the events' kinds in the order they happened: deliveries,
// each a job of its own, may arrive in another.
func kinds(evs []event.Transition) string {
	evs = slices.Clone(evs)
	slices.SortStableFunc(evs, func(a, b event.Transition) int { return a.At.Compare(b.At) })
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Kind())
	}
	return strings.Join(out, ",")
}

func (e *env) addWithSettings(t *testing.T, url, settings string) int64 {
	t.Helper()
	var s struct{ ID int64 }
	e.Call(t, "POST", "/site", fmt.Sprintf(`{"url": %q, %s}`, url, settings), &s)
	if !strings.Contains(settings, `"paused": true`) {
		e.waitFirstCheck(t, s.ID)
	}
	e.waitTransitions(t, 0)
	return s.ID
}

// checkAll runs a round over every site through the scheduled checks'
// path, which records rounds in bulk.
func (e *env) checkAll(t *testing.T) {
	t.Helper()
	e.Call(t, "POST", "/check-all", "", nil)
}

func (e *env) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := e.db.Exec(context.Background(), sql, args...); err != nil {
		t.Fatal(err)
	}
}

// Reminders come every remind_every while a site stays down, through
// single checks and rounds alike, and stop when it recovers.
func TestReminders(t *testing.T) {
	e := setup(t, setupOpts{opts: monitor.Options{Confirmations: 0}})
	sw, srv := newSwitchable(t, 200)
	id := e.addWithSettings(t, srv.URL, `"remind_every": "1h"`)
	other, otherSrv := newSwitchable(t, 200)
	_ = other
	e.addWithSettings(t, otherSrv.URL, `"interval": "1h"`) // down with no reminders

	sw.set(503)
	other.set(503)
	e.check(t, id)
	e.checkAll(t)
	if got := kinds(e.waitTransitions(t, 2)); got != "down,down" {
		t.Fatalf("events %s, want the two sites down", got)
	}
	var due time.Time
	if err := e.db.QueryRow(context.Background(), `SELECT next_reminder_at FROM site_state WHERE site_id = $1`, id).Scan(&due); err != nil {
		t.Fatal(err)
	}
	if d := time.Until(due); d < 59*time.Minute || d > time.Hour {
		t.Fatalf("the first reminder is due in %s, want an hour after the down check", d)
	}
	// An hour passes.
	for round, via := range []string{"check", "round", "round", "check"} {
		e.exec(t, `UPDATE site_state SET next_reminder_at = now() - interval '1 second' WHERE site_id = $1`, id)
		before := len(e.recorded())
		if via == "check" {
			e.check(t, id)
		} else {
			e.checkAll(t)
		}
		got := e.waitTransitions(t, before+1)
		if len(got) != before+1 || got[before].Kind() != event.Reminder || got[before].Site.ID != id ||
			got[before].Since == nil || got[before].Reason != "HTTP 503" {
			t.Fatalf("reminder %d (through a %s): events %+v", round+1, via, got[before:])
		}
		// Not again before the next hour.
		e.check(t, id)
		e.checkAll(t)
		if got := e.waitTransitions(t, 0); len(got) != before+1 {
			t.Fatalf("after reminder %d more events came at once: %s", round+1, kinds(got[before+1:]))
		}
	}
	sw.set(200)
	e.checkAll(t)
	got := e.waitTransitions(t, 7)
	if k := kinds(got); k != "down,down,reminder,reminder,reminder,reminder,up" {
		t.Fatalf("events %s", k)
	}
	var next *time.Time
	e.db.QueryRow(context.Background(), `SELECT next_reminder_at FROM site_state WHERE site_id = $1`, id).Scan(&next)
	if next != nil {
		t.Errorf("a reminder is still due at %s after the site recovered", next)
	}
}

// A site that changes state more than FlapChanges times in FlapWindow is
// reported once as flapping, its further changes are held back, and once
// it has been stable for the window its state is announced if it differs
// from the last one announced.
func TestFlapping(t *testing.T) {
	e := setup(t, setupOpts{opts: monitor.Options{Confirmations: 0, FlapChanges: 4, FlapWindow: 3 * time.Second}})
	sw, srv := newSwitchable(t, 200)
	id := e.addWithSettings(t, srv.URL, `"name": "flappy"`)
	for i := range 9 {
		if i%2 == 0 {
			sw.set(503)
		} else {
			sw.set(200)
		}
		e.check(t, id)
	}
	// Nine changes: four announced, the fifth reported as flapping, the
	// rest held back; the site ends down.
	got := e.waitTransitions(t, 5)
	if k := kinds(got); k != "down,up,down,up,flapping" {
		t.Fatalf("events %s, want four changes and one flapping", k)
	}
	flapping := got[slices.IndexFunc(got, func(ev event.Transition) bool { return ev.Kind() == event.Flapping })]
	if !strings.Contains(flapping.Reason, "changed state 5 times") {
		t.Errorf("flapping reason %q", flapping.Reason)
	}
	var incidents history.IncidentsResponse
	e.Call(t, "GET", fmt.Sprintf("/incident?site=%d", id), "", &incidents)
	if len(incidents.Incidents) != 5 {
		t.Errorf("%d incidents, want every down period recorded (5) though not announced", len(incidents.Incidents))
	}
	// Stable (down) for the window: announced, since the last announced was up.
	time.Sleep(3100 * time.Millisecond)
	e.check(t, id)
	got = e.waitTransitions(t, 6)
	if k := kinds(got); k != "down,up,down,up,flapping,down" {
		t.Fatalf("events %s, want the down announced once stable", k)
	}
	// Then it changes as usual again.
	sw.set(200)
	e.check(t, id)
	if k := kinds(e.waitTransitions(t, 7)); k != "down,up,down,up,flapping,down,up" {
		t.Fatalf("events %s", k)
	}
}

// A site failing every other request is never confirmed down; it is
// reported once as unstable, and no down and up pairs.
func TestUnstable(t *testing.T) {
	e := setup(t, setupOpts{opts: monitor.Options{Confirmations: 1}})
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%2 == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	id := e.addWithSettings(t, srv.URL, `"interval": "1h"`)
	for i := range 24 {
		if i%2 == 0 {
			e.check(t, id)
		} else {
			e.checkAll(t)
		}
	}
	got := e.waitTransitions(t, 1)
	if k := kinds(got); k != "unstable" {
		t.Fatalf("events %s, want one unstable and no down or up", k)
	}
	if !strings.Contains(got[0].Reason, "of its last") || !got[0].Up {
		t.Errorf("the unstable event: %+v", got[0])
	}
	if st := e.status(t)[fmt.Sprint(id)]; !st.Up {
		t.Errorf("status %+v, want up", st)
	}
}

// Degraded: confirmations+1 slow answers in a row make one alert, fewer
// make none, and the first fast answer after it ends it.
func TestDegradedAlert(t *testing.T) {
	e := setup(t, setupOpts{opts: monitor.Options{Confirmations: 2}})
	var slow atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if slow.Load() {
			time.Sleep(120 * time.Millisecond)
		}
	}))
	t.Cleanup(srv.Close)
	id := e.addWithSettings(t, srv.URL, `"max_latency": "60ms", "interval": "1h"`)
	run := func(pattern string) {
		for _, c := range pattern {
			slow.Store(c == 's')
			e.checkAll(t)
		}
	}
	run("ssf") // two slow in a row: not yet
	if got := e.waitTransitions(t, 0); len(got) != 0 {
		t.Fatalf("events %s after two slow answers, want none", kinds(got))
	}
	run("sss")
	got := e.waitTransitions(t, 1)
	if k := kinds(got); k != "degraded" || !strings.Contains(got[0].Reason, "above max_latency") {
		t.Fatalf("events %s (%+v), want one degraded", k, got)
	}
	run("ss")
	e.check(t, id)
	run("f")
	got = e.waitTransitions(t, 2)
	if k := kinds(got); k != "degraded,degraded_end" || got[1].Since == nil {
		t.Fatalf("events %s, want degraded then its end, with since", k)
	}
}

// Certificates are warned of at 14, 7 and 1 days before they expire, once
// each: a certificate already within 14 days is warned of once, a new one
// closer to its end again, and a far one not at all.
func TestCertificateWarnings(t *testing.T) {
	far, in10, in5, in12h := testnet.TLSServer(t, 40*24*time.Hour), testnet.TLSServer(t, 10*24*time.Hour),
		testnet.TLSServer(t, 5*24*time.Hour), testnet.TLSServer(t, 12*time.Hour)
	e := setup(t, setupOpts{opts: monitor.Options{Confirmations: 0, Transport: testnet.Transport(far, in10, in5, in12h)}})
	farID := e.addWithSettings(t, far.URL, `"interval": "1h"`)
	id := e.addWithSettings(t, in10.URL, `"interval": "1h"`)
	got := e.waitTransitions(t, 1)
	if k := kinds(got); k != "cert_expiring" || got[0].Site.ID != id || !strings.Contains(got[0].Reason, "9 days") {
		t.Fatalf("events %s %+v, want one warning for the certificate of 10 days", k, got)
	}
	e.check(t, id)
	e.checkAll(t)
	e.check(t, farID)
	if got := e.waitTransitions(t, 1); len(got) != 1 {
		t.Fatalf("events %s, want the warning once", kinds(got))
	}
	for i, next := range []*httptest.Server{in5, in12h} {
		e.Call(t, "PATCH", fmt.Sprintf("/site/%d", id), fmt.Sprintf(`{"url": %q}`, next.URL), nil)
		e.checkAll(t)
		e.check(t, id)
		got := e.waitTransitions(t, i+2)
		if len(got) != i+2 || got[i+1].Kind() != event.CertExpiring {
			t.Fatalf("after moving to a certificate closer to its end: events %s", kinds(got))
		}
	}
	if !strings.Contains(e.recorded()[2].Reason, "11 hours") {
		t.Errorf("the last warning: %q", e.recorded()[2].Reason)
	}
}
