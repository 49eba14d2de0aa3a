package monitor_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"uptime/internal/dbutil"
	"uptime/internal/pgtest"
	"uptime/internal/pubsub"
	"uptime/internal/queue"
	"uptime/internal/wait"
	"uptime/monitor"
	"uptime/monitor/event"
	"uptime/monitor/history"
)

// historyService returns a monitor over a fresh database whose jobs do not
// run, so that a test decides when history is maintained and rolled up.
func historyService(t *testing.T, opts monitor.Options) (*monitor.Service, *pgxpool.Pool) {
	t.Helper()
	dbURL := pgtest.NewDatabase(t)
	if err := dbutil.Migrate(dbURL, monitor.Migrations, "migrations"); err != nil {
		t.Fatal(err)
	}
	return serviceOn(t, dbURL, opts)
}

func serviceOn(t *testing.T, dbURL string, opts monitor.Options) (*monitor.Service, *pgxpool.Pool) {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	q := queue.New()
	topic := pubsub.NewTopic[event.Transition](q, event.Topic, log)
	return monitor.New(pool, nil, q, topic, opts, log), pool
}

// rawCheck is a check as a test writes it.
type rawCheck struct {
	site        int64
	at          time.Time
	up          bool
	status      *int
	latency     float64
	degraded    bool
	maintenance bool
}

func insertRaw(t *testing.T, db *pgxpool.Pool, checks []rawCheck) {
	t.Helper()
	rows := make([][]any, len(checks))
	for i, c := range checks {
		rows[i] = []any{c.site, c.up, c.at, c.status, c.latency, c.degraded, c.maintenance}
	}
	if _, err := db.CopyFrom(context.Background(), pgx.Identifier{"checks"},
		[]string{"site_id", "up", "checked_at", "status_code", "latency_ms", "degraded", "maintenance"},
		pgx.CopyFromRows(rows)); err != nil {
		t.Fatal(err)
	}
}

// variedChecks returns checks of sites every step from from to to: up,
// down with and without an answer, degraded, some inside maintenance.
func variedChecks(r *rand.Rand, sites []int64, from, to time.Time, step time.Duration) []rawCheck {
	var out []rawCheck
	for _, id := range sites {
		for at := from.Add(time.Duration(r.Int64N(int64(step)))); at.Before(to); at = at.Add(step) {
			c := rawCheck{site: id, at: at, up: r.IntN(10) > 1, latency: math.Round(r.Float64()*5000) / 10}
			status := 200
			switch {
			case !c.up && r.IntN(2) == 0:
				status = 503
			case !c.up:
				c.latency = 10000 // no answer: timed out
			default:
				c.degraded = r.IntN(5) == 0
			}
			if c.up || status != 200 {
				c.status = &status
			}
			c.maintenance = r.IntN(20) == 0
			out = append(out, c)
		}
	}
	return out
}

// figures is what a rollup holds, computed here from raw checks.
type figures struct {
	checks, up, degraded, mchecks, mup, latCount int
	latSum                                       float64
	latMin, latMax, latP95                       *float64
}

func compute(checks []rawCheck) figures {
	var f figures
	var lat []float64
	for _, c := range checks {
		f.checks++
		if c.up {
			f.up++
		}
		if c.degraded {
			f.degraded++
		}
		if c.maintenance {
			f.mchecks++
			if c.up {
				f.mup++
			}
		}
		if c.status != nil {
			lat = append(lat, c.latency)
			f.latSum += c.latency
		}
	}
	f.latCount = len(lat)
	if len(lat) > 0 {
		slices.Sort(lat)
		mn, mx := lat[0], lat[len(lat)-1]
		// percentile_cont: linear between the two closest ranks.
		pos := 0.95 * float64(len(lat)-1)
		lo := int(math.Floor(pos))
		p := lat[lo]
		if lo+1 < len(lat) {
			p += (pos - float64(lo)) * (lat[lo+1] - lat[lo])
		}
		f.latMin, f.latMax, f.latP95 = &mn, &mx, &p
	}
	return f
}

