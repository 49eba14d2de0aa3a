package app_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"uptime/internal/apptest"
	"uptime/internal/config"
	"uptime/internal/dbutil"
	"uptime/internal/due"
	"uptime/internal/fakeslack"
	"uptime/internal/pgtest"
	"uptime/internal/wait"
	"uptime/monitor"
	"uptime/monitor/history"
)

// signal sends a request to a ping URL, with a body, and returns its
// status and answer.
func signal(t *testing.T, method, url string) (int, string) {
	t.Helper()
	status, body, _ := pingWith(t, method, url, "from the job")
	return status, body
}

// A push site end to end: its job's successes keep it up, a failure or
// an exit code other than 0 takes it down with its reason, a missed
// deadline takes it down once, saying what was missed, and each change
// is heard by Slack once. Unknown and renewed tokens are not found, a
// push site is not fetched, and no token reaches the log.
func TestAPushSiteEndToEnd(t *testing.T) {
	slack := fakeslack.New(t)
	var log syncBuffer
	prefix := pgtest.Prefix(t)
	a := apptest.Start(t, apptest.Setup{Prefix: prefix, Log: &log, Env: map[string]string{"SLACK_WEBHOOK_URL": slack.URL + "/hook"},
		Configure: func(c *config.Config) { c.FlapChanges = 20 }}) // it changes often here, and is not flapping for it
	var added struct {
		ID      int64
		URL     string
		PingURL string `json:"ping_url"`
	}
	a.Call(t, "POST", "/site", `{"kind": "push", "name": "nightly-backup", "interval": "1h", "grace": "5m"}`, &added)
	token := added.PingURL[strings.LastIndex(added.PingURL, "/")+1:]
	if !strings.HasPrefix(added.PingURL, a.URL+"/heartbeat/") || len(token) != 32 {
		t.Fatalf("ping URL %q, want %s/heartbeat/ and a 32-digit token", added.PingURL, a.URL)
	}
	paused := func() bool {
		var st struct {
			Sites map[string]struct{ Paused bool }
		}
		a.Call(t, "GET", fmt.Sprintf("/status?ids=%d", added.ID), "", &st)
		return st.Sites[fmt.Sprint(added.ID)].Paused
	}
	state := func() (up bool, reason string) {
		var st struct {
			Sites map[string]struct {
				Up     bool
				Reason string
			}
		}
		a.Call(t, "GET", fmt.Sprintf("/status?ids=%d", added.ID), "", &st)
		s, ok := st.Sites[fmt.Sprint(added.ID)]
		if !ok {
			t.Fatalf("no status for the push site: %+v", st)
		}
		return s.Up, s.Reason
	}

	for _, m := range []string{"GET", "HEAD", "POST"} {
		if status, body := signal(t, m, added.PingURL); status != 200 || m != "HEAD" && body != "OK\n" {
			t.Fatalf("%s on the ping URL = %d %q, want 200 OK", m, status, body)
		}
	}
	if up, _ := state(); !up {
		t.Fatal("down after its job reported success")
	}
	if paused() {
		t.Error("/status says a push site nobody paused is paused")
	}
	signal(t, "GET", added.PingURL+"/fail")
	msgs := slack.Wait(1, 20*time.Second)
	if len(msgs) != 1 || !strings.Contains(msgs[0], "nightly-backup is down!") || !strings.Contains(msgs[0], "the job reported a failure") {
		t.Fatalf("Slack heard %q, want nightly-backup down, its job having failed", msgs)
	}
	time.Sleep(time.Second) // a token's signals are five a second at most
	signal(t, "POST", added.PingURL+"/0")
	signal(t, "GET", added.PingURL+"/2")
	msgs = slack.Wait(3, 20*time.Second)
	if len(msgs) != 3 || !strings.Contains(msgs[1], "is back up") || !strings.Contains(msgs[2], "exit code 2") {
		t.Fatalf("Slack heard %q, want it back up, then down with exit code 2", msgs)
	}
	signal(t, "GET", added.PingURL)
	slack.Wait(4, 20*time.Second)

	// Late, but within its grace: still up, and nothing said.
	ctx := context.Background()
	db := monitorDB(t, prefix)
	if _, err := db.Exec(ctx, `UPDATE heartbeat SET expected_at = now() - interval '4 minutes', due_at = now() + interval '1 minute'
		WHERE site_id = $1`, added.ID); err != nil {
		t.Fatal(err)
	}
	signal(t, "GET", added.PingURL)
	time.Sleep(2 * time.Second)
	if up, _ := state(); !up || len(slack.Bodies()) != 4 {
		t.Fatalf("a success late within its grace: up %v, Slack heard %q", up, slack.Bodies())
	}

	// The deadline: as if the last success were 70 minutes old. Every
	// instance looks each second; the site is down once, saying what was
	// missed.
	if _, err := db.Exec(ctx, `UPDATE heartbeat SET last_success_at = now() - interval '70 minutes',
		expected_at = now() - interval '10 minutes', due_at = now() WHERE site_id = $1`, added.ID); err != nil {
		t.Fatal(err)
	}
	missedAt := time.Now()
	wait.Until(t, 5*time.Second, "the missed deadline was not noticed", func() bool { return len(slack.Bodies()) >= 5 })
	t.Logf("a missed deadline heard by Slack %s after it passed", time.Since(missedAt).Round(10*time.Millisecond))
	time.Sleep(2 * time.Second) // a second message for it would come meanwhile
	msgs = slack.Bodies()
	if len(msgs) != 5 || !strings.Contains(msgs[4], "is down!") || !strings.Contains(msgs[4], "no signal since") ||
		!strings.Contains(msgs[4], "expected by") {
		t.Fatalf("Slack heard %q, want one down message for the missed deadline", msgs)
	}
	if up, reason := state(); up || !strings.HasPrefix(reason, "no signal since ") {
		t.Errorf("state after the missed deadline: up %v, %q", up, reason)
	}
	// The next run is awaited: missed too, it is one more check, and no
	// second message.
	var runs monitor.RunsResponse
	a.Call(t, "GET", fmt.Sprintf("/runs/%d", added.ID), "", &runs)
	if runs.ExpectedAt == nil || time.Until(*runs.ExpectedAt) < 45*time.Minute {
		t.Errorf("after a missed run the next is expected at %v, want the run an hour after the one missed", runs.ExpectedAt)
	}
	if _, err := db.Exec(ctx, `UPDATE heartbeat SET expected_at = now() - interval '6 minutes', due_at = now() WHERE site_id = $1`,
		added.ID); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, 5*time.Second, "the second run missed was not recorded", func() bool {
		var n int
		db.QueryRow(ctx, `SELECT count(*) FROM checks WHERE site_id = $1 AND reason LIKE 'no signal since%'`, added.ID).Scan(&n)
		return n == 2
	})
	time.Sleep(time.Second)
	if msgs := slack.Bodies(); len(msgs) != 5 {
		t.Fatalf("Slack heard %q after a second run missed while down, want no more", msgs)
	}
	signal(t, "GET", added.PingURL)
	if msgs := slack.Wait(6, 20*time.Second); len(msgs) != 6 || !strings.Contains(msgs[5], "is back up") {
		t.Fatalf("Slack heard %q, want it back up at the next success", msgs)
	}
	var h history.HistoryResponse
	a.Call(t, "GET", fmt.Sprintf("/history/%d", added.ID), "", &h)
	if len(h.Checks) != 11 {
		t.Errorf("%d checks in the history, want each of the 9 signals and the 2 runs missed", len(h.Checks))
	}

	// Unknown, malformed and renewed tokens are not found.
	for _, u := range []string{a.URL + "/heartbeat/" + strings.Repeat("0", 32), added.PingURL + "/256", added.PingURL + "/start-ish"} {
		if status, _ := signal(t, "GET", u); status != 404 {
			t.Errorf("GET %s = %d, want 404", u, status)
		}
	}
	if _, body := signal(t, "GET", added.PingURL+"/256"); !strings.Contains(body, "an exit code from 0 to 255") {
		t.Errorf("a ping URL ending in /256 answers %q, want it to say what a ping URL ends with", body)
	}
	var renewed struct {
		PingURL string `json:"ping_url"`
	}
	a.Call(t, "POST", fmt.Sprintf("/site/%d/token", added.ID), "", &renewed)
	if status, _ := signal(t, "GET", added.PingURL); status != 404 {
		t.Errorf("the old ping URL answers %d after a new token, want 404", status)
	}
	if status, _ := signal(t, "GET", renewed.PingURL); status != 200 {
		t.Errorf("the new ping URL answers %d", status)
	}
	if status, body := a.Do(t, "POST", fmt.Sprintf("/check/%d", added.ID), ""); status != 400 || !strings.Contains(body, "push site") {
		t.Errorf("POST /check of a push site = %d %s, want 400", status, body)
	}
	// A paused site's signals are taken, and change nothing.
	a.Call(t, "PATCH", fmt.Sprintf("/site/%d", added.ID), `{"paused": true}`, nil)
	if status, _ := signal(t, "GET", renewed.PingURL+"/fail"); status != 200 {
		t.Errorf("a paused site's ping URL answers %d, want 200 as any", status)
	}
	if up, _ := state(); !up {
		t.Error("a paused push site went down on a signal")
	}
	if !paused() {
		t.Error("/status does not say the paused push site is paused")
	}
	// Deleted, nothing of it is left.
	a.Call(t, "DELETE", fmt.Sprintf("/site/%d", added.ID), "", nil)
	wait.Until(t, 10*time.Second, "a deleted push site's heartbeat or signals are left", func() bool {
		var rows int
		db.QueryRow(ctx, `SELECT (SELECT count(*) FROM heartbeat) + (SELECT count(*) FROM heartbeat_signal)`).Scan(&rows)
		return rows == 0
	})
	for _, tok := range []string{token, renewed.PingURL[strings.LastIndex(renewed.PingURL, "/")+1:]} {
		if strings.Contains(log.String(), tok) {
			t.Errorf("a token is in the log")
		}
	}
}

