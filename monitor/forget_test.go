package monitor_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"uptime/internal/wait"
	"uptime/monitor"
	"uptime/monitor/status"
)

// leftOf counts what the monitor database still holds of a site.
func (e *env) leftOf(t *testing.T, siteID int64) map[string]int {
	t.Helper()
	left := map[string]int{}
	for _, table := range []string{"monitored", "site_state", "checks", "checks_day", "incident", "rollup_recent"} {
		var n int
		if err := e.db.QueryRow(context.Background(), "SELECT count(*) FROM "+table+" WHERE site_id = $1", siteID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			left[table] = n
		}
	}
	return left
}

// A site deleted while its check is under way gets nothing recorded and
// nothing announced: the check's transaction finds it gone.
func TestCheckOfADeletedSiteRecordsNothing(t *testing.T) {
	e := setup(t, setupOpts{opts: monitor.Options{Confirmations: 0}})
	var (
		mu      sync.Mutex
		slow    bool
		started = make(chan struct{}, 1)
		release = make(chan struct{})
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hold := slow
		mu.Unlock()
		if hold {
			started <- struct{}{}
			<-release
			w.WriteHeader(500) // down: a transition, were it recorded
		}
	}))
	t.Cleanup(srv.Close)
	s := e.addSite(t, srv.URL)
	if r := e.check(t, s.ID); !r.Up {
		t.Fatalf("first check: %+v", r)
	}
	mu.Lock()
	slow = true
	mu.Unlock()
	done := make(chan int, 1)
	go func() {
		status, _ := e.Do(t, "POST", fmt.Sprintf("/check/%d", s.ID), "")
		done <- status
	}()
	<-started
	e.Call(t, "DELETE", fmt.Sprintf("/site/%d", s.ID), "", nil)
	close(release)
	<-done
	if left := e.leftOf(t, s.ID); len(left) > 0 {
		t.Errorf("after a check that ended once its site was deleted, the monitor holds %v of it, want nothing", left)
	}
	if _, ok := e.status(t)[fmt.Sprint(s.ID)]; ok {
		t.Error("the deleted site is in /status")
	}
	for _, ev := range e.waitTransitions(t, 1) {
		t.Errorf("announced %s of the deleted site", ev.Event)
	}
}

// Reconciliation removes what is left of a site no longer scheduled (a
// state, incidents, recent figures), as a lost notice or an older version
// leaves it, and keeps the sites still listed.
func TestReconcileForgetsOrphans(t *testing.T) {
	e := setup(t, setupOpts{})
	_, srv := newSwitchable(t, 200)
	kept := e.addSite(t, srv.URL+"/kept")
	ctx := context.Background()
	const orphan = 424242
	for _, q := range []string{
		`INSERT INTO site_state (site_id, url, up, checked_at) VALUES ($1, 'http://gone.example/', true, now())`,
		`INSERT INTO incident (site_id, started_at, cause) VALUES ($1, now() - interval '1 hour', '503')`,
		`INSERT INTO rollup_recent (site_id, days_from, days) VALUES ($1, now(), '\x')`,
		`INSERT INTO checks (site_id, up, checked_at, latency_ms, reason, location) VALUES ($1, true, now(), 1, '', 'local')`,
	} {
		if _, err := e.db.Exec(ctx, q, orphan); err != nil {
			t.Fatal(err)
		}
	}
	// A site listed whose schedule was lost is scheduled again, not
	// forgotten.
	if _, err := e.db.Exec(ctx, "DELETE FROM monitored WHERE site_id = $1", kept.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.mon.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if left := e.leftOf(t, orphan); len(left) > 0 {
		t.Errorf("after reconciliation the monitor holds %v of a site that is not listed, want nothing", left)
	}
	if left := e.leftOf(t, kept.ID); left["monitored"] != 1 || left["site_state"] != 1 {
		t.Errorf("the listed site has %v after reconciliation, want its schedule and state", left)
	}
	if _, ok := e.status(t)[fmt.Sprint(orphan)]; ok {
		t.Error("the orphan is still in /status")
	}
}

// A prune of many sites while they are being checked leaves none of them
// behind, and deadlocks with nothing.
func TestPruneWhileChecking(t *testing.T) {
	e := setup(t, setupOpts{opts: monitor.Options{Confirmations: 0, Concurrency: 64}})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Duration(len(r.URL.Path)%7) * time.Millisecond)
	}))
	t.Cleanup(srv.Close)
	const n = 1500
	var rows []string
	for i := range n {
		rows = append(rows, fmt.Sprintf(`{"url": "%s/s/%d"}`, srv.URL, i))
	}
	e.Call(t, "POST", "/site/import", `{"sites": [`+strings.Join(rows, ",")+`]}`, nil)
	e.Call(t, "POST", "/check-all", "", nil)
	// Check-alls one after another while the prune runs.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var rounds atomic.Int64
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			e.Do(t, "POST", "/check-all", "")
			rounds.Add(1)
		}
	})
	wait.Until(t, 30*time.Second, "no check-all ended", func() bool { return rounds.Load() > 0 })
	var pruned struct{ Deleted int }
	e.Call(t, "POST", "/site/import?prune=true", `{"sites": []}`, &pruned)
	close(stop)
	wg.Wait()
	if pruned.Deleted != n {
		t.Fatalf("prune deleted %d, want %d", pruned.Deleted, n)
	}
	ctx := context.Background()
	for _, table := range []string{"monitored", "site_state", "checks", "incident"} {
		var left int
		if err := e.db.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&left); err != nil {
			t.Fatal(err)
		}
		if left > 0 {
			t.Errorf("%d rows of %s left after pruning every site while checking", left, table)
		}
	}
	if st := e.status(t); len(st) > 0 {
		t.Errorf("/status lists %d sites after pruning every one", len(st))
	}
	for _, l := range e.logged("deadlock") {
		t.Errorf("logged: %s", l)
	}
}

// Imported sites are checked at once, as a site added alone is, not left
// unknown until their first round; a paused one is not, nor a site an
// import only changes.
func TestImportedSitesAreCheckedAtOnce(t *testing.T) {
	e := setup(t, setupOpts{})
	_, srv := newSwitchable(t, 200)
	var rows []string
	for i := range 5 {
		rows = append(rows, fmt.Sprintf(`{"url": "%s/s/%d", "interval": "1h"}`, srv.URL, i))
	}
	rows = append(rows, fmt.Sprintf(`{"url": "%s/paused", "interval": "1h", "paused": true}`, srv.URL))
	e.Call(t, "POST", "/site/import", `{"sites": [`+strings.Join(rows, ",")+`]}`, nil)
	var st map[string]status.SiteStatus
	wait.For(t, 15*time.Second, func() error {
		if st = e.status(t); len(st) < 5 {
			return fmt.Errorf("%d of 5 imported sites checked after the import", len(st))
		}
		return nil
	})
	time.Sleep(500 * time.Millisecond) // a check of the paused site would come meanwhile
	if st = e.status(t); len(st) != 5 {
		t.Errorf("/status has %d sites, want the 5 imported and not the paused one", len(st))
	}
	checks := e.countChecks(t, 1)
	e.Call(t, "POST", "/site/import", `{"sites": [`+strings.Replace(strings.Join(rows, ","), `"interval": "1h"`, `"interval": "2h"`, 1)+`]}`, nil)
	time.Sleep(time.Second) // a check it made would come meanwhile
	if n := e.countChecks(t, 1); n != checks {
		t.Errorf("a site the import only changed was checked again: %d checks, had %d", n, checks)
	}
}
