package monitor_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"uptime/internal/dbutil"
	"uptime/internal/pgtest"
	"uptime/internal/wait"
	"uptime/monitor"
	"uptime/site"
)

func TestTwoInstancesRunCheckAllOncePerTick(t *testing.T) {
	siteDB, monitorDB := pgtest.NewDatabase(t), pgtest.NewDatabase(t)
	if err := dbutil.Migrate(siteDB, site.Migrations, "migrations"); err != nil {
		t.Fatal(err)
	}
	if err := dbutil.Migrate(monitorDB, monitor.Migrations, "migrations"); err != nil {
		t.Fatal(err)
	}
	_, srv := newSwitchable(t, 200)
	opts := monitor.Options{CheckEvery: time.Second}
	a := setup(t, setupOpts{opts: opts, siteDB: siteDB, monitorDB: monitorDB})
	setup(t, setupOpts{opts: opts, siteDB: siteDB, monitorDB: monitorDB})
	s := a.addSite(t, srv.URL)

	// Count from the first run: electing a leader can take a few seconds.
	ctx := context.Background()
	var first time.Time
	wait.For(t, 30*time.Second, func() error {
		err := a.db.QueryRow(ctx, "SELECT min(created_at) FROM river_job WHERE kind = 'check-all'").Scan(&first)
		if err == nil {
			return nil
		}
		return errors.New("no check-all run within 30s")
	})
	time.Sleep(6 * time.Second)
	var runs int
	var elapsed time.Duration
	if err := a.db.QueryRow(ctx, "SELECT count(*), now() - $1 FROM river_job WHERE kind = 'check-all'",
		first).Scan(&runs, &elapsed); err != nil {
		t.Fatal(err)
	}
	ticks := int(elapsed/time.Second) + 1
	// One run per tick, plus the one at start; twice as many would mean
	// both instances ran cron.
	if runs < ticks-2 || runs > ticks+2 {
		t.Fatalf("%d check-all runs in %s with two instances, want about %d (one per tick)", runs, elapsed.Round(time.Millisecond), ticks)
	}
	// Each run checks the site once; the site-added check comes on top.
	if n := a.countChecks(t, s.ID); n > runs+2 {
		t.Fatalf("%d checks of the site for %d check-all runs: some tick checked it twice", n, runs)
	}
	var overlapping int
	if err := a.db.QueryRow(context.Background(), `SELECT count(*) FROM river_job j1 JOIN river_job j2
		ON j1.id < j2.id AND j1.kind = 'check-all' AND j2.kind = 'check-all'
		AND j2.attempted_at < j1.finalized_at AND j1.attempted_at < j2.finalized_at`).Scan(&overlapping); err != nil {
		t.Fatal(err)
	}
	if overlapping != 0 {
		t.Fatalf("%d pairs of check-all runs overlapped", overlapping)
	}
}