// pushed is a push site added to an app that tells a fake Slack.
type pushed struct {
	a     *apptest.App
	slack *fakeslack.Server
	// ID and PingURL are the site's, as POST /site answered them.
	ID      int64
	PingURL string `json:"ping_url"`
}

// addPush starts an app on databases with the prefix (fresh ones when
// empty) that tells a fake Slack, and adds a push site with the settings
// (a JSON object's fields).
func addPush(t *testing.T, prefix, settings string) *pushed {
	t.Helper()
	p := &pushed{slack: fakeslack.New(t)}
	p.a = apptest.Start(t, apptest.Setup{Prefix: prefix, Env: map[string]string{"SLACK_WEBHOOK_URL": p.slack.URL + "/hook"}})
	p.a.Call(t, "POST", "/site", `{"kind": "push", "name": "nightly-backup", `+settings+`}`, p)
	return p
}

// monitorDB connects to the monitor's database of the app with the
// prefix, until the test ends.
func monitorDB(t *testing.T, prefix string) *pgx.Conn {
	t.Helper()
	monitorURL, err := dbutil.DatabaseURL(pgtest.ServerURL(t), prefix+"monitor")
	if err != nil {
		t.Fatal(err)
	}
	db, err := pgx.Connect(context.Background(), monitorURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close(context.Background()) })
	return db
}

