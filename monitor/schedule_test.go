package monitor_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"uptime/internal/dbutil"
	"uptime/internal/pgtest"
	"uptime/internal/queue"
	"uptime/internal/wait"
	"uptime/monitor"
	"uptime/monitor/event"
	"uptime/monitor/history"
	"uptime/site"
)

// counter is a site that counts the requests it gets.
type counter struct{ hits atomic.Int32 }

func (c *counter) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.hits.Add(1) }

func newCounter(t *testing.T) (*counter, string) {
	c := &counter{}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return c, srv.URL
}

// addWith adds a site with settings through the API and waits for its
// first check, if it gets one.
func (e *env) addWith(t *testing.T, url, settings string) site.Site {
	t.Helper()
	var s site.Site
	body := fmt.Sprintf(`{"url": %q`, url)
	if settings != "" {
		body += ", " + settings
	}
	e.Call(t, "POST", "/site", body+"}", &s)
	return s
}

// TestSitesAreCheckedAtTheirOwnInterval runs the real scheduler for 40
// seconds: a 10-second site is checked 3 to 5 times, a paused one never,
// and one paused after its first checks is not checked again.
func TestSitesAreCheckedAtTheirOwnInterval(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{})
	every10s, u1 := newCounter(t)
	paused, u2 := newCounter(t)
	pausedLater, u3 := newCounter(t)
	minute, u4 := newCounter(t)

	start := time.Now()
	e.addWith(t, u1, `"interval": "10s"`)
	pausedSite := e.addWith(t, u2, `"interval": "10s", "paused": true`)
	later := e.addWith(t, u3, `"interval": "10s"`)
	e.addWith(t, u4, `"interval": "1m"`)

	// Pause the third once it has been checked by the scheduler too.
	wait.For(t, 25*time.Second, func() error {
		if n := pausedLater.hits.Load(); n < 2 {
			return fmt.Errorf("a 10s site was checked %d times", n)
		}
		return nil
	})
	e.Call(t, "PATCH", fmt.Sprintf("/site/%d", later.ID), `{"paused": true}`, nil)
	// A check already under way may still land.
	time.Sleep(time.Second)
	atPause := pausedLater.hits.Load()

	time.Sleep(time.Until(start.Add(40 * time.Second)))
	if n := every10s.hits.Load(); n < 3 || n > 5 {
		t.Errorf("a 10s site was checked %d times in 40s, want 3 to 5", n)
	}
	if n := paused.hits.Load(); n != 0 {
		t.Errorf("a paused site was checked %d times", n)
	}
	if n := pausedLater.hits.Load(); n != atPause {
		t.Errorf("a site paused after %d checks was checked %d more times", atPause, n-atPause)
	}
	// The first check comes when the site is added, the next within 90s.
	if n := minute.hits.Load(); n < 1 || n > 2 {
		t.Errorf("a 1m site was checked %d times in 40s, want 1 or 2", n)
	}
	st := e.status(t)
	if got := st[fmt.Sprint(later.ID)]; !got.Paused {
		t.Errorf("status of the site paused later = %+v, want paused", got)
	}
	if _, listed := st[fmt.Sprint(pausedSite.ID)]; listed {
		t.Errorf("a site paused from the start, never checked, is in /status")
	}
	s := e.mon.Scheduler()
	if s.Checks < 4 || s.Missed != 0 || s.LatenessMS.P99 > 1000 {
		t.Errorf("scheduler figures %+v: want the rounds counted, none missed, p99 lateness under 1s", s)
	}
}

