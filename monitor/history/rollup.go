package history

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// rollupLock is the advisory lock every statement that adds checks holds
// shared (see migration 4), and closing an hour takes exclusively.
const rollupLock = 0x75705f61 // "up_a"

// rollupGrace is how long after its end an hour closes: a check is
// recorded after it ends, up to its timeout later. A check of a closed hour
// that arrives even later marks the hour to be rolled up again.
const rollupGrace = 2 * time.Minute

// rollupAggregates computes a rollup's figures from the raw checks of each
// site. Latency is over the checks that got an HTTP answer.
const rollupAggregates = `count(*), count(*) FILTER (WHERE up), count(*) FILTER (WHERE degraded),
	count(*) FILTER (WHERE maintenance), count(*) FILTER (WHERE maintenance AND up),
	count(latency_ms) FILTER (WHERE status_code IS NOT NULL),
	COALESCE(sum(latency_ms) FILTER (WHERE status_code IS NOT NULL), 0),
	min(latency_ms) FILTER (WHERE status_code IS NOT NULL),
	max(latency_ms) FILTER (WHERE status_code IS NOT NULL),
	percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE status_code IS NOT NULL)`

const rollupColumns = `checks, up, degraded, maintenance_checks, maintenance_up,
	latency_count, latency_sum, latency_min, latency_max, latency_p95`

// rollupTo is where the rollups of a span go.
type rollupTo struct {
	table, column string
	span          func(time.Time) time.Time // the end of the span starting at t
}

var (
	hourly = rollupTo{"rollup_hour", "hour", func(t time.Time) time.Time { return t.Add(time.Hour) }}
	daily  = rollupTo{"rollup_day", "day", func(t time.Time) time.Time { return t.AddDate(0, 0, 1) }}
)

// roll computes the rollups of the span starting at start from the raw
// checks, of every site or of sites only, in place of any there were: so
// rolling a span up twice counts it once.
func roll(ctx context.Context, tx pgx.Tx, to rollupTo, start time.Time, sites []int64) error {
	table, col := pgx.Identifier{to.table}.Sanitize(), pgx.Identifier{to.column}.Sanitize()
	only, args := "", []any{start, to.span(start)}
	if sites != nil {
		// A site whose checks of the span are gone has no rollup left.
		only, args = " AND site_id = ANY($3)", append(args, sites)
		if _, err := tx.Exec(ctx, "DELETE FROM "+table+" WHERE "+col+" >= $1 AND "+col+" < $2"+only, args...); err != nil {
			return fmt.Errorf("roll up %s %s: %w", to.column, start.Format(time.RFC3339), err)
		}
	}
	set := ""
	for c := range strings.SplitSeq(rollupColumns, ",") {
		c = strings.TrimSpace(c)
		set += ", " + c + " = excluded." + c
	}
	if _, err := tx.Exec(ctx, "INSERT INTO "+table+" (site_id, "+col+", "+rollupColumns+")"+
		" SELECT site_id, $1::timestamptz, "+rollupAggregates+
		" FROM checks WHERE checked_at >= $1 AND checked_at < $2"+only+" GROUP BY site_id"+
		" ON CONFLICT (site_id, "+col+") DO UPDATE SET "+set[2:], args...); err != nil {
		return fmt.Errorf("roll up %s %s: %w", to.column, start.Format(time.RFC3339), err)
	}
	return nil
}

// RollupResult tells what a roll-up did.
type RollupResult struct {
	Hours, Days int // spans rolled up
	Late        int // site-hours rolled up again for checks that came late
	Recent      int // times the recent days' rows were rebuilt
}

// RollupBudget bounds one roll-up run; the next run goes on where it
// stopped (a database upgraded with months of checks takes several).
const RollupBudget = 4 * time.Minute