func readRollup(t *testing.T, db *pgxpool.Pool, table, column string, site int64, start time.Time) (figures, bool) {
	t.Helper()
	var f figures
	err := db.QueryRow(context.Background(), fmt.Sprintf(`SELECT checks, up, degraded, maintenance_checks, maintenance_up,
		latency_count, latency_sum, latency_min, latency_max, latency_p95 FROM %s WHERE site_id = $1 AND %s = $2`, table, column),
		site, start).Scan(&f.checks, &f.up, &f.degraded, &f.mchecks, &f.mup, &f.latCount, &f.latSum, &f.latMin, &f.latMax, &f.latP95)
	if err == pgx.ErrNoRows {
		return f, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return f, true
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-6*math.Max(1, math.Abs(a)) }

// nearShown compares a figure as responses give it, rounded to three
// decimals, with the exact one.
func nearShown(got, exact *float64) bool {
	if got == nil || exact == nil {
		return got == nil && exact == nil
	}
	// Half the last decimal, and what the recent days' float32 figures
	// lose before they are rounded.
	return math.Abs(*got-*exact) <= 0.0005+1e-6*math.Abs(*exact) && *got == math.Round(*got*1000)/1000
}

func nearPtr(a, b *float64) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return near(*a, *b)
}

func (f figures) equal(g figures) bool {
	return f.checks == g.checks && f.up == g.up && f.degraded == g.degraded && f.mchecks == g.mchecks &&
		f.mup == g.mup && f.latCount == g.latCount && near(f.latSum, g.latSum) &&
		nearPtr(f.latMin, g.latMin) && nearPtr(f.latMax, g.latMax) && nearPtr(f.latP95, g.latP95)
}

func (f figures) String() string {
	p := func(v *float64) string {
		if v == nil {
			return "nil"
		}
		return fmt.Sprint(*v)
	}
	return fmt.Sprintf("{checks %d up %d degraded %d maintenance %d/%d latency n=%d sum=%g min=%s max=%s p95=%s}",
		f.checks, f.up, f.degraded, f.mchecks, f.mup, f.latCount, f.latSum, p(f.latMin), p(f.latMax), p(f.latP95))
}

// within returns the checks from start to end.
func within(checks []rawCheck, site int64, start, end time.Time) []rawCheck {
	var out []rawCheck
	for _, c := range checks {
		if c.site == site && !c.at.Before(start) && c.at.Before(end) {
			out = append(out, c)
		}
	}
	return out
}

func partitionOf(t *testing.T, db *pgxpool.Pool, site int64, at time.Time) string {
	t.Helper()
	var name string
	if err := db.QueryRow(context.Background(), "SELECT tableoid::regclass::text FROM checks WHERE site_id = $1 AND checked_at = $2",
		site, at).Scan(&name); err != nil {
		t.Fatalf("find the check of site %d at %s: %v", site, at, err)
	}
	return name
}

