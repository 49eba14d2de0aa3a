package monitor_test

import (
	"context"
	"io/fs"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"uptime/internal/dbutil"
	"uptime/internal/pgtest"
	"uptime/monitor"
	"uptime/monitor/history"
)

// migrationsBefore returns the monitor's migrations numbered below n.
func migrationsBefore(t *testing.T, n int) fs.FS {
	t.Helper()
	return pgtest.MigrationsBefore(t, monitor.Migrations, "migrations", n)
}

// An existing database of the version before partitioning keeps every
// check through the upgrade, rolls them up, and answers the same uptime.
// legacyDatabase makes a database of the version before partitioning with
// 20 days of checks of two sites, then upgrades it; it returns its URL, the
// time the checks end, and the checks.
func legacyDatabase(t *testing.T, seed uint64) (string, time.Time, []rawCheck) {
	t.Helper()
	dbURL := pgtest.NewDatabase(t)
	if err := dbutil.Migrate(dbURL, migrationsBefore(t, 4), "migrations"); err != nil {
		t.Fatal(err)
	}
	_, old := serviceOn(t, dbURL, monitor.Options{})
	ctx := context.Background()
	now := time.Now().UTC()
	r := rand.New(rand.NewPCG(seed, seed+1))
	checks := variedChecks(r, []int64{1, 2}, now.AddDate(0, 0, -20), now.Add(-time.Second), 15*time.Minute)
	for i, c := range checks {
		// The old table has no maintenance column.
		checks[i].maintenance = false
		if _, err := old.Exec(ctx, `INSERT INTO checks (site_id, up, checked_at, status_code, latency_ms, degraded)
			VALUES ($1, $2, $3, $4, $5, $6)`, c.site, c.up, c.at, c.status, c.latency, c.degraded); err != nil {
			t.Fatal(err)
		}
	}
	old.Close()
	if err := dbutil.Migrate(dbURL, monitor.Migrations, "migrations"); err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	return dbURL, now, checks
}

// rollUpAll rolls up until nothing is left, and returns what it rolled.
func rollUpAll(t testing.TB, h *history.History, now time.Time) history.RollupResult {
	t.Helper()
	var all history.RollupResult
	for {
		res, err := h.Rollup(context.Background(), now)
		if err != nil {
			t.Fatal(err)
		}
		all.Hours, all.Days = all.Hours+res.Hours, all.Days+res.Days
		if res.Hours+res.Days == 0 {
			return all
		}
	}
}