// Rollup closes the hours that ended rollupGrace before now, rolls up each
// closed hour and day not rolled up yet, and rolls up again the hours (and
// their days) that checks came late to. Every step is its own transaction
// under a lock, so a run killed anywhere loses nothing, and runs on several
// instances at once roll up each span once.
func (s *History) Rollup(ctx context.Context, now time.Time) (RollupResult, error) {
	var res RollupResult
	closed := now.Add(-rollupGrace).UTC().Truncate(time.Hour)
	if err := s.closeHours(ctx, closed); err != nil {
		return res, err
	}
	deadline := time.Now().Add(RollupBudget)
	var ensured time.Time // the month whose hourly partition is known to exist
	for time.Now().Before(deadline) {
		more, err := s.rollNext(ctx, closed, &ensured, &res)
		if err != nil || !more {
			if err != nil {
				return res, err
			}
			break
		}
	}
	// Until a batch is not full: checks that keep coming late wait for the
	// next run.
	for time.Now().Before(deadline) {
		n, err := s.rollLate(ctx)
		res.Late += n
		if err != nil || n < lateBatch {
			return res, err
		}
	}
	return res, nil
}

// closeHours moves closed_until to closed, under the lock exclusively, so
// that every check committed later to an hour before it marks it late.
func (s *History) closeHours(ctx context.Context, closed time.Time) error {
	var until *time.Time
	if err := s.db.QueryRow(ctx, "SELECT closed_until FROM rollup_closed").Scan(&until); err != nil {
		return fmt.Errorf("read closed hours: %w", err)
	}
	if until != nil && !until.Before(closed) {
		return nil
	}
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", rollupLock); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE rollup_closed SET closed_until = $1
			WHERE closed_until IS NULL OR closed_until < $1`, closed)
		return err
	})
	if err != nil {
		return fmt.Errorf("close hours: %w", err)
	}
	return nil
}

// rollupProgress returns where the hour and day rollups end; nil before
// the first roll-up.
func (s *History) rollupProgress(ctx context.Context) (hours, days *time.Time, err error) {
	p, err := s.readProgress(ctx)
	return p.hours, p.days, err
}

// progress is where the rollups end: hours and days rolled up, and the
// end of the recent days' rows, nil before the first roll-up; and the
// first day that checks_day counts whole.
type progress struct{ hours, days, recent, live *time.Time }

func (s *History) readProgress(ctx context.Context) (progress, error) {
	var p progress
	if err := s.db.QueryRow(ctx, "SELECT hours_until, days_until, recent_until, live_from FROM rollup_done").Scan(&p.hours, &p.days, &p.recent, &p.live); err != nil {
		return p, fmt.Errorf("read roll-up progress: %w", err)
	}
	return p, nil
}

// recentDays is how many days the rows of rollup_recent hold: a status
// page's 90, and room for the rows to be rebuilt a few days later.
const recentDays = 100

// packDays packs the daily rollups of a site, counted from the day %s,
// as rollup_recent.days holds them.
const packDays = `string_agg(int2send(round((date_part('epoch', day) - date_part('epoch', %[1]s::timestamptz)) / 86400)::int2)
	|| int4send(checks - maintenance_checks) || int4send(up - maintenance_up)
	|| float4send(CASE WHEN latency_count > 0 THEN latency_sum / latency_count ELSE 'NaN' END::real), '' ORDER BY day)`

// packedDay is the size of a day in rollup_recent.days.
const packedDay = 14

// buildRecent rebuilds the recent days' rows, ending at until, of every
// site or of sites only, from the daily rollups. A site without a day in
// them has no row. It replaces rows in place, as roll does, so that two
// instances rebuilding one site's row at once both succeed.
func buildRecent(ctx context.Context, tx pgx.Tx, until time.Time, sites []int64) error {
	only, args := "", []any{until.AddDate(0, 0, -recentDays), until}
	if sites != nil {
		only, args = " AND site_id = ANY($3)", append(args, sites)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO rollup_recent (site_id, days_from, days)
		SELECT site_id, $1, `+fmt.Sprintf(packDays, "$1")+`
		FROM rollup_day WHERE day >= $1 AND day < $2`+only+` GROUP BY site_id
		ON CONFLICT (site_id) DO UPDATE SET days_from = excluded.days_from, days = excluded.days`, args...); err != nil {
		return fmt.Errorf("rebuild the recent days: %w", err)
	}
	// What was not rebuilt has no day left.
	stale, staleArgs := "DELETE FROM rollup_recent WHERE days_from <> $1", args[:1]
	if sites != nil {
		stale, staleArgs = `DELETE FROM rollup_recent r WHERE site_id = ANY($3) AND NOT EXISTS (
			SELECT FROM rollup_day d WHERE d.site_id = r.site_id AND day >= $1 AND day < $2)`, args
	}
	if _, err := tx.Exec(ctx, stale, staleArgs...); err != nil {
		return fmt.Errorf("rebuild the recent days: %w", err)
	}
	return nil
}

