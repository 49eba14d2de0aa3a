//go:build chaos

// The slow fault tests, run by `make chaos`: the real binary against real
// faults (SIGKILL loops, kills during a roll-up, PostgreSQL stopped under
// load, a full disk, a webhook down for minutes). Most print their figures
// as a row of the "Faults" table in BENCHMARKS.md and append it to
// chaos-results.md.

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"uptime/internal/dbutil"
	"uptime/internal/fakeslack"
	"uptime/internal/pglocal"
	"uptime/internal/wait"
)

// chaosInterval is how often sites are checked in these tests.
const chaosInterval = 2 * time.Second

// chaosFarm serves n sites at /s/<i>, records when each was asked, and
// answers 503 for the sites set down.
type chaosFarm struct {
	*httptest.Server
	mu   sync.Mutex
	hits map[int][]time.Time
	down map[int]bool
	slow map[int]time.Duration
}

func newChaosFarm(t *testing.T) *chaosFarm {
	f := &chaosFarm{hits: map[int][]time.Time{}, down: map[int]bool{}, slow: map[int]time.Duration{}}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/s/"))
		f.mu.Lock()
		f.hits[i] = append(f.hits[i], time.Now())
		down, slow := f.down[i], f.slow[i]
		f.mu.Unlock()
		time.Sleep(slow)
		if down {
			w.WriteHeader(503)
		}
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *chaosFarm) url(i int) string { return fmt.Sprintf("%s/s/%d", f.URL, i) }

// hitsBetween counts the requests sites 1 to sites got in [from, to).
func (f *chaosFarm) hitsBetween(sites int, from, to time.Time) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for i := 1; i <= sites; i++ {
		for _, h := range f.hits[i] {
			if !h.Before(from) && h.Before(to) {
				n++
			}
		}
	}
	return n
}

// faultFigures are what a fault cost, measured from the recorded checks and
// the requests the sites got.
type faultFigures struct {
	fault      string
	sites      int
	window     time.Duration
	performed  int           // requests the sites got
	recorded   int           // checks on record
	doubled    int           // checks less than half an interval after the one before
	doubles    []string      // which, for the failure message
	missed     int           // rounds of an interval in which a site had no check
	maxGap     time.Duration // the longest a site went unchecked
	recoveryIn time.Duration // from the end of the fault to the next round
	note       string
}

