package monitor_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"uptime/internal/api"
	"uptime/internal/apptest"
	"uptime/internal/dbutil"
	"uptime/internal/pgtest"
	"uptime/internal/pubsub"
	"uptime/internal/queue"
	"uptime/internal/testnet"
	"uptime/internal/wait"
	"uptime/monitor"
	"uptime/monitor/event"
	"uptime/monitor/status"
	"uptime/site"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// env is a monitor and a site service on fresh databases, served over
// real HTTP, with a subscription that records every transition.
type env struct {
	apptest.Client
	mon   *monitor.Service
	sites *site.Service
	db    *pgxpool.Pool
	q     *queue.Queue

	mu          sync.Mutex
	transitions []event.Transition
	warnings    []string // the warnings and errors logged
}

type setupOpts struct {
	opts      monitor.Options
	monitorDB string // share another env's monitor database
	siteDB    string
}

func setup(t testing.TB, so setupOpts) *env {
	t.Helper()
	ctx := context.Background()
	if so.siteDB == "" {
		so.siteDB = pgtest.NewDatabase(t)
		if err := dbutil.Migrate(so.siteDB, site.Migrations, "migrations"); err != nil {
			t.Fatal(err)
		}
	}
	if so.monitorDB == "" {
		so.monitorDB = pgtest.NewDatabase(t)
		if err := dbutil.Migrate(so.monitorDB, monitor.Migrations, "migrations"); err != nil {
			t.Fatal(err)
		}
	}
	// Warnings and errors go to the test's log, shown when it fails.
	e := &env{}
	log := slog.New(slog.NewTextHandler(testWriter{t, e}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	gdb, err := site.OpenDB(so.siteDB)
	if err != nil {
		t.Fatal(err)
	}
	sqlDB, _ := gdb.DB()
	t.Cleanup(func() { sqlDB.Close() })
	pool, err := pgxpool.New(ctx, so.monitorDB)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := queue.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}

	q := queue.New()
	q.Location, q.ChecksOnly, q.PollOnly = so.opts.Location, so.opts.Probe, so.opts.Probe
	e.db, e.q = pool, q
	topic := pubsub.NewTopic[event.Transition](q, event.Topic, log)
	topic.Subscribe("test-recorder", func(ctx context.Context, ev event.Transition) error {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.transitions = append(e.transitions, ev)
		return nil
	})
	if so.opts.Transport == nil {
		so.opts.Transport = testnet.Transport()
	}
	if so.opts.ConfirmInterval == 0 {
		so.opts.ConfirmInterval = 20 * time.Millisecond
	}
	if so.opts.CheckTimeout == 0 {
		so.opts.CheckTimeout = 2 * time.Second
	}
	e.sites = site.New(gdb)
	e.mon = monitor.New(pool, e.sites, q, topic, so.opts, log)
	// As the program does, the days' partitions are made before checking
	// starts: made meanwhile, a check routed to the default partition
	// fails its partition constraint.
	if _, err := e.mon.History().PreparePartitions(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := e.mon.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.mon.Stop(context.Background()) })
	e.sites.Listen(e.mon)
	srv := api.NewServer(log, "")
	e.sites.Register(srv)
	e.mon.Register(srv)
	if err := q.Start(ctx, pool, log); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		q.Stop(stopCtx)
	})
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	e.URL = ts.URL
	// Cron's first check-all runs once River has elected a leader; waiting
	// for it keeps it from adding checks to the ones a test counts.
	wait.Until(t, 15*time.Second, "cron's first check-all did not run after start-up", func() bool { return e.ticked(t) })
	return e
}

// addSite adds a site through the API and waits for its first check, the
// site-added job, to end, so that it adds nothing to what a test counts.
func (e *env) addSite(t *testing.T, url string) site.Site {
	t.Helper()
	var s site.Site
	e.Call(t, "POST", "/site", fmt.Sprintf(`{"url": %q}`, url), &s)
	e.waitFirstCheck(t, s.ID)
	return s
}

// waitFirstCheck waits for the site-added job of a site to end.
func (e *env) waitFirstCheck(t testing.TB, id int64) {
	t.Helper()
	wait.For(t, 30*time.Second, func() error {
		var done bool
		err := e.db.QueryRow(context.Background(), `SELECT EXISTS (SELECT FROM river_job
			WHERE kind = 'site-added' AND (args->>'site_id')::int = $1 AND finalized_at IS NOT NULL)`, id).Scan(&done)
		if err == nil && !done {
			err = fmt.Errorf("the first check of site %d did not end", id)
		}
		return err
	})
}

func (e *env) check(t *testing.T, id int64) monitor.CheckResponse {
	t.Helper()
	var r monitor.CheckResponse
	e.Call(t, "POST", fmt.Sprintf("/check/%d", id), "", &r)
	return r
}

func (e *env) status(t testing.TB) map[string]status.SiteStatus {
	t.Helper()
	var s struct{ Sites map[string]status.SiteStatus }
	e.Call(t, "GET", "/status", "", &s)
	return s.Sites
}

// recorded returns the transitions delivered so far.
func (e *env) recorded() []event.Transition {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]event.Transition(nil), e.transitions...)
}

// waitTransitions waits until n transitions have been delivered, then a
// little longer to catch any extra, and returns them all.
func (e *env) waitTransitions(t *testing.T, n int) []event.Transition {
	t.Helper()
	wait.Poll(15*time.Second, func() error {
		if len(e.recorded()) < n {
			return errors.New("too few")
		}
		return nil
	})
	time.Sleep(300 * time.Millisecond) // any extra transition would come meanwhile
	return e.recorded()
}

func (e *env) countChecks(t *testing.T, siteID int64) int {
	t.Helper()
	var n int
	if err := e.db.QueryRow(context.Background(), "SELECT count(*) FROM checks WHERE site_id = $1", siteID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// switchable is a site whose answer the test sets: a status code, or 0 for
// a server error that drops the connection.
type switchable struct {
	mu     sync.Mutex
	status int
	hits   int
	script []int // answers to give first, one per request
}

func newSwitchable(t testing.TB, status int) (*switchable, *httptest.Server) {
	s := &switchable{status: status}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv
}

func (s *switchable) set(status int, script ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.script = status, script
}

func (s *switchable) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.hits++
	status := s.status
	if len(s.script) > 0 {
		status, s.script = s.script[0], s.script[1:]
	}
	s.mu.Unlock()
	w.WriteHeader(status)
}

// testWriter sends log lines to the test's log, and keeps them in e.
type testWriter struct {
	t testing.TB
	e *env
}

func (w testWriter) Write(p []byte) (int, error) {
	line := strings.TrimRight(string(p), "\n")
	w.t.Log(line)
	w.e.mu.Lock()
	w.e.warnings = append(w.e.warnings, line)
	w.e.mu.Unlock()
	return len(p), nil
}

// logged returns the warnings and errors logged that contain text.
func (e *env) logged(text string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, l := range e.warnings {
		if strings.Contains(l, text) {
			out = append(out, l)
		}
	}
	return out
}