// rollNext rolls up the next hour, or else the next day, not rolled up yet
// before closed, or else rebuilds the recent days' rows when they end
// before the days rolled up; false when there is nothing to do. The hour's monthly partition is
// made first, in a transaction of its own, when its month is not ensured.
func (s *History) rollNext(ctx context.Context, closed time.Time, ensured *time.Time, res *RollupResult) (bool, error) {
	hoursUntil, daysUntil, err := s.rollupProgress(ctx)
	if err != nil {
		return false, err
	}
	if hoursUntil != nil && hoursUntil.Before(closed) {
		if month := rollupHourTable.period(*hoursUntil); !month.Equal(*ensured) {
			if _, err := s.ensurePartitions(ctx, rollupHourTable, month, month, time.Time{}); err != nil {
				return false, err
			}
			*ensured = month
		}
	}
	var rolled bool
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		rolled = false
		var recentUntil *time.Time
		if err := tx.QueryRow(ctx, "SELECT hours_until, days_until, recent_until FROM rollup_done FOR UPDATE").Scan(&hoursUntil, &daysUntil, &recentUntil); err != nil {
			return err
		}
		if hoursUntil == nil {
			start, err := oldestHour(ctx, tx, closed)
			if err != nil {
				return err
			}
			day := checksTable.period(start)
			_, err = tx.Exec(ctx, "UPDATE rollup_done SET hours_until = $1, days_until = $2", start, day)
			rolled = true
			return err
		}
		switch {
		case hoursUntil.Before(closed):
			if err := roll(ctx, tx, hourly, *hoursUntil, nil); err != nil {
				return err
			}
			res.Hours++
			_, err := tx.Exec(ctx, "UPDATE rollup_done SET hours_until = $1", hourly.span(*hoursUntil))
			rolled = true
			return err
		case !daily.span(*daysUntil).After(*hoursUntil):
			if err := roll(ctx, tx, daily, *daysUntil, nil); err != nil {
				return err
			}
			res.Days++
			if _, err := tx.Exec(ctx, "UPDATE rollup_done SET days_until = $1", daily.span(*daysUntil)); err != nil {
				return err
			}
			// The live figures of the days rolled up before: a reader that
			// read the progress before this roll still finds the day's.
			_, err := tx.Exec(ctx, "DELETE FROM checks_day WHERE day < $1", *daysUntil)
			rolled = true
			return err
		case recentUntil == nil || !recentUntil.Equal(*daysUntil):
			// Once the days are caught up: once a day, not once for each
			// of the days a long outage left to roll up.
			if err := buildRecent(ctx, tx, *daysUntil, nil); err != nil {
				return err
			}
			res.Recent++
			_, err := tx.Exec(ctx, "UPDATE rollup_done SET recent_until = days_until")
			rolled = true
			return err
		}
		return nil
	})
	return rolled, err
}

// oldestHour returns the hour of the oldest check, or closed if there is
// none before it: where the first roll-up starts.
func oldestHour(ctx context.Context, tx pgx.Tx, closed time.Time) (time.Time, error) {
	var oldest *time.Time
	if err := tx.QueryRow(ctx, "SELECT min(checked_at) FROM checks").Scan(&oldest); err != nil {
		return time.Time{}, fmt.Errorf("find the oldest check: %w", err)
	}
	if oldest == nil || !oldest.Before(closed) {
		return closed, nil
	}
	return oldest.UTC().Truncate(time.Hour), nil
}