// TestALateRoundIsMissedNotRun gives a check-sites job whose round is due
// more than half the site's interval ago (as a job waiting in a dead
// process, or fetched late, would be): the site is not checked, and the
// round is counted as missed, since the next one is nearer.
func TestALateRoundIsMissedNotRun(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{})
	c, url := newCounter(t)
	s := e.addWith(t, url, `"interval": "1m"`)
	wait.For(t, 10*time.Second, func() error {
		if c.hits.Load() == 0 {
			return errors.New("the site was not checked when added")
		}
		return nil
	})
	hits, missed := c.hits.Load(), e.mon.Scheduler().Missed
	ctx := context.Background()
	// Due 35s ago, claimed 40s ago: started 37s late, over half of 1m.
	args := monitor.CheckSitesArgs{Sites: []int64{int64(s.ID)}, From: time.Now().Add(-35 * time.Second).UnixMilli(), Due: []int64{0}}
	if err := e.q.Insert(ctx, args, &river.InsertOpts{Queue: queue.ChecksOf("local"), MaxAttempts: 1,
		ScheduledAt: time.Now().Add(2 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.Exec(ctx, `UPDATE river_job SET created_at = now() - interval '40 seconds'
		WHERE kind = 'check-sites' AND state = 'scheduled'`); err != nil {
		t.Fatal(err)
	}
	wait.For(t, 15*time.Second, func() error {
		var done bool
		if err := e.db.QueryRow(ctx, `SELECT NOT EXISTS (SELECT FROM river_job
			WHERE kind = 'check-sites' AND finalized_at IS NULL AND (args->'sites'->>0)::int = $1)`, s.ID).Scan(&done); err != nil {
			t.Fatal(err)
		}
		if done {
			return nil
		}
		return errors.New("the late check-sites job did not end within 15s")
	})
	if n := c.hits.Load() - hits; n != 0 {
		t.Errorf("a round 37s late of a 1m site was checked %d times, want none", n)
	}
	if n := e.mon.Scheduler().Missed - missed; n != 1 {
		t.Errorf("%d rounds counted missed, want 1", n)
	}
}

// TestTwoInstancesShareTheRounds runs two monitors on one database: both
// check, and no site is checked twice in a round.
func TestTwoInstancesShareTheRounds(t *testing.T) {
	t.Parallel()
	siteDB, monitorDB := pgtest.NewDatabase(t), pgtest.NewDatabase(t)
	if err := dbutil.Migrate(siteDB, site.Migrations, "migrations"); err != nil {
		t.Fatal(err)
	}
	if err := dbutil.Migrate(monitorDB, monitor.Migrations, "migrations"); err != nil {
		t.Fatal(err)
	}
	a := setup(t, setupOpts{siteDB: siteDB, monitorDB: monitorDB})
	b := setup(t, setupOpts{siteDB: siteDB, monitorDB: monitorDB})
	_, url := newCounter(t)
	const n = 40
	for i := range n {
		a.addWith(t, fmt.Sprintf("%s/site/%d", url, i), `"interval": "10s"`)
	}
	time.Sleep(35 * time.Second)

	sa, sb := a.mon.Scheduler(), b.mon.Scheduler()
	if sa.Checks == 0 || sb.Checks == 0 {
		t.Fatalf("one instance did every check: %d and %d", sa.Checks, sb.Checks)
	}
	t.Logf("shares: %d and %d checks", sa.Checks, sb.Checks)
	// Rounds of a site are 10s apart; two checks of one site closer than
	// 5s mean a round was checked twice. The first check, made when the
	// site was added, is left out.
	var doubled int
	if err := a.db.QueryRow(context.Background(), `SELECT count(*) FROM (
		SELECT checked_at - lag(checked_at) OVER (PARTITION BY site_id ORDER BY checked_at) AS gap,
			row_number() OVER (PARTITION BY site_id ORDER BY checked_at) AS n FROM checks) c
		WHERE n > 2 AND gap < interval '5 seconds'`).Scan(&doubled); err != nil {
		t.Fatal(err)
	}
	if doubled != 0 {
		t.Fatalf("%d checks came less than 5s after the one before: a round was checked twice", doubled)
	}
	if total := a.countAll(t); total < 3*n {
		t.Fatalf("%d checks of %d sites in 35s, want at least 3 each", total, n)
	}
}

func (e *env) countAll(t *testing.T) int {
	t.Helper()
	var n int
	if err := e.db.QueryRow(context.Background(), "SELECT count(*) FROM checks").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRecoveriesNeedPassingChecksInARow(t *testing.T) {
	e := setup(t, setupOpts{})
	sw, srv := newSwitchable(t, 503)
	s := e.addWith(t, srv.URL, `"recoveries": 3, "confirmations": 0`)
	e.check(t, s.ID)
	if got := e.waitTransitions(t, 1); len(got) != 1 || got[0].Up {
		t.Fatalf("transitions = %+v, want one down", got)
	}
	sw.set(200)
	e.check(t, s.ID)
	e.check(t, s.ID)
	if st := e.status(t)[fmt.Sprint(s.ID)]; st.Up || !strings.Contains(st.Reason, "2 of 3 passing checks") {
		t.Fatalf("status after 2 of 3 passing checks = %+v, want still down, recovering", st)
	}
	sw.set(503)
	e.check(t, s.ID) // a failure starts the count again
	sw.set(200)
	e.check(t, s.ID)
	e.check(t, s.ID)
	if got := e.waitTransitions(t, 1); len(got) != 1 {
		t.Fatalf("transitions = %+v after a broken run of passing checks, want only the down", got)
	}
	e.check(t, s.ID)
	if got := e.waitTransitions(t, 2); len(got) != 2 || !got[1].Up {
		t.Fatalf("transitions = %+v after 3 passing checks in a row, want down then up", got)
	}
}

func TestSlowAnswersAreDegraded(t *testing.T) {
	e := setup(t, setupOpts{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(150 * time.Millisecond)
	}))
	t.Cleanup(srv.Close)
	s := e.addWith(t, srv.URL, `"max_latency": "50ms"`)
	if r := e.check(t, s.ID); !r.Up {
		t.Fatalf("check = %+v, want up", r)
	}
	if st := e.status(t)[fmt.Sprint(s.ID)]; !st.Up || !st.Degraded {
		t.Fatalf("status = %+v, want up and degraded", st)
	}
	var h history.HistoryResponse
	e.Call(t, "GET", fmt.Sprintf("/history/%d", s.ID), "", &h)
	if len(h.Checks) == 0 || !h.Checks[0].Degraded || !h.Checks[0].Up {
		t.Fatalf("history = %+v, want the latest check up and degraded", h.Checks)
	}
	if got := e.waitTransitions(t, 1); len(got) != 1 || got[0].Event != event.Degraded || !got[0].Up {
		t.Fatalf("events = %+v, want one degraded alert and no transition: degraded is still up", got)
	}
}

func TestPausedSitesAreLeftAlone(t *testing.T) {
	e := setup(t, setupOpts{})
	c, url := newCounter(t)
	s := e.addWith(t, url, `"paused": true`)
	status, body := e.Do(t, "POST", fmt.Sprintf("/check/%d", s.ID), "")
	if status != 400 || !strings.Contains(body, "paused") {
		t.Fatalf("POST /check of a paused site = %d %s, want 400 saying it is paused", status, body)
	}
	e.Call(t, "POST", "/check-all", "", nil)
	time.Sleep(300 * time.Millisecond) // a request to it would come meanwhile
	if n := c.hits.Load(); n != 0 {
		t.Fatalf("a paused site got %d requests", n)
	}
}

// TestReconciliationRepairsLostNotices loses each kind of notice the site
// service sends the monitor, as a crash between the two databases' commits
// would, and expects reconciliation to repair the schedule.
func TestReconciliationRepairsLostNotices(t *testing.T) {
	e := setup(t, setupOpts{})
	ctx := context.Background()
	_, url := newCounter(t)
	kept := e.addWith(t, url+"/kept", `"interval": "1m"`)
	lostAdd := e.addWith(t, url+"/lost-add", "")
	deleted := e.addWith(t, url+"/deleted", "")
	e.addSite(t, url+"/first-check-done")

	// Lose the notices: the schedule forgets one site, misses a change of
	// another, and keeps one deleted behind its back.
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := e.db.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	exec("DELETE FROM monitored WHERE site_id = $1", lostAdd.ID)
	exec(`UPDATE monitored SET settings = '{"interval": "2m"}', interval_ms = 120000, version = 0 WHERE site_id = $1`, kept.ID)
	if err := e.sites.Delete(ctx, deleted.ID); err != nil {
		t.Fatal(err)
	}
	exec(`INSERT INTO monitored (site_id, url, settings, version, defaults, interval_ms, phase_ms, budget_ms)
		VALUES ($1, 'http://gone.example', '{}', 1, '', 60000, 0, 10000)`, deleted.ID)

	n, err := e.mon.Reconcile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("reconciliation repaired %d sites, want 3", n)
	}
	var ids []int64
	var interval string
	rows, _ := e.db.Query(ctx, "SELECT site_id FROM monitored ORDER BY site_id")
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		ids = append(ids, id)
	}
	e.db.QueryRow(ctx, "SELECT settings->>'interval' FROM monitored WHERE site_id = $1", kept.ID).Scan(&interval)
	if fmt.Sprint(ids) != fmt.Sprint([]int64{kept.ID, lostAdd.ID, 4}) || interval != "1m" {
		t.Fatalf("after reconciliation the schedule holds %v with the kept site every %s; want %v and 1m",
			ids, interval, []int64{kept.ID, lostAdd.ID, 4})
	}
	if n, _ := e.mon.Reconcile(ctx); n != 0 {
		t.Fatalf("a second reconciliation repaired %d sites, want none", n)
	}
	// Rows written with other defaults are rewritten too.
	exec("UPDATE monitored SET defaults = 'older defaults', interval_ms = 1 WHERE site_id = $1", lostAdd.ID)
	if n, _ := e.mon.Reconcile(ctx); n != 1 {
		t.Fatalf("reconciliation after a change of defaults repaired %d sites, want 1", n)
	}
	var iv int64
	e.db.QueryRow(ctx, "SELECT interval_ms FROM monitored WHERE site_id = $1", lostAdd.ID).Scan(&iv)
	if iv != (5 * time.Minute).Milliseconds() {
		t.Fatalf("the interval after reconciliation is %d ms, want the default, 5m", iv)
	}
}