func TestChecksLandInTheirDaysPartition(t *testing.T) {
	mon, db := historyService(t, monitor.Options{})
	ctx := context.Background()
	now := time.Now().UTC()
	if _, err := mon.History().PreparePartitions(ctx, now); err != nil {
		t.Fatal(err)
	}
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	far := today.AddDate(0, 0, 10)
	// A session in a time zone half an hour off UTC must not move a day.
	if _, err := db.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{dbName(t, db)}.Sanitize()+" SET TimeZone = 'Asia/Kolkata'"); err != nil {
		t.Fatal(err)
	}
	db.Reset()
	cases := []struct {
		at   time.Time
		want string
	}{
		{today.Add(-time.Microsecond), "checks_p" + today.AddDate(0, 0, -1).Format("20060102")}, // late, just before midnight UTC
		{today, "checks_p" + today.Format("20060102")},
		{today.Add(24*time.Hour - time.Microsecond), "checks_p" + today.Format("20060102")},
		{today.AddDate(0, 0, 1), "checks_p" + today.AddDate(0, 0, 1).Format("20060102")},
		{far.Add(time.Hour), "checks_default"}, // beyond the days made ahead
	}
	for i, c := range cases {
		insertRaw(t, db, []rawCheck{{site: int64(i + 1), at: c.at, up: true}})
		if got := partitionOf(t, db, int64(i+1), c.at); got != c.want {
			t.Errorf("a check at %s landed in %s, want %s", c.at.Format(time.RFC3339Nano), got, c.want)
		}
	}
	// When its day's partition is made, the stray check moves into it.
	if _, err := mon.History().PreparePartitions(ctx, far); err != nil {
		t.Fatal(err)
	}
	if got, want := partitionOf(t, db, int64(len(cases)), far.Add(time.Hour)), "checks_p"+far.Format("20060102"); got != want {
		t.Errorf("after making its partition, the stray check is in %s, want %s", got, want)
	}
	var total int
	db.QueryRow(ctx, "SELECT count(*) FROM checks").Scan(&total)
	if total != len(cases) {
		t.Errorf("%d checks after the moves, want %d", total, len(cases))
	}
}

func dbName(t *testing.T, db *pgxpool.Pool) string {
	var name string
	if err := db.QueryRow(context.Background(), "SELECT current_database()").Scan(&name); err != nil {
		t.Fatal(err)
	}
	return name
}

func TestRetentionDropsWholeDaysAndNothingNewer(t *testing.T) {
	mon, db := historyService(t, monitor.Options{Retention: 3 * 24 * time.Hour, CompactedRetention: -1})
	ctx := context.Background()
	now := time.Now().UTC()
	// Eight days of partitions, a check every hour.
	for d := 8; d >= 0; d-- {
		if _, err := mon.History().PreparePartitions(ctx, now.AddDate(0, 0, -d)); err != nil {
			t.Fatal(err)
		}
	}
	start := now.AddDate(0, 0, -8).Truncate(time.Hour)
	var checks []rawCheck
	for at := start; at.Before(now); at = at.Add(time.Hour) {
		checks = append(checks, rawCheck{site: 1, at: at, up: true})
	}
	insertRaw(t, db, checks)

	// Nothing is rolled up yet: nothing is dropped.
	m, err := mon.History().MaintainHistory(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Dropped) != 0 || m.Deleted != 0 {
		t.Fatalf("before any roll-up, maintenance dropped %v and deleted %d rows", m.Dropped, m.Deleted)
	}
	if _, err := mon.History().Rollup(ctx, now); err != nil {
		t.Fatal(err)
	}
	m, err = mon.History().MaintainHistory(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	cutoff := now.Add(-3 * 24 * time.Hour)
	var want []string
	// The first partition made is the day before the first check's.
	for d := start.AddDate(0, 0, -1); ; d = d.AddDate(0, 0, 1) {
		day := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC)
		if day.AddDate(0, 0, 1).After(cutoff) {
			break
		}
		want = append(want, "checks_p"+day.Format("20060102"))
	}
	if !slices.Equal(m.Dropped, want) {
		t.Fatalf("dropped %v, want %v", m.Dropped, want)
	}
	if m.Deleted != 0 {
		t.Errorf("%d rows deleted one by one; whole days should go", m.Deleted)
	}
	var kept, oldest int
	var firstKept time.Time
	db.QueryRow(ctx, "SELECT count(*), min(checked_at) FROM checks").Scan(&kept, &firstKept)
	for _, c := range checks {
		if c.at.Compare(firstKept) >= 0 {
			oldest++
		}
	}
	if kept != oldest || firstKept.After(cutoff) {
		t.Errorf("%d checks kept from %s, want %d (every check of the days not past retention, %s)", kept, firstKept, oldest, cutoff)
	}
	// The rollups of the dropped days stay.
	var days int
	db.QueryRow(ctx, "SELECT count(*) FROM rollup_day WHERE site_id = 1").Scan(&days)
	if days < 8 {
		t.Errorf("%d daily rollups after dropping raw days, want 8 or more", days)
	}
}