// siteHour is a site's hour, or its day by the day's start.
type siteHour struct {
	site int64
	hour time.Time
}

// packedDays tells which of the days of the late hours are packed for
// their site, by the day's start.
func packedDays(ctx context.Context, tx pgx.Tx, late []siteHour) (map[siteHour]bool, error) {
	if len(late) == 0 {
		return nil, nil
	}
	ids, days := make([]int64, len(late)), make([]string, len(late))
	for i, l := range late {
		ids[i], days[i] = l.site, checksTable.period(l.hour).Format(time.DateOnly)
	}
	rows, err := tx.Query(ctx, `SELECT DISTINCT p.site_id, p.day::text FROM unnest($1::bigint[], $2::date[]) AS l(site_id, day)
		JOIN checks_packed p ON p.site_id = l.site_id AND p.day = l.day`, ids, days)
	if err != nil {
		return nil, err
	}
	out := map[siteHour]bool{}
	var (
		id  int64
		day string
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &day}, func() error {
		d, err := time.Parse(time.DateOnly, day)
		out[siteHour{id, d}] = true
		return err
	})
	return out, err
}

// lateBatch is how many late site-hours one transaction rolls up again.
const lateBatch = 1000

// rollLate rolls up again a batch of the site-hours that checks came late
// to, with their days, and returns how many it took.
func (s *History) rollLate(ctx context.Context) (int, error) {
	var n int
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var hoursUntil, daysUntil, recentUntil *time.Time
		if err := tx.QueryRow(ctx, "SELECT hours_until, days_until, recent_until FROM rollup_done FOR SHARE").Scan(&hoursUntil, &daysUntil, &recentUntil); err != nil {
			return err
		}
		// A packed day's raw checks are gone: the packing waits, and
		// this sees its rows.
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", compactLock); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `DELETE FROM rollup_late WHERE (site_id, hour) IN (
			SELECT site_id, hour FROM rollup_late ORDER BY hour LIMIT $1 FOR UPDATE SKIP LOCKED)
			RETURNING site_id, hour`, lateBatch)
		if err != nil {
			return err
		}
		hours, days := map[time.Time][]int64{}, map[time.Time][]int64{}
		var (
			id   int64
			hour time.Time
		)
		var late []siteHour
		_, err = pgx.ForEachRow(rows, []any{&id, &hour}, func() error {
			late = append(late, siteHour{id, hour})
			return nil
		})
		if err != nil {
			return err
		}
		packed, err := packedDays(ctx, tx, late)
		if err != nil {
			return err
		}
		for _, l := range late {
			id, hour := l.site, l.hour
			n++
			// A check too late for a day already packed joins the packed
			// day at the next packing; its roll-ups stay as they were.
			if packed[siteHour{id, checksTable.period(hour)}] {
				s.log.Warn("a check came to a day already packed; its roll-ups leave it out", "site_id", id, "hour", hour)
				continue
			}
			// Spans not rolled up yet will be, with the late check in.
			if hoursUntil != nil && hour.Before(*hoursUntil) {
				hours[hour] = append(hours[hour], id)
			}
			if day := checksTable.period(hour); daysUntil != nil && day.Before(*daysUntil) && !slices.Contains(days[day], id) {
				days[day] = append(days[day], id)
			}
		}
		for h, ids := range hours {
			if err := roll(ctx, tx, hourly, h, ids); err != nil {
				return err
			}
		}
		var recent []int64
		for d, ids := range days {
			if err := roll(ctx, tx, daily, d, ids); err != nil {
				return err
			}
			if recentUntil != nil && d.Before(*recentUntil) && !d.Before(recentUntil.AddDate(0, 0, -recentDays)) {
				recent = append(recent, ids...)
			}
		}
		if len(recent) > 0 {
			slices.Sort(recent)
			return buildRecent(ctx, tx, *recentUntil, slices.Compact(recent))
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("roll up late checks: %w", err)
	}
	return n, nil
}
