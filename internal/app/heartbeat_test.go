package app_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"uptime/internal/apptest"
	"uptime/internal/config"
	"uptime/internal/dbutil"
	"uptime/internal/fakeslack"
	"uptime/internal/pgtest"
	"uptime/internal/wait"
	"uptime/monitor/history"
)

// signal sends a request to a ping URL and returns its status and body.
func signal(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader("from the job"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
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
	signal(t, "POST", added.PingURL+"/0")
	signal(t, "GET", added.PingURL+"/2")
	msgs = slack.Wait(3, 20*time.Second)
	if len(msgs) != 3 || !strings.Contains(msgs[1], "is back up") || !strings.Contains(msgs[2], "exit code 2") {
		t.Fatalf("Slack heard %q, want it back up, then down with exit code 2", msgs)
	}
	signal(t, "GET", added.PingURL)
	slack.Wait(4, 20*time.Second)

	// The deadline: as if the last success were 70 minutes old. Every
	// instance looks each second; the site is down once, saying what was
	// missed.
	monitorURL, err := dbutil.DatabaseURL(pgtest.ServerURL(t), prefix+"monitor")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	db, err := pgx.Connect(ctx, monitorURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	if _, err := db.Exec(ctx, `UPDATE heartbeat SET last_success_at = now() - interval '70 minutes', due_at = now() WHERE site_id = $1`,
		added.ID); err != nil {
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
	signal(t, "GET", added.PingURL)
	if msgs := slack.Wait(6, 20*time.Second); len(msgs) != 6 || !strings.Contains(msgs[5], "is back up") {
		t.Fatalf("Slack heard %q, want it back up at the next success", msgs)
	}
	var h history.HistoryResponse
	a.Call(t, "GET", fmt.Sprintf("/history/%d", added.ID), "", &h)
	if len(h.Checks) != 9 {
		t.Errorf("%d checks in the history, want each of the 8 signals and the missed deadline", len(h.Checks))
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
	for _, tok := range []string{token, renewed.PingURL[strings.LastIndex(renewed.PingURL, "/")+1:]} {
		if strings.Contains(log.String(), tok) {
			t.Errorf("a token is in the log")
		}
	}
}