func TestRollupsAreExact(t *testing.T) {
	mon, db := historyService(t, monitor.Options{})
	ctx := context.Background()
	now := time.Now().UTC()
	if _, err := mon.History().PreparePartitions(ctx, now.AddDate(0, 0, -2)); err != nil {
		t.Fatal(err)
	}
	if _, err := mon.History().PreparePartitions(ctx, now); err != nil {
		t.Fatal(err)
	}
	// From 30 hours ago, across midnight UTC, three sites every 47 s.
	r := rand.New(rand.NewPCG(1, 2))
	sites := []int64{1, 2, 3}
	from := now.Add(-30 * time.Hour).Truncate(time.Hour)
	checks := variedChecks(r, sites, from, now.Add(-5*time.Minute), 47*time.Second)
	insertRaw(t, db, checks)

	res, err := mon.History().Rollup(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	closed := now.Add(-2 * time.Minute).Truncate(time.Hour)
	if wantHours := int(closed.Sub(from) / time.Hour); res.Hours != wantHours {
		t.Errorf("rolled up %d hours, want %d", res.Hours, wantHours)
	}
	for _, id := range sites {
		for h := from; h.Before(closed); h = h.Add(time.Hour) {
			want := compute(within(checks, id, h, h.Add(time.Hour)))
			got, ok := readRollup(t, db, "rollup_hour", "hour", id, h)
			if !ok || !got.equal(want) {
				t.Fatalf("site %d, hour %s: rollup %v (found %v), raw %v", id, h.Format(time.RFC3339), got, ok, want)
			}
		}
		day := time.Date(from.Year(), from.Month(), from.Day(), 0, 0, 0, 0, time.UTC)
		if day.AddDate(0, 0, 1).After(closed) {
			continue
		}
		want := compute(within(checks, id, day, day.AddDate(0, 0, 1)))
		got, ok := readRollup(t, db, "rollup_day", "day", id, day)
		if !ok || !got.equal(want) {
			t.Fatalf("site %d, day %s: rollup %v (found %v), raw %v", id, day.Format(time.DateOnly), got, ok, want)
		}
	}
	// A second run finds nothing more to do.
	if res, err := mon.History().Rollup(ctx, now); err != nil || res.Hours+res.Days+res.Late != 0 {
		t.Fatalf("a second roll-up did %+v, err %v; want nothing", res, err)
	}
}

func TestLateChecksAreRolledUpAgain(t *testing.T) {
	mon, db := historyService(t, monitor.Options{})
	ctx := context.Background()
	now := time.Now().UTC()
	for _, at := range []time.Time{now.AddDate(0, 0, -2), now} {
		if _, err := mon.History().PreparePartitions(ctx, at); err != nil {
			t.Fatal(err)
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	from := now.Add(-26 * time.Hour).Truncate(time.Hour)
	checks := variedChecks(r, []int64{7}, from, now.Add(-3*time.Hour), time.Minute)
	insertRaw(t, db, checks)
	if _, err := mon.History().Rollup(ctx, now); err != nil {
		t.Fatal(err)
	}
	// Checks of a closed hour and of a rolled-up day arrive after them.
	late := []rawCheck{
		{site: 7, at: from.Add(90 * time.Minute), up: false},
		{site: 7, at: now.Add(-4*time.Hour + time.Second), up: true, status: ptr(200), latency: 99999},
	}
	insertRaw(t, db, late)
	checks = append(checks, late...)
	res, err := mon.History().Rollup(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if res.Late != 2 {
		t.Errorf("rolled up %d site-hours again, want 2", res.Late)
	}
	for _, c := range late {
		h := c.at.Truncate(time.Hour)
		want := compute(within(checks, 7, h, h.Add(time.Hour)))
		if got, _ := readRollup(t, db, "rollup_hour", "hour", 7, h); !got.equal(want) {
			t.Errorf("hour %s after a late check: rollup %v, raw %v", h.Format(time.RFC3339), got, want)
		}
		day := time.Date(h.Year(), h.Month(), h.Day(), 0, 0, 0, 0, time.UTC)
		if got, ok := readRollup(t, db, "rollup_day", "day", 7, day); ok {
			if want := compute(within(checks, 7, day, day.AddDate(0, 0, 1))); !got.equal(want) {
				t.Errorf("day %s after a late check: rollup %v, raw %v", day.Format(time.DateOnly), got, want)
			}
		}
	}
	// The status page's bars see the late checks too.
	days, err := mon.DaysOf(ctx, []int64{7}, 3, now)
	if err != nil {
		t.Fatal(err)
	}
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	for i, d := range days[7] {
		day := today.AddDate(0, 0, i-2)
		in := within(checks, 7, day, day.AddDate(0, 0, 1))
		f := compute(in)
		if d.Checks != int64(f.checks-f.mchecks) || !nearShown(d.Uptime, rawUptime(in, day)) {
			t.Errorf("day %s after late checks: %d checks, uptime %v; raw %d checks, %v", d.Date, d.Checks, deref(d.Uptime),
				f.checks-f.mchecks, deref(rawUptime(in, day)))
		}
	}
}

func ptr[T any](v T) *T { return &v }

// Two instances rolling up at once, while checks keep arriving up to the
// very end of the hour being closed, count each check of each hour once.
func TestTwoInstancesRollingUpAtOnceCountEachHourOnce(t *testing.T) {
	monA, db := historyService(t, monitor.Options{})
	monB, _ := serviceOn(t, db.Config().ConnString(), monitor.Options{})
	ctx := context.Background()
	now := time.Now().UTC()
	for _, at := range []time.Time{now.AddDate(0, 0, -3), now} {
		if _, err := monA.History().PreparePartitions(ctx, at); err != nil {
			t.Fatal(err)
		}
	}
	from := now.Add(-48 * time.Hour).Truncate(time.Hour)
	r := rand.New(rand.NewPCG(5, 6))
	checks := variedChecks(r, []int64{1, 2, 3, 4}, from, now.Add(-3*time.Hour), 2*time.Minute)
	insertRaw(t, db, checks)

	// Everything up to the last hour to close is rolled up first, so that
	// this hour is rolled up right after it closes.
	closed := now.Add(-2 * time.Minute).Truncate(time.Hour)
	if _, err := monA.History().Rollup(ctx, closed.Add(-time.Hour+3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	// Writers add checks to that hour while it closes, each in a
	// transaction that stays open a moment after the check is in.
	var (
		mu      sync.Mutex
		written []rawCheck
		stop    = make(chan struct{})
		wg      sync.WaitGroup
	)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				// A site per check: a check that the roll-up missed, and
				// that was not marked late, stays missing.
				c := rawCheck{site: int64(1000 + 4*i + w), at: closed.Add(-time.Duration(i+1) * time.Microsecond), up: i%3 != 0}
				err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
					_, err := tx.Exec(ctx, "INSERT INTO checks (site_id, up, checked_at) VALUES ($1, $2, $3)", c.site, c.up, c.at)
					time.Sleep(time.Duration(rand.IntN(20)) * time.Millisecond)
					return err
				})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				written = append(written, c)
				mu.Unlock()
			}
		}()
	}
	writes := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(written)
	}
	wait.Until(t, 10*time.Second, "the writers wrote nothing", func() bool { return writes() >= 8 })
	var rollers sync.WaitGroup
	for _, m := range []*monitor.Service{monA, monB, monA, monB} {
		rollers.Add(1)
		go func() {
			defer rollers.Done()
			if _, err := m.History().Rollup(ctx, now); err != nil {
				t.Error(err)
			}
		}()
	}
	rollers.Wait()
	after := writes()
	wait.Until(t, 10*time.Second, "the writers wrote nothing after the roll-ups", func() bool { return writes() >= after+8 })
	close(stop)
	wg.Wait()
	// The checks that came after the close are late: one more run takes them.
	if _, err := monB.History().Rollup(ctx, now); err != nil {
		t.Fatal(err)
	}
	all := append(checks, written...)
	var raw, rolled int
	db.QueryRow(ctx, "SELECT count(*) FROM checks WHERE checked_at < $1", closed).Scan(&raw)
	db.QueryRow(ctx, "SELECT sum(checks) FROM rollup_hour").Scan(&rolled)
	if raw != len(all) || rolled != raw {
		t.Fatalf("%d checks written before the close, %d in the table, %d in the hourly rollups", len(all), raw, rolled)
	}
	var dayRolled, dayRaw int
	var daysUntil time.Time
	db.QueryRow(ctx, "SELECT days_until FROM rollup_done").Scan(&daysUntil)
	db.QueryRow(ctx, "SELECT sum(checks) FROM rollup_day").Scan(&dayRolled)
	db.QueryRow(ctx, "SELECT count(*) FROM checks WHERE checked_at < $1", daysUntil).Scan(&dayRaw)
	if dayRolled != dayRaw {
		t.Fatalf("%d checks before %s, %d in the daily rollups", dayRaw, daysUntil, dayRolled)
	}
	for _, c := range written {
		h := closed.Add(-time.Hour)
		if got, _ := readRollup(t, db, "rollup_hour", "hour", c.site, h); !got.equal(compute([]rawCheck{c})) {
			t.Errorf("site %d's check in the hour closed under writes: rollup %v", c.site, got)
		}
	}
	// The days not rolled up are counted as checks arrive, each check
	// once, by concurrent writers too.
	var wrong int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM (
			SELECT site_id, date_trunc('day', checked_at, 'UTC') AS day, count(*) AS n,
				count(*) FILTER (WHERE up) AS up FROM checks GROUP BY 1, 2) r
		FULL JOIN (SELECT * FROM checks_day WHERE day >= $1) l USING (site_id, day)
		WHERE COALESCE(r.day, l.day) >= $1 AND (r.n IS DISTINCT FROM l.checks OR r.up IS DISTINCT FROM l.up)`,
		daysUntil).Scan(&wrong); err != nil || wrong != 0 {
		t.Errorf("%d site-days counted as checks arrived differ from their raw checks (%v)", wrong, err)
	}
	t.Logf("%d checks written while the hour closed", len(written))
}

// rawUptime computes uptime over checks from start on, leaving maintenance
// out, as a percentage; nil without checks.
func rawUptime(checks []rawCheck, start time.Time) *float64 {
	var n, up int
	for _, c := range checks {
		if !c.at.Before(start) && !c.maintenance {
			n++
			if c.up {
				up++
			}
		}
	}
	if n == 0 {
		return nil
	}
	u := 100 * float64(up) / float64(n)
	return &u
}

func TestUptimeWindowsAndDaysAgreeWithRawChecks(t *testing.T) {
	mon, db := historyService(t, monitor.Options{})
	ctx := context.Background()
	now := time.Now().UTC()
	for d := 40; d >= 0; d-- {
		if _, err := mon.History().PreparePartitions(ctx, now.AddDate(0, 0, -d)); err != nil {
			t.Fatal(err)
		}
	}
	r := rand.New(rand.NewPCG(7, 8))
	from := now.AddDate(0, 0, -40)
	checks := variedChecks(r, []int64{1}, from, now.Add(-time.Second), 10*time.Minute)
	// A day without any check in the middle.
	gap := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, -12)
	checks = slices.DeleteFunc(checks, func(c rawCheck) bool { return !c.at.Before(gap) && c.at.Before(gap.AddDate(0, 0, 1)) })
	insertRaw(t, db, checks)
	if _, err := mon.History().Rollup(ctx, now); err != nil {
		t.Fatal(err)
	}
	// Checks of the present hour are not rolled up: they count from raw.
	hour := now.Truncate(time.Hour)
	up, err := mon.Uptime(ctx, 1, now)
	if err != nil {
		t.Fatal(err)
	}
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	for _, w := range []struct {
		name  string
		got   *float64
		start time.Time
	}{
		{"24h", up.Day, hour.Add(-23 * time.Hour)},
		{"7d", up.Week, hour.Add(-167 * time.Hour)},
		{"30d", up.Month, today.AddDate(0, 0, -29)},
		{"90d", up.Quarter, today.AddDate(0, 0, -89)},
		{"365d", up.Year, today.AddDate(0, 0, -364)},
	} {
		if want := rawUptime(checks, w.start); !nearShown(w.got, want) {
			t.Errorf("uptime %s: %v, from raw checks %v", w.name, deref(w.got), deref(want))
		}
	}

	days, err := mon.History().Days(ctx, 1, 90, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(days.Days) != 90 || days.Days[89].Date != today.Format(time.DateOnly) {
		t.Fatalf("%d days ending %s, want 90 ending today", len(days.Days), days.Days[len(days.Days)-1].Date)
	}
	for i, d := range days.Days {
		day := today.AddDate(0, 0, i-89)
		in := within(checks, 1, day, day.AddDate(0, 0, 1))
		f := compute(in)
		wantUp := rawUptime(in, day)
		var wantLat *float64
		if f.latCount > 0 {
			wantLat = ptr(f.latSum / float64(f.latCount))
		}
		if d.Date != day.Format(time.DateOnly) || int(d.Checks) != f.checks-f.mchecks ||
			!nearShown(d.Uptime, wantUp) || !nearShown(d.LatencyMS, wantLat) {
			t.Errorf("day %s: %s %d checks, uptime %v, latency %v; from raw checks %d, %v, %v",
				day.Format(time.DateOnly), d.Date, d.Checks, deref(d.Uptime), deref(d.LatencyMS),
				f.checks-f.mchecks, deref(wantUp), deref(wantLat))
		}
	}
	if d := days.Days[89-12]; d.Uptime != nil || d.Checks != 0 {
		t.Errorf("the day without checks shows %+v, want no uptime", d)
	}
	// A status page's bars, from the recent days' rows: the same days,
	// site by site.
	var recent int
	if err := db.QueryRow(ctx, "SELECT count(*) FROM rollup_recent WHERE site_id = 1").Scan(&recent); err != nil || recent != 1 {
		t.Fatalf("site 1 has %d rows of recent days (%v), want 1", recent, err)
	}
	many, err := mon.DaysOf(ctx, []int64{1, 2}, 90, now)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(many[1], days.Days, sameDay) {
		t.Errorf("the days of site 1 among others differ from its own")
	}
	if len(many[2]) != 90 || many[2][89].Uptime != nil {
		t.Errorf("a site without checks has %d days, today %+v; want 90 without uptime", len(many[2]), many[2][89])
	}
	// Longer than the recent days' rows, the series comes from the daily
	// rollups: the same days.
	long, err := mon.History().Days(ctx, 1, 120, now)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(long.Days[30:], days.Days, sameDay) {
		t.Errorf("the last 90 of 120 days differ from the 90 days")
	}
}

func sameDay(a, b history.DayRecord) bool {
	return a.Date == b.Date && a.Checks == b.Checks && nearPtr(a.Uptime, b.Uptime) && nearPtr(a.LatencyMS, b.LatencyMS)
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}
