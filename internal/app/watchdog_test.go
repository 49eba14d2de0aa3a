package app_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"uptime/internal/apptest"
	"uptime/internal/config"
	"uptime/internal/dbutil"
	"uptime/internal/pgtest"
	"uptime/internal/wait"
)

// TestStalledCheckingTurnsUnreadyAndStopsTheHeartbeat stops every check by
// locking the schedule, as a scheduler stuck on another instance would, and
// watches the monitor notice: /readyz turns 503 and the heartbeat stops;
// once checks complete again, both come back.
func TestStalledCheckingTurnsUnreadyAndStopsTheHeartbeat(t *testing.T) {
	var beats atomic.Int32
	heartbeat := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		beats.Add(1)
	}))
	defer heartbeat.Close()
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer site.Close()

	prefix := pgtest.Prefix(t)
	a := apptest.Start(t, apptest.Setup{Prefix: prefix, Configure: func(c *config.Config) {
		c.CheckEvery = time.Second
		c.HeartbeatURL = heartbeat.URL
	}})
	a.AddSite(t, site.URL)

	waitReady := func(want int, within time.Duration) {
		t.Helper()
		wait.For(t, within, func() error {
			if status, body := a.Do(t, "GET", "/readyz", ""); status != want {
				return fmt.Errorf("GET /readyz = %d %s, want %d", status, body, want)
			}
			return nil
		})
	}
	waitReady(200, 10*time.Second)
	if status, _ := a.Do(t, "GET", "/healthz", ""); status != 200 {
		t.Fatalf("GET /healthz = %d", status)
	}
	wait.For(t, 15*time.Second, func() error {
		if beats.Load() < 2 {
			return fmt.Errorf("%d heartbeats in 15s with a check-all every second, want 2 or more", beats.Load())
		}
		return nil
	})

	ctx := context.Background()
	monitorURL, err := dbutil.DatabaseURL(pgtest.ServerURL(t), prefix+"monitor")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, monitorURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SELECT one FROM scheduler FOR UPDATE"); err != nil {
		t.Fatal(err)
	}
	// Two intervals with no check, and a little for the watchdog to look.
	waitReady(503, 10*time.Second)
	stalledAt := beats.Load()
	time.Sleep(3 * time.Second)
	if n := beats.Load(); n != stalledAt {
		t.Fatalf("%d heartbeats while no check completed, want none", n-stalledAt)
	}

	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	waitReady(200, 10*time.Second)
	wait.For(t, 10*time.Second, func() error {
		if beats.Load() == stalledAt {
			return errors.New("no heartbeat within 10s of checks completing again")
		}
		return nil
	})
}
