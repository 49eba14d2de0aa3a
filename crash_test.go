package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"uptime/internal/wait"
	"uptime/monitor/schedule"
)

// hitCounter is a site that counts the requests it gets and the ones it is
// answering now, answering each after delay.
type hitCounter struct {
	hits, inFlight atomic.Int32
	delay          time.Duration
}

func (h *hitCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.hits.Add(1)
	h.inFlight.Add(1)
	defer h.inFlight.Add(-1)
	time.Sleep(h.delay)
}

// TestKilledDuringCheckAllResumesOnSchedule kills the real binary with
// SIGKILL while a scheduled check-all is running, starts it again, and
// expects scheduled checking to go on: the killed run must not hold up the
// ones after it, and no round may check a site twice.
func TestKilledDuringCheckAllResumesOnSchedule(t *testing.T) {
	killDuringCheckAll(t, 1)
}

// killDuringCheckAll kills the program during a scheduled round the given
// number of times, each time expecting checking to resume after a restart.
func killDuringCheckAll(t *testing.T, kills int) {
	slow := &hitCounter{delay: 1500 * time.Millisecond}
	fast := &hitCounter{}
	slowSrv, fastSrv := httptest.NewServer(slow), httptest.NewServer(fast)
	defer slowSrv.Close()
	defer fastSrv.Close()

	p := newProgram(t, "UPTIME_CHECK_EVERY=2s")
	p.start(t)
	p.AddSite(t, slowSrv.URL)
	p.AddSite(t, fastSrv.URL)

	for round := 1; round <= kills; round++ {
		// Wait until a scheduled round is checking the slow site, then kill.
		wait.For(t, 60*time.Second, func() error {
			if slow.hits.Load() < 3 || slow.inFlight.Load() == 0 {
				return fmt.Errorf("kill %d: no scheduled check of the slow site in progress within 60s (%d hits)", round, slow.hits.Load())
			}
			return nil
		})
		p.kill()
		killedAt := fast.hits.Load()
		slow.hits.Store(0)

		p.start(t)
		// Leadership passes to the new process once the dead one's lease
		// ends (about 15s); then checking must resume at its 2s interval.
		for deadline := time.Now().Add(45 * time.Second); fast.hits.Load() < killedAt+3; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("after kill %d the fast site was checked %d times in 45s, want 3 or more: scheduled checking did not resume",
					round, fast.hits.Load()-killedAt)
			}
		}
	}

	// No round checked a site twice: checks of the fast site are about an
	// interval apart, never two at once. Its first check, made when it was
	// added, may fall next to the first round's and is left out.
	conn := p.monitorDB(t)
	var doubled int
	err := conn.QueryRow(context.Background(), `SELECT count(*) FROM (
		SELECT checked_at - lag(checked_at) OVER (ORDER BY checked_at) AS gap FROM (
			SELECT checked_at FROM checks WHERE site_id = 2 ORDER BY checked_at OFFSET 1) c) g
		WHERE gap < interval '500 milliseconds'`).Scan(&doubled)
	if err != nil {
		t.Fatal(err)
	}
	if doubled != 0 {
		t.Fatalf("%d checks of the fast site came less than 500ms after the one before: a round was doubled", doubled)
	}
}

// TestDBShellOnANewStateDirectory opens `uptime db shell monitor` where
// `uptime run` never ran: the databases are made and migrated first, so the
// shell finds the tables.
func TestDBShellOnANewStateDirectory(t *testing.T) {
	p := newProgram(t)
	cmd := exec.Command(p.bin, "db", "shell", "monitor")
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdin = strings.NewReader("SELECT count(*) AS checks_recorded FROM checks;\n")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "checks_recorded") || !strings.Contains(string(out), "0") {
		t.Fatalf("uptime db shell monitor on a new state directory: %v\n%s", err, out)
	}
}

// sitesFarm is many sites on one server, each a path, that notes when
// each was last asked.
type sitesFarm struct {
	mu   sync.Mutex
	last map[string]time.Time
}

func (f *sitesFarm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last[r.URL.Path] = time.Now()
}

// uncheckedSince returns the paths not asked for since t.
func (f *sitesFarm) uncheckedSince(paths []string, t time.Time) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, p := range paths {
		if !f.last[p].After(t) {
			out = append(out, p)
		}
	}
	return out
}