// pingWith sends a request with a body to a ping URL and returns its
// status, the answer's body and its headers.
func pingWith(t *testing.T, method, url, body string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// A push site's runs: a start and its end make a run's length, paired by
// rid where runs overlap; a start without an end is down once its grace
// has passed; /log is kept and changes nothing; a POST's body is kept up
// to its limit and quoted, credentials hidden, in the down message; a
// token's signals beyond five a second are refused; a cron site awaits
// its next run.
func TestPushRunsBodiesAndLimits(t *testing.T) {
	added := addPush(t, "", `"interval": "1h", "grace": "2s"`)
	a, slack := added.a, added.slack
	ping := added.PingURL
	runs := func() monitor.RunsResponse {
		var r monitor.RunsResponse
		a.Call(t, "GET", fmt.Sprintf("/runs/%d?limit=100", added.ID), "", &r)
		return r
	}
	ok := func(method, url, body string) {
		t.Helper()
		if status, answer, _ := pingWith(t, method, url, body); status != 200 {
			t.Fatalf("%s %s = %d %s", method, url, status, answer)
		}
	}

	// Two runs overlap: each end pairs with its own start.
	ridA, ridB := "6f1c1a52-4f0e-4b8a-9d52-0c9f7a1e2b3c", "0b7e6f3a-2c1d-4e5f-8a9b-1c2d3e4f5a6b"
	ok("GET", ping+"/start?rid="+ridA, "")
	time.Sleep(300 * time.Millisecond)
	ok("GET", ping+"/start?rid="+ridB, "")
	if r := runs(); len(r.Going) != 2 || r.DueAt == nil || r.DueAt.Sub(r.Going[0].StartedAt) != 2*time.Second {
		t.Fatalf("two runs begun: %+v, want both going and the first's start plus grace due", r)
	}
	time.Sleep(300 * time.Millisecond)
	ok("GET", ping+"?rid="+ridB, "")
	time.Sleep(400 * time.Millisecond)
	ok("GET", ping+"?rid="+ridA, "")
	r := runs()
	if len(r.Signals) != 4 || len(r.Going) != 0 || r.Signals[0].RID != ridA || r.Signals[1].RID != ridB ||
		r.Signals[0].DurationMS == nil || r.Signals[1].DurationMS == nil {
		t.Fatalf("after two runs: %+v", r)
	}
	a1, b1 := *r.Signals[0].DurationMS, *r.Signals[1].DurationMS
	if a1 < 1000 || b1 < 300 || a1-b1 < 500 {
		t.Errorf("run A took %d ms, run B %d ms: want A about 1000, B about 300", a1, b1)
	}
	if r.ExpectedAt == nil || r.LastSuccessAt == nil || !r.ExpectedAt.Equal(r.LastSuccessAt.Add(time.Hour)) ||
		!r.DueAt.Equal(r.ExpectedAt.Add(2*time.Second)) || r.Schedule != "every 1h" {
		t.Errorf("after a success: %+v, want the next run awaited an hour on, due 2s after", r)
	}
	var h history.HistoryResponse
	a.Call(t, "GET", fmt.Sprintf("/history/%d?limit=1", added.ID), "", &h)
	if len(h.Checks) != 1 || int64(h.Checks[0].LatencyMS) != a1 {
		t.Errorf("the latest check %+v, want run A's length as its latency", h.Checks)
	}

	// /log is kept and changes nothing; a body is kept up to its limit.
	time.Sleep(time.Second)
	ok("POST", ping+"/log", "disk 81% full")
	status, _, header := pingWith(t, "POST", ping+"/log", strings.Repeat("x", 12_000))
	if status != 200 || header.Get("Ping-Body-Limit") != "10000" {
		t.Errorf("a long body: %d, Ping-Body-Limit %q", status, header.Get("Ping-Body-Limit"))
	}
	r = runs()
	if r.Signals[1].Kind != "log" || r.Signals[1].Body != "disk 81% full" || len(r.Signals[0].Body) != 10_000 {
		t.Errorf("the logs kept: %q and %d bytes", r.Signals[1].Body, len(r.Signals[0].Body))
	}

	// A start with no end: down once its grace has passed.
	time.Sleep(time.Second)
	ok("GET", ping+"/start", "")
	msgs := slack.Wait(1, 2*time.Second+10*time.Second)
	if len(msgs) != 1 || !strings.Contains(msgs[0], "*nightly-backup is down!* a run started at ") ||
		!strings.Contains(msgs[0], "did not end within 2s") {
		t.Fatalf("Slack heard %q, want the run that did not end", msgs)
	}
	if r := runs(); len(r.Going) != 0 {
		t.Errorf("the run that did not end is still going: %+v", r.Going)
	}
	ok("GET", ping, "")
	slack.Wait(2, 10*time.Second)

	// An exit code with the job's output: quoted, credentials hidden.
	ok("POST", ping+"/2", "PGPASSWORD=hunter2 ./backup.sh\npg_dump: connection refused\n")
	msgs = slack.Wait(3, 10*time.Second)
	if len(msgs) != 3 || !strings.Contains(msgs[2], `*nightly-backup is down!* exit code 2: \"PGPASSWORD=xxxxx ./backup.sh pg_dump: connection refused\"`) {
		t.Fatalf("Slack heard %q, want the exit code and the output quoted", msgs)
	}
	if strings.Contains(strings.Join(slack.Bodies(), ""), "hunter2") || strings.Contains(fmt.Sprint(runs().Signals), "hunter2") {
		t.Error("a password in a job's output is shown")
	}

	// A bad rid is refused; beyond five a second, 429.
	time.Sleep(time.Second)
	if status, body, _ := pingWith(t, "GET", ping+"?rid=7", ""); status != 400 || !strings.Contains(body, "rid must be a UUID") {
		t.Errorf("a bad rid: %d %s", status, body)
	}
	refused := 0
	for range 8 {
		status, _, header := pingWith(t, "GET", ping+"/log", "")
		if status == 429 && header.Get("Retry-After") == "1" {
			refused++
		}
	}
	if refused < 2 {
		t.Errorf("%d of 8 signals in a moment refused, want those beyond five a second", refused)
	}

	// A cron site awaits its next run, in its time zone.
	var nightly struct {
		ID      int64
		PingURL string `json:"ping_url"`
	}
	a.Call(t, "POST", "/site", `{"kind": "push", "name": "nightly", "cron": "0 2 * * *", "timezone": "America/New_York"}`, &nightly)
	ok("GET", nightly.PingURL, "")
	var nr monitor.RunsResponse
	a.Call(t, "GET", fmt.Sprintf("/runs/%d", nightly.ID), "", &nr)
	sched, err := due.Cron("0 2 * * *", "America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	if nr.LastSuccessAt == nil || nr.ExpectedAt == nil || !nr.ExpectedAt.Equal(sched.After(time.Time{}, *nr.LastSuccessAt, time.Hour)) ||
		nr.ExpectedAt.In(sched.Zone()).Format("15:04") != "02:00" || nr.Schedule != "every day at 02:00 (America/New_York)" {
		t.Errorf("a cron site after a success: %+v", nr)
	}
}

// With --watch-itself an instance adds the push site "Uptime itself" once
// and reports to it while its checking is healthy; a second start adds no
// other, and leaves it as people changed it.
func TestWatchingItself(t *testing.T) {
	prefix := pgtest.Prefix(t)
	// Instances of one deployment share the secret key.
	setup := apptest.Setup{Prefix: prefix, Configure: func(c *config.Config) { c.WatchItself = true },
		Env: map[string]string{"UPTIME_SECRET_KEY": strings.Repeat("ab", 32)}}
	a := apptest.Start(t, setup)
	var list struct {
		Sites []struct {
			ID         int64
			Name, Kind string
		}
	}
	a.Call(t, "GET", "/site", "", &list)
	if len(list.Sites) != 1 || list.Sites[0].Name != "Uptime itself" || list.Sites[0].Kind != "push" {
		t.Fatalf("sites: %+v, want the push site Uptime itself", list.Sites)
	}
	id := list.Sites[0].ID
	wait.Until(t, 20*time.Second, "the instance did not report to itself", func() bool {
		var r monitor.RunsResponse
		a.Call(t, "GET", fmt.Sprintf("/runs/%d", id), "", &r)
		return len(r.Signals) > 0 && r.Signals[0].Kind == "success" && r.ExpectedAt != nil
	})
	a.Call(t, "PATCH", fmt.Sprintf("/site/%d", id), `{"name": "our monitor"}`, nil)
	b := apptest.Start(t, setup)
	b.Call(t, "GET", "/site", "", &list)
	if len(list.Sites) != 1 || list.Sites[0].ID != id || list.Sites[0].Name != "our monitor" {
		t.Errorf("after a second start: %+v, want the one site, as renamed", list.Sites)
	}
}

// A push site is a site as any: on a status page, in badges and in
// /metrics, in the OpenAPI document; and a run expected inside a
// maintenance window is not alerted when it is missed.
func TestPushSitesEverywhere(t *testing.T) {
	prefix := pgtest.Prefix(t)
	added := addPush(t, prefix, `"interval": "1h", "grace": "1m"`)
	a, slack := added.a, added.slack
	if status, _ := signal(t, "GET", added.PingURL); status != 200 {
		t.Fatal("the signal was refused")
	}
	a.Call(t, "POST", "/status-page", fmt.Sprintf(`{"slug": "jobs", "title": "Jobs", "groups": [{"name": "Jobs", "sites": [%d]}]}`, added.ID), nil)
	// The counter is the process's, shared with the other tests' apps:
	// at least this one check.
	for path, want := range map[string]*regexp.Regexp{
		"/p/jobs": regexp.MustCompile(`nightly-backup`),
		fmt.Sprintf("/badge/%d/status.svg", added.ID): regexp.MustCompile(`\bup\b`),
		"/metrics":      regexp.MustCompile(`(?m)^uptime_checks_total\{kind="push",result="up"\} [1-9]`),
		"/openapi.json": regexp.MustCompile(regexp.QuoteMeta(`"/runs/{siteID}"`)),
	} {
		if status, body := a.Do(t, "GET", path, ""); status != 200 || !want.MatchString(body) {
			t.Errorf("GET %s = %d, without %s", path, status, want)
		}
	}

	// A maintenance window over the run expected: its miss is recorded in
	// maintenance, and not alerted.
	a.Call(t, "POST", "/maintenance", fmt.Sprintf(`{"title": "Backup server move", "sites": [%d], "start": %q, "end": %q}`,
		added.ID, time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), time.Now().Add(time.Hour).UTC().Format(time.RFC3339)), nil)
	ctx := context.Background()
	db := monitorDB(t, prefix)
	if _, err := db.Exec(ctx, `UPDATE heartbeat SET expected_at = now() - interval '2 minutes', due_at = now() WHERE site_id = $1`,
		added.ID); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, 10*time.Second, "the missed run was not recorded", func() bool {
		var n int
		db.QueryRow(ctx, `SELECT count(*) FROM checks WHERE site_id = $1 AND maintenance AND reason LIKE 'no signal since%'`, added.ID).Scan(&n)
		return n == 1
	})
	time.Sleep(2 * time.Second)
	if msgs := slack.Bodies(); len(msgs) != 0 {
		t.Errorf("Slack heard %q of a run missed in maintenance", msgs)
	}
}

