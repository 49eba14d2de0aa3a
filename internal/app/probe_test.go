package app_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"uptime/internal/apptest"
	"uptime/internal/config"
	"uptime/internal/fakeslack"
	"uptime/internal/pgtest"
	"uptime/monitor"
)

// A probe runs under the role deploy/probe-role.sql sets up, with the
// monitor's database alone: it checks its location's rounds, its failure
// alone (quorum 1) makes the site down, and the full instance tells Slack,
// naming the probe's location. The role cannot read the other databases.
func TestProbeUnderItsRole(t *testing.T) {
	ctx := context.Background()
	slack := fakeslack.New(t)
	prefix := pgtest.Prefix(t)
	full := apptest.Start(t, apptest.Setup{Prefix: prefix, Env: map[string]string{"SLACK_WEBHOOK_URL": slack.URL + "/hook"},
		Configure: func(c *config.Config) { c.Location = "eu" }})

	// The role, as docs/locations.md says: created, then granted what the file
	// grants, in the monitor database, by the role that owns it.
	role, password := strings.TrimSuffix(prefix, "_")+"_probe", "probe-secret"
	admin, err := pgx.Connect(ctx, pgtest.ServerURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", pgx.Identifier{role}.Sanitize(), password)); err != nil {
		t.Fatal(err)
	}
	grants, err := os.ReadFile("../../deploy/probe-role.sql")
	if err != nil {
		t.Fatal(err)
	}
	server, err := url.Parse(pgtest.ServerURL(t))
	if err != nil {
		t.Fatal(err)
	}
	monitorDB := *server
	monitorDB.Path = "/" + prefix + "monitor"
	owner, err := pgx.Connect(ctx, monitorDB.String())
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close(ctx)
	if _, err := owner.Exec(ctx, strings.ReplaceAll(string(grants), "uptime_probe", pgx.Identifier{role}.Sanitize())); err != nil {
		t.Fatalf("deploy/probe-role.sql: %v", err)
	}

	probeURL := *server
	probeURL.User = url.UserPassword(role, password)
	probeURL.Path = "/"
	failing := newFailingFrom(t)
	failing.fail("us")
	var log syncBuffer
	probe := apptest.Start(t, apptest.Setup{Prefix: prefix, Log: &log,
		Configure: func(c *config.Config) {
			c.Location = "us"
			c.Probe = true
			c.DatabaseURL = probeURL.String()
		}})
	if code, body := probe.Do(t, "GET", "/readyz", ""); code != http.StatusOK {
		t.Fatalf("the probe's /readyz: %d %s", code, body)
	}
	if code, _ := probe.Do(t, "GET", "/site", ""); code != http.StatusNotFound {
		t.Errorf("the probe serves the API: GET /site answered %d", code)
	}

	// A site checked every 10 s, down when any one location sees it down.
	var added struct{ ID int }
	full.Call(t, "POST", "/site", fmt.Sprintf(`{"url": %q, "interval": "10s", "quorum": 1}`, failing.URL), &added)
	msgs := slack.Wait(1, 40*time.Second)
	if len(msgs) == 0 {
		t.Fatalf("Slack heard nothing in 40 s; the probe's log:\n%s", log.String())
	}
	if !strings.Contains(msgs[0], "is down!") || !strings.Contains(msgs[0], "Seen from us.") {
		t.Fatalf("the first message is %q, want the site down as seen from us", msgs[0])
	}
	var h monitor.HistoryResponse
	full.Call(t, "GET", fmt.Sprintf("/history/%d", added.ID), "", &h)
	fromProbe := 0
	for _, c := range h.Checks {
		if c.Location == "us" {
			fromProbe++
		}
	}
	if fromProbe == 0 {
		t.Fatalf("no check from the probe's location in %+v", h.Checks)
	}
	if strings.Contains(log.String(), "permission denied") || strings.Contains(log.String(), "level=ERROR") {
		t.Fatalf("the probe was refused something its work needs:\n%s", log.String())
	}

	// The role reaches nothing else.
	for _, db := range []struct{ name, query string }{
		{"notify", "SELECT url_sealed FROM channel"},
		{"site", "SELECT url FROM sites"},
		{"monitor", "CREATE TABLE probe_was_here (x int)"},
		{"monitor", "DELETE FROM checks"},
		{"monitor", "DELETE FROM river_job"},
	} {
		u := probeURL
		u.Path = "/" + prefix + db.name
		conn, err := pgx.Connect(ctx, u.String())
		if err != nil {
			continue // not even connecting is fine
		}
		_, err = conn.Exec(ctx, db.query)
		conn.Close(ctx)
		if err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("the probe's role in the %s database, %s: %v, want permission denied", db.name, db.query, err)
		}
	}
}