// twoInstances starts two real instances on one database: the first
// provisions PostgreSQL, the second connects to it.
func twoInstances(t *testing.T, env ...string) (first, second *program) {
	t.Helper()
	first = newProgram(t, env...)
	first.start(t)
	cmd := exec.Command(first.bin, "db", "conn-uri", "monitor")
	cmd.Env = append(os.Environ(), first.env...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	server, err := url.Parse(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatal(err)
	}
	server.Path = "/"
	second = newProgram(t, append(env, "DATABASE_URL="+server.String())...)
	second.start(t)
	return first, second
}

// TestKillingAnInstanceLeavesNoSiteUnchecked runs two real instances on one
// database, kills the first (the elected leader, as it started first) with
// SIGKILL, and expects every site to be checked again by the other within
// its interval and a few seconds: the rounds the dead one had claimed are
// lost, and the other schedules in its place until River elects it.
func TestKillingAnInstanceLeavesNoSiteUnchecked(t *testing.T) {
	farm := &sitesFarm{last: map[string]time.Time{}}
	srv := httptest.NewServer(farm)
	defer srv.Close()

	first, second := twoInstances(t)
	const n, interval = 30, 10 * time.Second
	var paths []string
	for i := range n {
		path := fmt.Sprintf("/s/%d", i)
		paths = append(paths, path)
		second.Call(t, "POST", "/site", fmt.Sprintf(`{"url": "%s%s", "interval": "10s"}`, srv.URL, path), nil)
	}
	// Both instances check, before one is killed.
	var a, b struct{ Checks int }
	for deadline := time.Now().Add(60 * time.Second); a.Checks == 0 || b.Checks == 0; time.Sleep(500 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after 60s the instances made %d and %d scheduled checks; want both to check", a.Checks, b.Checks)
		}
		first.Call(t, "GET", "/scheduler", "", &a)
		second.Call(t, "GET", "/scheduler", "", &b)
	}
	t.Logf("before the kill: %d and %d scheduled checks", a.Checks, b.Checks)

	first.kill()
	killed := time.Now()
	// The bound: an interval, the 2s a round is claimed ahead, the 3s
	// before the other instance stands in for the leader, and a margin.
	const bound = interval + 8*time.Second
	for {
		left := farm.uncheckedSince(paths, killed)
		if len(left) == 0 {
			break
		}
		if time.Since(killed) > bound {
			t.Fatalf("%d of %d sites not checked in the %s after an instance was killed: %v", len(left), n, bound, left)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("every site was checked again within %s of the kill", time.Since(killed).Round(100*time.Millisecond))
}

// TestStandInKeepsEveryRound kills the instance that schedules, of two,
// and expects the other, filling in until River elects it, to schedule
// every second: once it has filled in, no round of sites checked every 2
// seconds is missed.
func TestStandInKeepsEveryRound(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	a, b := twoInstances(t, "UPTIME_CHECK_EVERY=2s")
	const n = 20
	for i := range n {
		a.Call(t, "POST", "/site", fmt.Sprintf(`{"url": "%s/s/%d"}`, srv.URL, i), nil)
	}
	// The leader is the instance River elected: its client is named by
	// the instance's id (first is the one that started first).
	conn := a.monitorDB(t)
	defer conn.Close(context.Background())
	var leader, other *program
	wait.For(t, 40*time.Second, func() error {
		var leaderID, firstID, secondID *string
		err := conn.QueryRow(context.Background(), `SELECT (SELECT leader_id FROM river_leader),
				(SELECT id FROM instance ORDER BY started_at LIMIT 1), (SELECT id FROM instance ORDER BY started_at OFFSET 1 LIMIT 1)`).
			Scan(&leaderID, &firstID, &secondID)
		switch {
		case err != nil:
			return err
		case leaderID == nil || firstID == nil || secondID == nil:
			return errors.New("no leader elected, or not both instances announced")
		case *leaderID == *firstID:
			leader, other = a, b
		case *leaderID == *secondID:
			leader, other = b, a
		default:
			return fmt.Errorf("the leader %s is neither instance (%s, %s)", *leaderID, *firstID, *secondID)
		}
		return nil
	})
	// Checking under way before the kill.
	wait.For(t, 30*time.Second, func() error {
		var st schedule.SchedulerStats
		other.Call(t, "GET", "/scheduler", "", &st)
		if st.Checks == 0 {
			return errors.New("the instance to be left has started no scheduled round")
		}
		return nil
	})
	leader.kill()
	// The other fills in after 3s without a pass; its first pass claims
	// the rounds since the last one, and misses those already past.
	time.Sleep(6 * time.Second)
	var before, after schedule.SchedulerStats
	other.Call(t, "GET", "/scheduler", "", &before)
	time.Sleep(10 * time.Second)
	other.Call(t, "GET", "/scheduler", "", &after)
	if missed := after.Missed - before.Missed; missed != 0 {
		t.Errorf("%d rounds missed between 6s and 16s after the leader was killed, want none", missed)
	}
	if checks := after.Checks - before.Checks; checks < 4*n {
		t.Errorf("%d rounds checked between 6s and 16s after the leader was killed, want about %d", checks, 5*n)
	}
	if !strings.Contains(other.logText(), "this instance schedules until the leader does") {
		t.Errorf("the instance left did not say it fills in for the leader")
	}
}
