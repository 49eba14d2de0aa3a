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
	"uptime/monitor/history"
)

// A probe runs under the role deploy/probe-role.sql sets up, with the
// monitor's database alone: it checks its location's rounds and reports
// them, its failure alone (quorum 1) makes the site down, and the full
// instance records and decides it and tells Slack, naming the probe's
// location. Taken over, the role can do nothing else: every attack below
// is refused, and a forged notification does not stop the full instance.
func TestProbeUnderItsRole(t *testing.T) {
	ctx := context.Background()
	slack := fakeslack.New(t)
	prefix := pgtest.Prefix(t)
	fullSetup := apptest.Setup{Prefix: prefix, Env: map[string]string{"SLACK_WEBHOOK_URL": slack.URL + "/hook"},
		Configure: func(c *config.Config) { c.Location = "eu" }}
	first := apptest.Start(t, fullSetup)

	// The role, as docs/locations.md says: created, then granted what the file
	// grants, in the monitor database, by the role that owns it, naming the
	// probe's location as psql's -v location=us would.
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
	// What the earlier version of the file granted, which this one takes
	// back.
	if _, err := owner.Exec(ctx, fmt.Sprintf(`GRANT SELECT, INSERT, UPDATE ON checks, checks_day, site_state, incident, river_job TO %[1]s;
		GRANT SELECT, INSERT, UPDATE, DELETE ON instance TO %[1]s; GRANT USAGE ON SEQUENCE river_job_id_seq TO %[1]s`, role)); err != nil {
		t.Fatal(err)
	}
	script := strings.ReplaceAll(strings.ReplaceAll(string(grants), "uptime_probe", role), ":'location'", "'us'")
	if _, err := owner.Exec(ctx, script); err != nil {
		t.Fatalf("deploy/probe-role.sql: %v", err)
	}
	// Restarted, as the file says, the full instance no longer listens.
	if err := first.Stop(); err != nil {
		t.Fatal(err)
	}
	var fullLog syncBuffer
	fullSetup.Log = &fullLog
	full := apptest.Start(t, fullSetup)
	if !strings.Contains(fullLog.String(), "River's jobs are polled for") {
		t.Fatalf("the full instance does not say it polls, with a probe registered:\n%s", fullLog.String())
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
	var h history.HistoryResponse
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

	// The role, taken over.
	conn, err := pgx.Connect(ctx, func() string { u := probeURL; u.Path = monitorDB.Path; return u.String() }())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	count := func(db *pgx.Conn, query string) int {
		t.Helper()
		var n int
		if err := db.QueryRow(ctx, query).Scan(&n); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		return n
	}
	jobsBefore := count(owner, "SELECT count(*) FROM river_job WHERE queue <> 'checks-us'")
	instancesBefore := count(owner, "SELECT count(*) FROM instance WHERE location = 'eu'")
	for _, attack := range []struct{ what, query, refusal string }{
		{"forge a delivery", `INSERT INTO river_job (args, kind, max_attempts, queue) VALUES ('{}', 'slack-transition', 5, 'default')`, "permission denied"},
		{"delete every job", "DELETE FROM river_job", "permission denied"},
		{"mark every site up", "UPDATE site_state SET up = true", "permission denied"},
		{"make a state", "INSERT INTO site_state (site_id, url) VALUES (999999, 'x')", "permission denied"},
		{"close every incident", "UPDATE incident SET ended_at = now()", "permission denied"},
		{"write a check", fmt.Sprintf("INSERT INTO checks (site_id, up, checked_at, location) VALUES (%d, true, now(), 'eu')", added.ID), "permission denied"},
		{"falsify the day's counts", "UPDATE checks_day SET up = 0", "permission denied"},
		{"name a location not its own", "INSERT INTO location (name) VALUES ('mars')", "row-level security"},
		{"change the schedule", "UPDATE monitored SET paused = true", "permission denied"},
		{"register itself elsewhere", "UPDATE probe_role SET location = 'eu'", "permission denied"},
		{"report as a map with a location", `SELECT probe_report('{"location": "eu", "rounds": []}')`, "an array of 1 to 2000 rounds"},
		{"create a table", "CREATE TABLE probe_was_here (x int)", "permission denied"},
	} {
		_, err := conn.Exec(ctx, attack.query)
		if err == nil || !strings.Contains(err.Error(), attack.refusal) {
			t.Errorf("the probe's role tried to %s (%s): %v, want %q", attack.what, attack.query, err, attack.refusal)
		}
	}
	// Rows of other queues and locations are not even seen: changing them
	// changes nothing.
	for _, attack := range []struct{ what, query string }{
		{"cancel the other queues' jobs", "UPDATE river_job SET state = 'cancelled', finalized_at = now() WHERE queue <> 'checks-us'"},
		{"pause the other queues", "UPDATE river_queue SET paused_at = now() WHERE name <> 'checks-us'"},
		{"remove the other locations' instances", "DELETE FROM instance WHERE location <> 'us'"},
	} {
		tag, err := conn.Exec(ctx, attack.query)
		if err != nil || tag.RowsAffected() != 0 {
			t.Errorf("the probe's role tried to %s: %d rows, %v; want none", attack.what, tag.RowsAffected(), err)
		}
	}
	if n := count(conn, "SELECT count(*) FROM river_job WHERE queue <> 'checks-us'"); n != 0 {
		t.Errorf("the probe's role sees %d jobs of other queues", n)
	}
	if n := count(owner, "SELECT count(*) FROM river_job WHERE queue <> 'checks-us'"); n < jobsBefore {
		t.Errorf("jobs of other queues went from %d to %d", jobsBefore, n)
	}
	if n := count(owner, "SELECT count(*) FROM river_job WHERE queue <> 'checks-us' AND state = 'cancelled'"); n != 0 {
		t.Errorf("%d jobs of other queues were cancelled", n)
	}
	if n := count(owner, "SELECT count(*) FROM river_queue WHERE paused_at IS NOT NULL"); n != 0 {
		t.Errorf("%d queues were paused", n)
	}
	if n := count(owner, "SELECT count(*) FROM instance WHERE location = 'eu'"); n != instancesBefore {
		t.Errorf("the instances of eu went from %d to %d", instancesBefore, n)
	}

	// A report it makes is its own location's, whatever it says: the job
	// probe_report enqueues names us.
	if _, err := conn.Exec(ctx, `SELECT probe_report('[{"site": 1, "location": "eu", "checks": []}]')`); err != nil {
		t.Fatalf("a report: %v", err)
	}
	if n := count(owner, "SELECT count(*) FROM river_job WHERE kind = 'probe-report' AND args->>'location' <> 'us'"); n != 0 {
		t.Errorf("%d reports name another location than the role's", n)
	}

	// A notification that would pause every queue of a listening process:
	// the full instance polls, and still delivers the recovery.
	if _, err := conn.Exec(ctx, `SELECT pg_notify(current_schema() || '.river_control', '{"action": "pause", "queue": "*"}')`); err != nil {
		t.Fatal(err)
	}
	failing.fail()
	msgs = slack.Wait(2, 40*time.Second)
	if len(msgs) < 2 || !strings.Contains(msgs[1], "is back up") {
		t.Fatalf("after a forged pause, Slack heard %q; want the recovery", msgs)
	}

	// The role reaches no other database.
	for _, name := range []string{"notify", "site", "statuspage"} {
		u := probeURL
		u.Path = "/" + prefix + name
		other, err := pgx.Connect(ctx, u.String())
		if err == nil {
			other.Close(ctx)
			t.Errorf("the probe's role connects to the %s database", name)
		} else if !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("the probe's role connecting to the %s database: %v, want permission denied", name, err)
		}
	}
}
