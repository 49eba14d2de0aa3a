package app_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"uptime/internal/app"
	"uptime/internal/apptest"
	"uptime/internal/fakeslack"
	"uptime/internal/wait"
)

// countLines counts the log lines that hold every one of parts.
func countLines(log string, parts ...string) int {
	n := 0
	for _, l := range strings.Split(log, "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(l, p)
		}
		if all {
			n++
		}
	}
	return n
}

// TestKilledPostmasterIsRestartedAndTheOutageLoggedOnce kills the local
// cluster's postmaster under a stream of requests: the program starts it
// again by itself, requests meanwhile fail with 503, and the log says so
// once when it starts and once when it ends, not once a request.
func TestKilledPostmasterIsRestartedAndTheOutageLoggedOnce(t *testing.T) {
	stateDir := newStateDir(t)
	var log syncBuffer
	a := apptest.Start(t, apptest.Setup{StateDir: stateDir, Log: &log})
	a.AddSite(t, "https://example.com")

	b, err := os.ReadFile(filepath.Join(stateDir, "postgres", "data", "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.SplitN(string(b), "\n", 2)[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var unavailable, ok int
	for deadline := time.Now().Add(60 * time.Second); ok < 20; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the API did not recover within 60s of the postmaster's death (%d answers 503)", unavailable)
		}
		switch status, body := a.Do(t, "GET", "/site/1", ""); status {
		case 200:
			ok++
		case 503:
			unavailable++
			if !strings.Contains(body, `"unavailable"`) {
				t.Fatalf("503 without the unavailable code: %s", body)
			}
		default:
			t.Fatalf("GET /site/1 during the outage = %d %s, want 200 or 503", status, body)
		}
	}
	// The outage ends in the log at the next look at the databases.
	for deadline := time.Now().Add(15 * time.Second); countLines(log.String(), "level=INFO", "unreachable: over") == 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			break
		}
	}
	out := log.String()
	if n := countLines(out, "level=ERROR", "local PostgreSQL server has stopped"); n != 1 {
		t.Errorf("%d ERROR lines about the stopped server, want 1", n)
	}
	if unavailable > 0 {
		if n := countLines(out, "level=ERROR", "the database is unreachable"); n != 1 {
			t.Errorf("%d ERROR lines about the unreachable database for %d failed requests, want 1", n, unavailable)
		}
		if n := countLines(out, "level=INFO", "the database is unreachable: over"); n != 1 {
			t.Errorf("%d INFO lines saying the outage ended, want 1", n)
		}
	}
	if n := countLines(out, "level=ERROR"); n > 3 {
		t.Errorf("%d ERROR lines for one short outage, want a handful:\n%s", n, out)
	}
	if t.Failed() {
		t.Logf("the log:\n%s", out)
	}
}

// TestFailingDeliveryWarnsOnceAMinute makes Slack refuse every delivery:
// the first failure is a WARN that names the subscription and Slack's
// answer; the retries that follow within the minute add no line.
func TestFailingDeliveryWarnsOnceAMinute(t *testing.T) {
	slack := fakeslack.New(t)
	slack.Fail(500)
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
	defer site.Close()
	var log syncBuffer
	a := apptest.Start(t, apptest.Setup{Log: &log, Env: map[string]string{"SLACK_WEBHOOK_URL": slack.URL + "/hook"},
		Options: app.Options{RetryBackoff: 100 * time.Millisecond}})
	a.AddSite(t, site.URL)
	wait.For(t, 30*time.Second, func() error {
		if slack.Attempts() < 4 {
			return fmt.Errorf("%d delivery attempts in 30s, want 4 or more", slack.Attempts())
		}
		return nil
	})
	out := log.String()
	warns := countLines(out, "level=WARN", "delivery failed")
	if warns != 1 {
		t.Fatalf("%d WARN lines for %d failed deliveries, want 1:\n%s", warns, slack.Attempts(), out)
	}
	if countLines(out, "level=WARN", "delivery failed", "subscription=slack-notification", "500") != 1 {
		t.Fatalf("the WARN does not name the subscription and Slack's answer:\n%s", out)
	}
}