// A push site still down is reminded of, run by run: each run missed is a
// check, and once remind_every has passed since the last alert, it says
// the site is still down.
func TestPushSiteReminders(t *testing.T) {
	prefix := pgtest.Prefix(t)
	added := addPush(t, prefix, `"interval": "1h", "grace": "1m", "remind_every": "1h"`)
	slack := added.slack
	signal(t, "GET", added.PingURL)
	signal(t, "GET", added.PingURL+"/fail")
	if msgs := slack.Wait(1, 20*time.Second); len(msgs) != 1 || !strings.Contains(msgs[0], "nightly-backup is down!") {
		t.Fatalf("Slack heard %q, want it down", msgs)
	}
	// An hour on, as far as the reminder knows, the next run is missed.
	ctx := context.Background()
	db := monitorDB(t, prefix)
	if _, err := db.Exec(ctx, `UPDATE site_state SET next_reminder_at = now() - interval '1 second' WHERE site_id = $1`, added.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `UPDATE heartbeat SET expected_at = now() - interval '2 minutes', due_at = now() WHERE site_id = $1`,
		added.ID); err != nil {
		t.Fatal(err)
	}
	msgs := slack.Wait(2, 20*time.Second)
	if len(msgs) != 2 || !strings.Contains(msgs[1], "nightly-backup is still down.") || !strings.Contains(msgs[1], "no signal since") {
		t.Fatalf("Slack heard %q, want a reminder saying the run was missed", msgs)
	}
}
