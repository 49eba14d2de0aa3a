package watchdog_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"uptime/internal/dbutil"
	"uptime/internal/pgtest"
	"uptime/internal/wait"
	"uptime/monitor"
	"uptime/monitor/watchdog"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// With sites due every second and no check completing, the watchdog says
// checking has stopped after two intervals and pings no heartbeat; once
// checks complete again it clears, and the heartbeat is pinged. What it
// calls while checking is healthy is not called while it is stalled. When
// checks stop again, it says so again.
func TestStallAndHeartbeat(t *testing.T) {
	ctx := context.Background()
	dbURL := pgtest.NewDatabase(t)
	if err := dbutil.Migrate(dbURL, monitor.Migrations, "migrations"); err != nil {
		t.Fatal(err)
	}
	db, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	var beats atomic.Int64
	heartbeat := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { beats.Add(1) }))
	t.Cleanup(heartbeat.Close)
	if _, err := db.Exec(ctx, `INSERT INTO monitored (site_id, url, settings, version, defaults, interval_ms, phase_ms, budget_ms)
		VALUES (1, 'https://a.example/', '{}', 1, '', 1000, 0, 1000)`); err != nil {
		t.Fatal(err)
	}

	w := watchdog.New(db, time.Second, heartbeat.URL, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if stalled, _ := w.Stalled(); stalled {
		t.Fatal("stalled before it looked")
	}
	var healthy atomic.Int64
	w.OnHealthy(100*time.Millisecond, func(context.Context) { healthy.Add(1) })
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Run(runCtx)
	}()
	t.Cleanup(func() { stop(); <-done })

	started := time.Now()
	wait.Until(t, 10*time.Second, "no stall seen with no check completing", func() bool {
		stalled, _ := w.Stalled()
		return stalled
	})
	if took := time.Since(started); took < 2*time.Second {
		t.Errorf("stalled after %s, before two intervals of 1s had passed", took)
	}
	if _, why := w.Stalled(); !strings.HasPrefix(why, "no check has completed since ") {
		t.Errorf("why: %q", why)
	}
	if n := beats.Load(); n != 0 {
		t.Errorf("%d heartbeats while no check completed", n)
	}
	calls := healthy.Load()
	time.Sleep(1500 * time.Millisecond)
	if n := healthy.Load(); n != calls {
		t.Errorf("called %d times as healthy while stalled", n-calls)
	}

	// Checks complete again.
	if _, err := db.Exec(ctx, `INSERT INTO site_state (site_id, url, up, checked_at) VALUES (1, 'https://a.example/', true, now())`); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, 10*time.Second, "the stall did not clear once a check completed", func() bool {
		stalled, _ := w.Stalled()
		return !stalled
	})
	wait.Until(t, 10*time.Second, "no heartbeat once checks completed", func() bool { return beats.Load() > 0 })
	wait.Until(t, 10*time.Second, "not called as healthy once checks completed", func() bool { return healthy.Load() > calls })

	// Checks stop again: looks that found a recent check give way to a
	// count, which sees the stall.
	wait.Until(t, 10*time.Second, "no stall seen once checks stopped again", func() bool {
		stalled, _ := w.Stalled()
		return stalled
	})
	var last time.Time
	if err := db.QueryRow(ctx, `SELECT checked_at FROM site_state`).Scan(&last); err != nil {
		t.Fatal(err)
	}
	if idle := time.Since(last); idle < 2*time.Second {
		t.Errorf("stalled again %s after the last check, before two intervals of 1s", idle)
	}
}