// measure reads the checks of sites 1 to sites recorded in [from, to) and
// compares them with what the farm saw.
func measure(t *testing.T, db *pgx.Conn, farm *chaosFarm, sites int, from, to time.Time) faultFigures {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT site_id, checked_at FROM checks
		WHERE checked_at >= $1 AND checked_at < $2 AND site_id <= $3 ORDER BY site_id, checked_at`, from, to, sites)
	if err != nil {
		t.Fatal(err)
	}
	bySite := map[int64][]time.Time{}
	var (
		id int64
		at time.Time
	)
	if _, err := pgx.ForEachRow(rows, []any{&id, &at}, func() error {
		bySite[id] = append(bySite[id], at)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	f := faultFigures{sites: sites, window: to.Sub(from).Round(time.Second), performed: farm.hitsBetween(sites, from, to)}
	for site := int64(1); site <= int64(sites); site++ {
		times := bySite[site]
		f.recorded += len(times)
		prev := from
		for _, at := range append(times, to) {
			gap := at.Sub(prev)
			f.maxGap = max(f.maxGap, gap)
			if at != to && prev != from && gap < chaosInterval/2 {
				f.doubled++
				f.doubles = append(f.doubles, fmt.Sprintf("site %d at %s and %s", site,
					prev.Format("15:04:05.000"), at.Format("15:04:05.000")))
			}
			// A gap of n intervals (to the nearest) missed n-1 rounds.
			if n := int(math.Round(float64(gap) / float64(chaosInterval))); n > 1 {
				f.missed += n - 1
			}
			prev = at
		}
	}
	return f
}

// report logs the figures as a table row and appends it to the results.
func report(t *testing.T, f faultFigures) {
	t.Helper()
	row := fmt.Sprintf("| %s | %d sites, %s | %d | %d | %d | %d | %s | %s | %s |", f.fault, f.sites, f.window,
		f.performed, f.recorded, f.doubled, f.missed, f.maxGap.Round(100*time.Millisecond),
		f.recoveryIn.Round(100*time.Millisecond), f.note)
	t.Log(row)
	out, err := os.OpenFile(filepath.Join(os.Getenv("UPTIME_CHAOS_DIR"), "chaos-results.md"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer out.Close()
	fmt.Fprintln(out, row)
}

// waitRound waits until every one of the sites has been asked since after,
// and returns when that was.
func (f *chaosFarm) waitRound(t *testing.T, sites int, after time.Time, within time.Duration) time.Time {
	t.Helper()
	var last time.Time
	wait.For(t, within, func() error {
		f.mu.Lock()
		last = time.Time{}
		all := true
		for i := 1; i <= sites; i++ {
			hs := f.hits[i]
			if len(hs) == 0 || !hs[len(hs)-1].After(after) {
				all = false
				break
			}
			if hs[len(hs)-1].After(last) {
				last = hs[len(hs)-1]
			}
		}
		f.mu.Unlock()
		if all {
			return nil
		}
		return fmt.Errorf("not every site was checked within %s after %s", within, after.Format(time.TimeOnly))
	})
	return last
}

// reachableDir returns a new directory the postgres user can reach, removed
// when the test ends.
func reachableDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "uptime-chaos-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// externalCluster starts a PostgreSQL cluster the test controls, in dir.
func externalCluster(t *testing.T, dir string) *pglocal.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := pglocal.Start(ctx, pglocal.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop(context.Background()) })
	return c
}

func connect(t *testing.T, serverURL, database string) *pgx.Conn {
	t.Helper()
	u, err := dbutil.DatabaseURL(serverURL, database)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func addSites(t *testing.T, p *program, farm *chaosFarm, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		if id := p.AddSite(t, farm.url(i)); id != int64(i) {
			t.Fatalf("site %d got id %d", i, id)
		}
	}
}

// TestChaosKillLoop kills the program with SIGKILL five times, each time
// during a scheduled round, and restarts it.
func TestChaosKillLoop(t *testing.T) {
	const sites = 20
	farm := newChaosFarm(t)
	farm.slow[1] = 1500 * time.Millisecond
	p := newProgram(t, "UPTIME_CHECK_EVERY="+chaosInterval.String())
	p.start(t)
	addSites(t, p, farm, sites)
	from := farm.waitRound(t, sites, time.Now(), 30*time.Second)

	var worstRecovery time.Duration
	for kill := 1; kill <= 5; kill++ {
		// Kill while the slow site's check is in flight: mid-round.
		wait.For(t, 30*time.Second, func() error {
			farm.mu.Lock()
			hs := farm.hits[1]
			inFlight := len(hs) > 0 && time.Since(hs[len(hs)-1]) < time.Second
			farm.mu.Unlock()
			if inFlight {
				return nil
			}
			return fmt.Errorf("kill %d: no round in progress within 30s", kill)
		})
		p.kill()
		killedAt := time.Now()
		p.start(t)
		back := farm.waitRound(t, sites, time.Now(), 60*time.Second)
		worstRecovery = max(worstRecovery, back.Sub(killedAt))
	}
	to := farm.waitRound(t, sites, time.Now(), 30*time.Second).Add(-chaosInterval / 2)
	f := measure(t, p.monitorDB(t), farm, sites, from, to)
	f.fault, f.recoveryIn = "SIGKILL during a round, 5 times", worstRecovery
	f.note = "checks made but not recorded: " + strconv.Itoa(f.performed-f.recorded) + " (in flight at each kill); the restarted process schedules within 3 s, without waiting for the dead leader's lease"
	report(t, f)
	if f.doubled != 0 {
		t.Errorf("%d checks doubled across the kills: %v", f.doubled, f.doubles)
	}
}

// TestChaosDatabaseOutage stops PostgreSQL for 20 seconds while 20 sites
// are checked every 2 seconds, then starts it again.
func TestChaosDatabaseOutage(t *testing.T) {
	const sites, outage = 20, 20 * time.Second
	dir := reachableDir(t)
	cluster := externalCluster(t, dir)
	farm := newChaosFarm(t)
	p := newProgram(t, "UPTIME_CHECK_EVERY="+chaosInterval.String(), "DATABASE_URL="+cluster.URL("postgres"))
	p.start(t)
	addSites(t, p, farm, sites)
	from := farm.waitRound(t, sites, time.Now(), 30*time.Second)
	// A status page, seen once before the outage.
	if status, body := p.Do(t, "POST", "/status-page", `{"slug": "all", "title": "All", "groups": [{"name": "Sites", "sites": [1, 2]}]}`); status != 200 {
		t.Fatalf("create a status page: %d %s", status, body)
	}
	_, before := p.Do(t, "GET", "/p/all", "")
	time.Sleep(5 * time.Second)

	ctx := context.Background()
	port := cluster.Port()
	if err := cluster.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	stoppedAt := time.Now()
	// It still shows, as it was last seen, saying when that was.
	if status, during := p.Do(t, "GET", "/p/all", ""); status != 200 || during != before || !strings.Contains(during, "Updated") {
		t.Errorf("the status page with PostgreSQL stopped: %d, want 200 and the page as last rendered:\n%.300s", status, during)
	}
	var answers, unavailable, slow int
	for time.Since(stoppedAt) < outage {
		t0 := time.Now()
		status, body := p.Do(t, "GET", "/site/1", "")
		answers++
		if time.Since(t0) > 5*time.Second {
			slow++
		}
		switch status {
		case 503:
			unavailable++
		case 200:
		default:
			t.Errorf("GET /site/1 with PostgreSQL stopped = %d %s, want 503", status, body)
		}
		if status, _ := p.Do(t, "GET", "/readyz", ""); status != 503 && time.Since(stoppedAt) > 3*time.Second {
			t.Errorf("/readyz = %d with PostgreSQL stopped, want 503", status)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// A scrape still answers, with what needs no database.
	if status, body := p.Do(t, "GET", "/metrics", ""); status != 200 || !strings.Contains(body, "uptime_checks_total") ||
		strings.Contains(body, "uptime_site_up{") {
		t.Errorf("/metrics with PostgreSQL stopped = %d, want 200 with the process's counters and no per-site series:\n%.500s", status, body)
	}
	restartCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cluster, err := pglocal.Start(restartCtx, pglocal.Options{Dir: dir, Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Stop(context.Background())
	startedAt := time.Now()
	// The first round recorded after the restart.
	db := connect(t, cluster.URL("postgres"), "monitor")
	var recovery time.Duration
	wait.For(t, 60*time.Second, func() error {
		var n int
		db.QueryRow(ctx, "SELECT count(DISTINCT site_id) FROM checks WHERE checked_at > $1", startedAt).Scan(&n)
		if n == sites {
			recovery = time.Since(startedAt)
			return nil
		}
		return fmt.Errorf("only %d of %d sites checked and recorded within 60s of PostgreSQL's return", n, sites)
	})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if status, _ := p.Do(t, "GET", "/readyz", ""); status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("/readyz not 200 within 30s of PostgreSQL's return")
			break
		}
	}
	time.Sleep(10 * time.Second)
	f := measure(t, db, farm, sites, from, time.Now().Add(-chaosInterval))
	f.fault, f.recoveryIn = fmt.Sprintf("PostgreSQL stopped for %s", outage), recovery
	f.note = fmt.Sprintf("API: %d of %d answers 503 during it, %d slower than 5s, no 500; checks made but not recorded: %d",
		unavailable, answers, slow, f.performed-f.recorded)
	report(t, f)
	if f.doubled != 0 {
		t.Errorf("%d checks doubled across the outage: %v", f.doubled, f.doubles)
	}
	if slow > 0 {
		t.Errorf("%d requests took longer than 5s during the outage", slow)
	}
}

// TestChaosFullDisk puts PostgreSQL on a small tmpfs and fills it: writes
// fail with 503, not 500, and everything recovers once there is room.
func TestChaosFullDisk(t *testing.T) {
	const sites = 10
	dir := reachableDir(t)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=160m,mode=0755", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a small tmpfs (the full-disk test needs root): %v %s", err, out)
	}
	// Unmounted after the cluster on it has stopped (cleanups run last
	// first).
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	cluster := externalCluster(t, dir)
	farm := newChaosFarm(t)
	p := newProgram(t, "UPTIME_CHECK_EVERY="+chaosInterval.String(), "DATABASE_URL="+cluster.URL("postgres"))
	p.start(t)
	addSites(t, p, farm, sites)
	from := farm.waitRound(t, sites, time.Now(), 30*time.Second)

	// Fill what is left, a megabyte at a time, until the disk is full.
	filler, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for {
		if _, err := filler.Write(chunk); err != nil {
			break
		}
	}
	filler.Close()
	fullAt := time.Now()
	statuses := map[int]int{}
	for i := 0; time.Since(fullAt) < 15*time.Second; i++ {
		status, _ := p.Do(t, "POST", "/site", fmt.Sprintf(`{"url": "%s/full-%d/%s"}`, farm.url(1000+i), i, strings.Repeat("x", 1500)))
		statuses[status]++
		if status == 500 {
			t.Errorf("POST /site on a full disk = 500, want 503")
		}
		read, _ := p.Do(t, "GET", "/status", "")
		statuses[read]++
		time.Sleep(100 * time.Millisecond)
	}
	os.Remove(filepath.Join(dir, "filler"))
	freedAt := time.Now()
	// PostgreSQL may have stopped on a failed write to its log; an
	// operator's service manager would start it again, as this does.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db := connect(t, cluster.URL("postgres"), "monitor")
	if err := db.Ping(ctx); err != nil {
		cluster.Stop(ctx)
		if cluster, err = pglocal.Start(ctx, pglocal.Options{Dir: dir, Port: cluster.Port()}); err != nil {
			t.Fatal(err)
		}
		defer cluster.Stop(context.Background())
		db = connect(t, cluster.URL("postgres"), "monitor")
	}
	var recovery time.Duration
	wait.For(t, 60*time.Second, func() error {
		status, _ := p.Do(t, "POST", "/site", `{"url": "`+farm.url(999)+`"}`)
		if status == 200 {
			recovery = time.Since(freedAt)
			return nil
		}
		return fmt.Errorf("POST /site still %d a minute after the disk was freed", status)
	})
	// Checks are recorded again: a few rounds after the disk has room.
	time.Sleep(10 * time.Second)
	var after int
	if err := db.QueryRow(ctx, "SELECT count(*) FROM checks WHERE checked_at > $1 AND site_id <= $2", freedAt, sites).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if after < 2*sites {
		t.Errorf("%d checks recorded in the 10s after the disk had room, want two rounds of %d or more", after, sites)
	}
	var firstAfter time.Time
	db.QueryRow(ctx, "SELECT min(checked_at) FROM checks WHERE checked_at > $1 AND site_id <= $2", freedAt, sites).Scan(&firstAfter)
	f := measure(t, db, farm, sites, from, time.Now().Add(-chaosInterval))
	f.fault, f.recoveryIn = "disk full for 15s (PostgreSQL on a 160 MB tmpfs)", firstAfter.Sub(freedAt)
	var codes []string
	for code, n := range statuses {
		codes = append(codes, fmt.Sprintf("%d×%d", n, code))
	}
	sort.Strings(codes)
	f.note = "answers while full: " + strings.Join(codes, ", ") + "; writes answered again " + recovery.Round(time.Millisecond).String() +
		" after; checks made but not recorded (the disk had no room): " + strconv.Itoa(f.performed-f.recorded)
	report(t, f)
	if statuses[500] > 0 {
		t.Errorf("%d answers of 500 on a full disk", statuses[500])
	}
}

// siteGoesDown runs the program with slack as its webhook and one site,
// which it checks once up and then once down, so that a down message is on
// its way to slack.
func siteGoesDown(t *testing.T, slack *fakeslack.Server, channels ...string) *program {
	t.Helper()
	farm := newChaosFarm(t)
	p := newProgram(t, "UPTIME_CHECK_EVERY=1h", "UPTIME_CONFIRM_INTERVAL=100ms", "SLACK_WEBHOOK_URL="+slack.URL+"/hook")
	p.start(t)
	for _, c := range channels {
		p.Call(t, "POST", "/channel", c, nil)
	}
	addSites(t, p, farm, 1)
	farm.waitRound(t, 1, time.Time{}, 30*time.Second)
	farm.mu.Lock()
	farm.down[1] = true
	farm.mu.Unlock()
	p.Call(t, "POST", "/check/1", "", nil)
	return p
}

// TestChaosWebhookDown keeps Slack failing for two minutes while a site
// goes down: the message arrives once, after Slack is back, on Encore's
// retry schedule (10 s doubling).
func TestChaosWebhookDown(t *testing.T) {
	slack := fakeslack.New(t)
	slack.Fail(503)
	siteGoesDown(t, slack)
	downAt := time.Now()
	time.Sleep(2 * time.Minute)
	slack.Fail(0)
	backAt := time.Now()
	msgs := slack.Wait(1, 3*time.Minute)
	arrived := time.Now()
	time.Sleep(5 * time.Second)
	msgs = slack.Bodies()
	f := faultFigures{fault: "Slack webhook answering 503 for 2 minutes", sites: 1, window: arrived.Sub(downAt).Round(time.Second),
		recoveryIn: arrived.Sub(backAt)}
	f.note = fmt.Sprintf("%d delivery attempts; messages delivered: %d (want 1); the first retry after Slack's return came %s after it",
		slack.Attempts(), len(msgs), arrived.Sub(backAt).Round(time.Second))
	report(t, f)
	if len(msgs) != 1 || !strings.Contains(msgs[0], "is down!") {
		t.Fatalf("Slack got %q after its outage, want the down message once", msgs)
	}
}

// TestChaosKillDuringDelivery kills the program while Slack is taking its
// time to answer a delivery: after a restart, River rescues the delivery
// and it is made again. Slack had the message already, so it hears it
// twice: delivery is at least once, never at most once.
func TestChaosKillDuringDelivery(t *testing.T) {
	slack := fakeslack.New(t)
	slack.Delay(20 * time.Second)
	// A webhook channel, as slow, is killed in flight too: its delivery is
	// a River job of its own, rescued the same way.
	var hookArrivals atomic.Int32
	var hookDelay atomic.Int64
	hookDelay.Store(int64(20 * time.Second))
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if strings.Contains(string(body), `"event":"down"`) {
			hookArrivals.Add(1)
		}
		time.Sleep(time.Duration(hookDelay.Load()))
	}))
	defer hook.Close()
	p := siteGoesDown(t, slack, fmt.Sprintf(`{"name": "hook", "url": %q}`, hook.URL))
	wait.For(t, 30*time.Second, func() error {
		if slack.Attempts() == 0 && len(slack.Bodies()) == 0 || hookArrivals.Load() == 0 {
			return errors.New("no delivery to Slack and the channel within 30s")
		}
		return nil
	})
	p.kill()
	killedAt := time.Now()
	slack.Delay(0)
	hookDelay.Store(0)
	p.start(t)
	msgs := slack.Wait(2, 5*time.Minute)
	wait.For(t, time.Minute, func() error {
		if hookArrivals.Load() < 2 {
			return fmt.Errorf("the channel had %d deliveries of the down alert, want the one in flight and its redelivery", hookArrivals.Load())
		}
		return nil
	})
	f := faultFigures{fault: "SIGKILL during a Slack and a channel delivery", sites: 1, window: time.Since(killedAt).Round(time.Second),
		recoveryIn: time.Since(killedAt)}
	f.note = fmt.Sprintf("messages Slack had: %d, the webhook channel: %d (each the one in flight, then the rescued retry); redelivered %s after the kill (River rescues after 2 min, checked every 30 s)",
		len(msgs), hookArrivals.Load(), f.recoveryIn.Round(time.Second))
	report(t, f)
	if len(msgs) != 2 {
		t.Fatalf("Slack had %d messages, want the one in flight and its redelivery", len(msgs))
	}
}

// TestChaosKillDuringRollup kills the binary with SIGKILL while it rolls
// up two days of checks, starts it again, and expects every hour and day
// rolled up exactly: nothing lost, nothing counted twice.
func TestChaosKillDuringRollup(t *testing.T) {
	cluster := externalCluster(t, reachableDir(t))
	p := newProgram(t, "UPTIME_RETENTION=400d", "DATABASE_URL="+cluster.URL("postgres"))
	p.start(t)
	p.kill()
	db := connect(t, cluster.URL("postgres"), "monitor")
	ctx := context.Background()
	now := time.Now().UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	from, to := today.AddDate(0, 0, -1), now.Add(-time.Hour).Truncate(time.Hour)
	// 1,000 sites every 30 s from yesterday's start: the partitions made at
	// start-up hold them. The roll-ups start over from the oldest check.
	for _, q := range []string{
		"UPDATE rollup_done SET hours_until = NULL, days_until = NULL",
		"UPDATE rollup_closed SET closed_until = NULL",
		"TRUNCATE rollup_hour, rollup_day, rollup_late",
	} {
		if _, err := db.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(ctx, `INSERT INTO checks (site_id, up, checked_at, status_code, latency_ms, degraded)
		SELECT s, random() > 0.05, t + (s % 30) * interval '1 second', 200, random() * 500, random() > 0.9
		FROM generate_series(1, 1000) s, generate_series($1::timestamptz, $2::timestamptz - interval '30 seconds', interval '30 seconds') t`,
		from, to); err != nil {
		t.Fatal(err)
	}
	start := from
	p.start(t)
	var kills int
	for kills < 2 {
		var until *time.Time
		if err := db.QueryRow(ctx, "SELECT hours_until FROM rollup_done").Scan(&until); err != nil {
			t.Fatal(err)
		}
		if until != nil && until.Sub(start) >= 4*time.Hour {
			p.kill()
			kills++
			t.Logf("kill %d with hours rolled up to %s", kills, until.Format(time.RFC3339))
			start = *until
			p.start(t)
		}
		if until != nil && !until.Before(to) {
			t.Fatalf("the roll-up ended (at %s) before the second kill; make its work bigger", until)
		}
		time.Sleep(20 * time.Millisecond)
	}
	closed := time.Now().UTC().Add(-2 * time.Minute).Truncate(time.Hour)
	wait.For(t, 5*time.Minute, func() error {
		var hours, days *time.Time
		db.QueryRow(ctx, "SELECT hours_until, days_until FROM rollup_done").Scan(&hours, &days)
		if hours != nil && days != nil && !hours.Before(closed) && !days.Before(today) {
			return nil
		}
		return fmt.Errorf("rolled up to %v (hours) and %v (days) 5 minutes after the last restart, want %s and %s", hours, days, closed, today)
	})
	for _, span := range []struct{ table, column, unit string }{{"rollup_hour", "hour", "hour"}, {"rollup_day", "day", "day"}} {
		var wrong, spans int
		if err := db.QueryRow(ctx, fmt.Sprintf(`WITH raw AS (
				SELECT site_id, date_trunc('%s', checked_at, 'UTC') AS at, count(*) AS n, count(*) FILTER (WHERE up) AS up,
					count(*) FILTER (WHERE degraded) AS degraded
				FROM checks WHERE checked_at >= $1 AND checked_at < $2 GROUP BY 1, 2)
			SELECT count(*) FILTER (WHERE r.n IS DISTINCT FROM u.checks OR r.up IS DISTINCT FROM u.up
				OR r.degraded IS DISTINCT FROM u.degraded), count(*)
			FROM raw r FULL JOIN (SELECT * FROM %s WHERE %s >= $1 AND %s < $2) u
				ON u.site_id = r.site_id AND u.%s = r.at`, span.unit, span.table, span.column, span.column, span.column),
			from, map[string]time.Time{"hour": closed, "day": today}[span.unit]).Scan(&wrong, &spans); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d site-%ss compared with the raw checks, %d differ", span.table, spans, span.unit, wrong)
		if wrong != 0 || spans == 0 {
			t.Errorf("%s: %d of %d site-%ss differ from the raw checks after two kills", span.table, wrong, spans, span.unit)
		}
	}
}

// TestChaosPruneWhileChecking imports 6,000 sites checked every 10 s and,
// while their rounds run, prunes every one of them in one import: the
// delete is quick, deadlocks with no check, and within a minute /status,
// /metrics and the monitor database hold nothing of them.
func TestChaosPruneWhileChecking(t *testing.T) {
	const sites, interval = 6000, 10 * time.Second
	farm := newChaosFarm(t)
	p := newProgram(t)
	p.start(t)
	rows := make([]string, sites)
	for i := range rows {
		rows[i] = fmt.Sprintf(`{"url": %q, "interval": %q}`, farm.url(i+1), interval)
	}
	var imported struct{ Created int }
	p.Call(t, "POST", "/site/import", `{"sites": [`+strings.Join(rows, ",")+`]}`, &imported)
	if imported.Created != sites {
		t.Fatalf("import created %d sites, want %d", imported.Created, sites)
	}
	// Three rounds of every site, so that checks are in flight throughout.
	farm.waitRound(t, sites, time.Now(), 2*time.Minute)
	farm.waitRound(t, sites, time.Now(), 30*time.Second)
	farm.waitRound(t, sites, time.Now().Add(-interval/3), 30*time.Second)

	start := time.Now()
	var pruned struct{ Deleted int }
	p.Call(t, "POST", "/site/import?prune=true", `{"sites": []}`, &pruned)
	took := time.Since(start)
	if pruned.Deleted != sites {
		t.Fatalf("prune deleted %d sites, want %d", pruned.Deleted, sites)
	}
	db := p.monitorDB(t)
	ctx := context.Background()
	var cleared time.Duration
	left := map[string]int{}
	for deadline := start.Add(time.Minute); ; time.Sleep(time.Second) {
		clear(left)
		_, status := p.Do(t, "GET", "/status", "")
		var st struct{ Sites map[string]json.RawMessage }
		if err := json.Unmarshal([]byte(status), &st); err != nil {
			t.Fatalf("GET /status: %v", err)
		}
		if len(st.Sites) > 0 {
			left["/status"] = len(st.Sites)
		}
		_, metrics := p.Do(t, "GET", "/metrics", "")
		if n := strings.Count(metrics, "\nuptime_site_up{"); n > 0 {
			left["uptime_site_up series"] = n
		}
		for _, table := range []string{"monitored", "site_state", "incident", "checks", "checks_day", "rollup_recent"} {
			var n int
			if err := db.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n > 0 {
				left[table] = n
			}
		}
		if len(left) == 0 {
			cleared = time.Since(start)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a minute after pruning every site, what is left of them: %v", left)
		}
	}
	var deadlocks int
	for line := range strings.Lines(p.logText()) {
		if strings.Contains(line, "deadlock") {
			deadlocks++
		}
	}
	f := faultFigures{fault: fmt.Sprintf("prune of every site while checking (%d every %s)", sites, interval),
		sites: sites, recoveryIn: cleared,
		note: fmt.Sprintf("the prune answered in %s; nothing of the sites left in /status, /metrics or the monitor database after %s; %d deadlocks logged",
			took.Round(10*time.Millisecond), cleared.Round(100*time.Millisecond), deadlocks)}
	report(t, f)
	if deadlocks > 0 {
		t.Errorf("%d log lines name a deadlock", deadlocks)
	}
	if took > 5*time.Second {
		t.Errorf("the prune of %d sites took %s, want under 5s", sites, took)
	}
}

// TestChaosPostmasterKilledWhileJobsComplete kills PostgreSQL's postmaster
// with SIGKILL while check jobs and deliveries complete by the dozen: 40
// sites checked every 2 s, each going down once and back up, every change
// delivered to Slack and to a webhook channel. PostgreSQL is started again 12 s
// later, past the 7 s of River's completer's retries, so it says it gives
// up; it keeps the batches and writes them once PostgreSQL is back. Every
// change on record is delivered once to each, none is lost or doubled, no
// check is doubled, and no delivery is left running or discarded.
func TestChaosPostmasterKilledWhileJobsComplete(t *testing.T) {
	const sites = 40
	slack := fakeslack.New(t)
	var (
		hookMu sync.Mutex
		hooked = map[string]int{} // "site event" → deliveries
	)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct {
			Event string
			Site  struct{ Name string }
		}
		body, _ := io.ReadAll(r.Body)
		json.Unmarshal(body, &ev)
		hookMu.Lock()
		hooked[ev.Site.Name+" "+ev.Event]++
		hookMu.Unlock()
	}))
	defer hook.Close()
	farm := newChaosFarm(t)
	dir := reachableDir(t)
	cluster := externalCluster(t, dir)
	p := newProgram(t, "UPTIME_CHECK_EVERY="+chaosInterval.String(), "UPTIME_CONFIRM_CHECKS=0",
		"SLACK_WEBHOOK_URL="+slack.URL+"/hook", "DATABASE_URL="+cluster.URL("postgres"))
	p.start(t)
	p.Call(t, "POST", "/channel", fmt.Sprintf(`{"name": "hook", "url": %q}`, hook.URL), nil)
	for i := 1; i <= sites; i++ {
		var s struct{ ID int }
		p.Call(t, "POST", "/site", fmt.Sprintf(`{"url": %q, "name": "site-%d"}`, farm.url(i), i), &s)
		if s.ID != i {
			t.Fatalf("site %d got id %d", i, s.ID)
		}
	}
	from := farm.waitRound(t, sites, time.Now(), 30*time.Second)

	// Site i is down from i×500 ms for 6 s: a change about every 250 ms
	// for half a minute.
	var wg sync.WaitGroup
	for i := 1; i <= sites; i++ {
		wg.Go(func() {
			time.Sleep(time.Duration(i) * 500 * time.Millisecond)
			farm.mu.Lock()
			farm.down[i] = true
			farm.mu.Unlock()
			time.Sleep(6 * time.Second)
			farm.mu.Lock()
			farm.down[i] = false
			farm.mu.Unlock()
		})
	}
	wait.For(t, 30*time.Second, func() error {
		if len(slack.Bodies()) < 10 {
			return fmt.Errorf("only %d messages reached Slack within 30s of the first site going down", len(slack.Bodies()))
		}
		return nil
	})
	b, err := os.ReadFile(filepath.Join(cluster.DataDir(), "postmaster.pid"))
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
	killedAt := time.Now()
	deliveredBefore := len(slack.Bodies())
	time.Sleep(12 * time.Second)
	restartCtx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cluster.Stop(restartCtx) // releases the cluster: its server is dead
	cluster, err = pglocal.Start(restartCtx, pglocal.Options{Dir: dir, Port: cluster.Port()})
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Stop(context.Background())
	wg.Wait()

	// Settled: every site back up on record, every change on record delivered,
	// no delivery or check job waiting, running or retrying. A job whose fetch
	// committed as the postmaster died is rescued after River's 2 minutes.
	db := connect(t, cluster.URL("postgres"), "monitor")
	ctx := context.Background()
	downs, ups := map[string]int{}, map[string]int{}
	var (
		settled  time.Duration
		pending  int
		lastSeen string
	)
	wait.For(t, 5*time.Minute, func() error {
		clear(downs)
		clear(ups)
		rows, err := db.Query(ctx, `SELECT site_id, count(*), count(ended_at) FROM incident GROUP BY site_id`)
		if err == nil {
			var id, opened, closed int
			pgx.ForEachRow(rows, []any{&id, &opened, &closed}, func() error {
				downs[fmt.Sprintf("site-%d", id)], ups[fmt.Sprintf("site-%d", id)] = opened, closed
				return nil
			})
		}
		db.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE state IN ('available', 'running', 'retryable', 'scheduled')
			AND kind <> 'check-all' AND kind NOT LIKE 'reconcile%' AND kind NOT IN ('rollup', 'maintain-history')
			AND (kind <> 'check-sites' OR created_at < now() - interval '30 seconds')`).Scan(&pending)
		got := tally(slack.Bodies())
		lastSeen = fmt.Sprintf("%d jobs pending; Slack %v; webhook %v; on record %v down, %v up", pending, got, hookedCopy(&hookMu, hooked), downs, ups)
		if pending == 0 && len(downs) > 0 && allBackUp(downs, ups) && sameDeliveries(got, downs, ups) && sameDeliveries(hookedCopy(&hookMu, hooked), downs, ups) {
			settled = time.Since(killedAt)
			return nil
		}
		return fmt.Errorf("5 minutes after the postmaster was killed, deliveries do not match the changes on record: %s", lastSeen)
	})
	var discarded int
	// Check jobs that failed while PostgreSQL was away are discarded by
	// design (their checks could not be recorded; the next rounds are
	// nearer); a delivery never is.
	db.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE state = 'discarded'
		AND (kind LIKE 'uptime-transition.%' OR kind = 'notify-channel-delivery')`).Scan(&discarded)
	time.Sleep(5 * time.Second) // a doubled delivery would arrive meanwhile
	got, gotHook := tally(slack.Bodies()), hookedCopy(&hookMu, hooked)
	f := measure(t, db, farm, sites, from, time.Now().Add(-chaosInterval))
	var changes int
	for name := range downs {
		changes += downs[name] + ups[name]
	}
	var gaveUp int
	for line := range strings.Lines(p.logText()) {
		if strings.Contains(line, "Too many errors; giving up") {
			gaveUp++
		}
	}
	f.fault, f.recoveryIn = "postmaster SIGKILLed while check and delivery jobs complete", settled
	f.note = fmt.Sprintf("%d changes on record, each delivered once to Slack and once to a webhook (%d Slack messages before the kill); the completer gave up %d times and wrote its batches once PostgreSQL was back; %d deliveries discarded, none left running",
		changes, deliveredBefore, gaveUp, discarded)
	report(t, f)
	if !sameDeliveries(got, downs, ups) || !sameDeliveries(gotHook, downs, ups) {
		t.Errorf("deliveries after the settling: Slack %v, webhook %v; changes on record %v down, %v up", got, gotHook, downs, ups)
	}
	if discarded > 0 {
		t.Errorf("%d deliveries discarded", discarded)
	}
	if f.doubled != 0 {
		t.Errorf("%d checks doubled across the outage: %v", f.doubled, f.doubles)
	}
}

// tally counts Slack's messages, which name the sites site-N ("*site-N is
// down!* URL"), by "site-N down" and "site-N up"; a message of neither
// kind counts as itself.
func tally(bodies []string) map[string]int {
	out := map[string]int{}
	for _, b := range bodies {
		var m struct{ Text string }
		json.Unmarshal([]byte(b), &m)
		key := m.Text
		for _, ev := range []struct{ phrase, event string }{{" is down!*", "down"}, {" is back up.*", "up"}} {
			if i := strings.Index(m.Text, ev.phrase); i > 0 {
				if j := strings.LastIndex(m.Text[:i], "*"); j >= 0 {
					key = m.Text[j+1:i] + " " + ev.event
				}
			}
		}
		out[key]++
	}
	return out
}

func hookedCopy(mu *sync.Mutex, m map[string]int) map[string]int {
	mu.Lock()
	defer mu.Unlock()
	out := make(map[string]int, len(m))
	for k, v := range m {
		if strings.HasSuffix(k, " down") || strings.HasSuffix(k, " up") {
			out[k] = v
		}
	}
	return out
}

// allBackUp tells whether every incident on record has ended: every site
// of the farm is up once the outages are over, so until then a recovery
// is still to be recorded and delivered.
func allBackUp(downs, ups map[string]int) bool {
	for name, n := range downs {
		if ups[name] != n {
			return false
		}
	}
	return true
}

// sameDeliveries tells whether got has each site's downs and ups as many
// times as they are on record, and nothing else.
func sameDeliveries(got, downs, ups map[string]int) bool {
	want := map[string]int{}
	for name, n := range downs {
		if n > 0 {
			want[name+" down"] = n
		}
		if ups[name] > 0 {
			want[name+" up"] = ups[name]
		}
	}
	if len(got) != len(want) {
		return false
	}
	for k, n := range want {
		if got[k] != n {
			return false
		}
	}
	return true
}