func TestUpgradeKeepsEveryCheckAndItsUptime(t *testing.T) {
	dbURL, now, checks := legacyDatabase(t, 9)
	ctx := context.Background()
	// Raw checks kept --retention, as without packing.
	mon, db := serviceOn(t, dbURL, monitor.Options{CompactedRetention: -1})
	var n int
	var parts string
	db.QueryRow(ctx, "SELECT count(*), string_agg(DISTINCT tableoid::regclass::text, ',') FROM checks").Scan(&n, &parts)
	if n != len(checks) || parts != "checks_legacy" {
		t.Fatalf("after the upgrade: %d checks in %q, want %d in checks_legacy", n, parts, len(checks))
	}
	if _, err := mon.History().PreparePartitions(ctx, now); err != nil {
		t.Fatal(err)
	}
	// New checks go to the days after the old table's range, which ends
	// at the end of the day after the upgrade.
	var until time.Time
	if err := db.QueryRow(ctx, "SELECT until FROM checks_legacy_until").Scan(&until); err != nil {
		t.Fatal(err)
	}
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	if !until.Equal(today.AddDate(0, 0, 2)) {
		t.Errorf("the old checks' partition ends at %s, want %s", until, today.AddDate(0, 0, 2))
	}
	if _, err := mon.History().PreparePartitions(ctx, until); err != nil {
		t.Fatal(err)
	}
	later := until.Add(time.Hour)
	insertRaw(t, db, []rawCheck{{site: 3, at: later, up: true}})
	if got := partitionOf(t, db, 3, later); !strings.HasPrefix(got, "checks_p") {
		t.Errorf("a check after the upgrade landed in %s, want a day's partition", got)
	}
	if _, err := db.Exec(ctx, "DELETE FROM checks WHERE site_id = 3"); err != nil {
		t.Fatal(err)
	}

	rollUpAll(t, mon.History(), now)
	var rolled int
	db.QueryRow(ctx, "SELECT sum(checks) FROM rollup_hour").Scan(&rolled)
	closed := now.Add(-2 * time.Minute).Truncate(time.Hour)
	var before int
	for _, c := range checks {
		if c.at.Before(closed) {
			before++
		}
	}
	if rolled != before {
		t.Errorf("%d checks in hourly rollups, want the %d old checks of closed hours", rolled, before)
	}
	for _, id := range []int64{1, 2} {
		up, err := mon.Uptime(ctx, id, now)
		if err != nil {
			t.Fatal(err)
		}
		var mine []rawCheck
		for _, c := range checks {
			if c.site == id {
				mine = append(mine, c)
			}
		}
		if want := rawUptime(mine, now.Truncate(time.Hour).Add(-167*time.Hour)); !nearShown(up.Week, want) {
			t.Errorf("site %d: 7d uptime %v after the upgrade, from raw checks %v", id, deref(up.Week), deref(want))
		}
		if want := rawUptime(mine, today.AddDate(0, 0, -29)); !nearShown(up.Month, want) {
			t.Errorf("site %d: 30d uptime %v after the upgrade, from raw checks %v", id, deref(up.Month), deref(want))
		}
		// Today was partly counted before the upgrade: its bar comes from
		// the raw checks until tomorrow.
		days, err := mon.DaysOf(ctx, []int64{id}, 30, now)
		if err != nil {
			t.Fatal(err)
		}
		for i, d := range days[id] {
			day := today.AddDate(0, 0, i-29)
			in := within(mine, id, day, day.AddDate(0, 0, 1))
			if d.Checks != int64(len(in)) || !nearShown(d.Uptime, rawUptime(in, day)) {
				t.Errorf("site %d, day %s after the upgrade: %d checks, uptime %v; raw %d, %v",
					id, d.Date, d.Checks, deref(d.Uptime), len(in), deref(rawUptime(in, day)))
			}
		}
	}

	// Past retention, the old rows go one by one, then the old table whole.
	m, err := mon.History().MaintainHistory(ctx, now.AddDate(0, 0, 15))
	if err != nil {
		t.Fatal(err)
	}
	if m.Deleted == 0 {
		t.Errorf("maintenance 15 days on deleted no old row past 30 days' retention")
	}
	if _, err := mon.History().Rollup(ctx, now.AddDate(0, 0, 40)); err != nil {
		t.Fatal(err)
	}
	m, err = mon.History().MaintainHistory(ctx, now.AddDate(0, 0, 40))
	if err != nil {
		t.Fatal(err)
	}
	var legacy bool
	db.QueryRow(ctx, "SELECT to_regclass('checks_legacy') IS NOT NULL").Scan(&legacy)
	if legacy {
		t.Errorf("checks_legacy still exists 40 days on; maintenance dropped %v", m.Dropped)
	}
}

// An existing database of the version before partitioning has its old
// checks packed, a day at a time, with every reader's answers unchanged;
// the old table goes once its days are all packed.
func TestUpgradePacksTheOldChecks(t *testing.T) {
	dbURL, now, checks := legacyDatabase(t, 11)
	ctx := context.Background()
	mon, db := serviceOn(t, dbURL, monitor.Options{})
	rollUpAll(t, mon.History(), now)
	sites := []int64{1, 2}
	before := answers(t, mon.History(), sites, now)
	res, err := mon.History().Compact(ctx, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	yesterday := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, -1)
	var want int64
	for _, c := range checks {
		if c.at.Before(yesterday) {
			want++
		}
	}
	if res.Checks != want || res.Days < 18 {
		t.Fatalf("packed %+v; want the %d checks of the days before yesterday", res, want)
	}
	after := answers(t, mon.History(), sites, now)
	for key, want := range before {
		if after[key] != want {
			t.Errorf("%s changed when packed:\nbefore %.600s\nafter  %.600s", key, want, after[key])
		}
	}
	// Days on, the rest is packed too and the old table goes.
	later := now.AddDate(0, 0, 5)
	if _, err := mon.History().Rollup(ctx, later); err != nil {
		t.Fatal(err)
	}
	if res, err = mon.History().Compact(ctx, later, time.Hour); err != nil {
		t.Fatal(err)
	}
	var legacy bool
	var packed int64
	db.QueryRow(ctx, "SELECT to_regclass('checks_legacy') IS NOT NULL").Scan(&legacy)
	db.QueryRow(ctx, "SELECT sum(checks) FROM checks_packed").Scan(&packed)
	if legacy || packed != int64(len(checks)) {
		t.Errorf("five days on: checks_legacy there %v, %d checks packed of %d; the run did %+v", legacy, packed, len(checks), res)
	}
}
