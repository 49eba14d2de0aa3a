package history

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"uptime/monitor/history/packed"
)

// compactLock serializes packing with the roll-up of late checks, which
// must see a day either packed or not.
const compactLock = 0x75705f63 // "up_c"

// compactBatch is how many sites' checks of a day one transaction packs.
const compactBatch = 50

// CompactBudget bounds one compaction run; the next goes on where it
// stopped.
const CompactBudget = 4 * time.Minute

// CompactResult tells what a compaction did.
type CompactResult struct {
	Days    int      // days packed whole
	Rows    int      // site-days written
	Checks  int64    // raw checks packed
	Dropped []string // partitions dropped once empty
}

// compactBefore returns where packing stops: the start of yesterday, and
// never past what the daily roll-ups have counted. Zero before the first
// roll-up of a day.
func (s *History) compactBefore(ctx context.Context, now time.Time) (time.Time, error) {
	_, daysUntil, err := s.rollupProgress(ctx)
	if err != nil || daysUntil == nil {
		return time.Time{}, err
	}
	before := checksTable.period(now).AddDate(0, 0, -1)
	if daysUntil.Before(before) {
		before = *daysUntil
	}
	return before, nil
}

// Compact packs the checks of the closed days (before yesterday, and
// rolled up) into checks_packed, a day at a time, oldest first. Each batch
// of sites is one transaction that writes their packed rows and deletes
// the raw checks they hold, so a run killed anywhere loses and doubles no
// check, and two runs at once pack each check once: the second finds the
// rows deleted. A day's partition, once empty, is dropped.
func (s *History) Compact(ctx context.Context, now time.Time, budget time.Duration) (CompactResult, error) {
	var res CompactResult
	if !s.opts.Compact {
		return res, nil
	}
	deadline := time.Now().Add(budget)
	before, err := s.compactBefore(ctx, now)
	if err != nil || before.IsZero() {
		return res, err
	}
	days, err := s.partitions(ctx, checksTable)
	if err != nil {
		return res, err
	}
	// Checks of a day without its partition wait in the default one.
	var stray []time.Time
	rows, err := s.db.Query(ctx, `SELECT DISTINCT date_trunc('day', checked_at, 'UTC') FROM checks_default
		WHERE checked_at < $1`, before)
	if err != nil {
		return res, fmt.Errorf("find the days of checks_default: %w", err)
	}
	if stray, err = pgx.CollectRows(rows, pgx.RowTo[time.Time]); err != nil {
		return res, fmt.Errorf("find the days of checks_default: %w", err)
	}
	days = append(days, stray...)
	// And the checks from before partitioning, a day at a time.
	legacy, hasLegacy, err := s.legacyUntil(ctx)
	if err != nil {
		return res, err
	}
	if hasLegacy {
		var oldest *time.Time
		if err := s.db.QueryRow(ctx, "SELECT min(checked_at) FROM checks_legacy").Scan(&oldest); err != nil {
			return res, fmt.Errorf("find the oldest check of checks_legacy: %w", err)
		}
		if oldest != nil {
			for d := checksTable.period(*oldest); d.Before(legacy) && !checksTable.next(d).After(before); d = checksTable.next(d) {
				days = append(days, d)
			}
		}
	}
	for i := range days {
		days[i] = days[i].UTC()
	}
	slices.SortFunc(days, time.Time.Compare)
	days = slices.Compact(days)

	for _, day := range days {
		if checksTable.next(day).After(before) {
			break
		}
		if time.Now().After(deadline) {
			return res, nil
		}
		// A partition emptied by an earlier run whose drop gave way holds
		// nothing to pack: only the drop is left.
		var emptied bool
		if err := s.db.QueryRow(ctx, "SELECT COALESCE(pg_relation_size(to_regclass($1)) = 0, false)", checksTable.name(day)).Scan(&emptied); err != nil {
			return res, fmt.Errorf("measure %s: %w", checksTable.name(day), err)
		}
		if !emptied {
			done, err := s.compactDay(ctx, day, deadline, &res)
			if err != nil || !done {
				return res, err
			}
			res.Days++
		}
		if err := s.dropIfEmpty(ctx, day, &res); err != nil {
			return res, err
		}
	}
	if hasLegacy {
		var empty bool
		if err := s.db.QueryRow(ctx, "SELECT NOT EXISTS (SELECT 1 FROM checks_legacy)").Scan(&empty); err != nil {
			return res, fmt.Errorf("look into checks_legacy: %w", err)
		}
		if empty && !legacy.After(before) {
			if err := s.dropLegacy(ctx); err != nil {
				return res, err
			}
			res.Dropped = append(res.Dropped, "checks_legacy")
		}
	}
	return res, nil
}

// compactDay packs the checks of the day starting at day: first of the
// sites its roll-up counts, then of any left (a site the roll-up missed,
// checks that came later); false if the deadline came first.
func (s *History) compactDay(ctx context.Context, day, deadline time.Time, res *CompactResult) (bool, error) {
	rows, err := s.db.Query(ctx, "SELECT site_id FROM rollup_day WHERE day = $1 ORDER BY site_id", day)
	if err != nil {
		return false, fmt.Errorf("list the sites of %s: %w", day.Format(time.DateOnly), err)
	}
	sites, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return false, fmt.Errorf("list the sites of %s: %w", day.Format(time.DateOnly), err)
	}
	for len(sites) > 0 {
		if time.Now().After(deadline) {
			return false, nil
		}
		batch := sites[:min(compactBatch, len(sites))]
		sites = sites[len(batch):]
		if err := s.packSites(ctx, day, batch, res); err != nil {
			return false, err
		}
	}
	for {
		if time.Now().After(deadline) {
			return false, nil
		}
		rows, err := s.db.Query(ctx, `SELECT DISTINCT site_id FROM (SELECT site_id FROM checks
			WHERE checked_at >= $1 AND checked_at < $2 LIMIT 10000) c`, day, checksTable.next(day))
		if err != nil {
			return false, fmt.Errorf("find checks left on %s: %w", day.Format(time.DateOnly), err)
		}
		left, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return false, fmt.Errorf("find checks left on %s: %w", day.Format(time.DateOnly), err)
		}
		if len(left) == 0 {
			return true, nil
		}
		for len(left) > 0 {
			batch := left[:min(compactBatch, len(left))]
			left = left[len(batch):]
			if err := s.packSites(ctx, day, batch, res); err != nil {
				return false, err
			}
		}
	}
}

// siteDay names a packed row.
type siteDay struct {
	site     int64
	location string
}

// packSites moves the sites' raw checks of the day into their packed rows,
// in one transaction, merged with what those rows held already.
func (s *History) packSites(ctx context.Context, day time.Time, sites []int64, res *CompactResult) error {
	var checks int64
	var written int
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		checks, written = 0, 0
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", compactLock); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `DELETE FROM checks WHERE checked_at >= $1 AND checked_at < $2 AND site_id = ANY($3)
			RETURNING site_id, COALESCE(location, ''), checked_at, up, degraded, maintenance, status_code, latency_ms,
				reason, cert_expires_at`, day, checksTable.next(day), sites)
		if err != nil {
			return err
		}
		got := map[siteDay][]packed.Check{}
		var (
			k siteDay
			c packed.Check
		)
		_, err = pgx.ForEachRow(rows, []any{&k.site, &k.location, &c.At, &c.Up, &c.Degraded, &c.Maintenance, &c.Status,
			&c.LatencyMS, &c.Reason, &c.CertExpires}, func() error {
			got[k] = append(got[k], c)
			checks++
			return nil
		})
		if err != nil {
			return err
		}
		if len(got) == 0 {
			return nil
		}
		// What an earlier run packed of these sites' day stays in.
		rows, err = tx.Query(ctx, `SELECT site_id, location, data FROM checks_packed
			WHERE day = $1 AND site_id = ANY($2) FOR UPDATE`, day, sites)
		if err != nil {
			return err
		}
		var data []byte
		_, err = pgx.ForEachRow(rows, []any{&k.site, &k.location, &data}, func() error {
			if _, ok := got[k]; !ok {
				return nil
			}
			had, err := packed.Decode(data)
			if err != nil {
				return fmt.Errorf("site %d's checks of %s from %q: %w", k.site, day.Format(time.DateOnly), k.location, err)
			}
			got[k] = append(got[k], had...)
			return nil
		})
		if err != nil {
			return err
		}
		var (
			ids         []int64
			locations   []string
			counts      []int32
			firsts      []time.Time
			lasts       []time.Time
			blobs       [][]byte
			keysInOrder = make([]siteDay, 0, len(got))
		)
		for k := range got {
			keysInOrder = append(keysInOrder, k)
		}
		// Rows locked in one order: two runs at once wait, never deadlock.
		slices.SortFunc(keysInOrder, func(a, b siteDay) int {
			return cmp.Or(cmp.Compare(a.site, b.site), cmp.Compare(a.location, b.location))
		})
		for _, k := range keysInOrder {
			cs := got[k]
			slices.SortStableFunc(cs, func(a, b packed.Check) int { return a.At.Compare(b.At) })
			b, err := packed.Encode(cs)
			if err != nil {
				return fmt.Errorf("site %d's checks of %s: %w", k.site, day.Format(time.DateOnly), err)
			}
			ids, locations, counts = append(ids, k.site), append(locations, k.location), append(counts, int32(len(cs)))
			firsts, lasts, blobs = append(firsts, cs[0].At), append(lasts, cs[len(cs)-1].At), append(blobs, b)
		}
		_, err = tx.Exec(ctx, `INSERT INTO checks_packed (site_id, day, location, checks, first_at, last_at, data)
			SELECT id, $2::date, location, n, first_at, last_at, data
			FROM unnest($1::bigint[], $3::text[], $4::int[], $5::timestamptz[], $6::timestamptz[], $7::bytea[])
				AS r(id, location, n, first_at, last_at, data)
			ON CONFLICT (site_id, day, location) DO UPDATE SET checks = excluded.checks,
				first_at = excluded.first_at, last_at = excluded.last_at, data = excluded.data`,
			ids, day.Format(time.DateOnly), locations, counts, firsts, lasts, blobs)
		written = len(ids)
		return err
	})
	if err != nil {
		return fmt.Errorf("pack the checks of %s: %w", day.Format(time.DateOnly), err)
	}
	res.Checks += checks
	res.Rows += written
	return nil
}

// dropLockTimeout bounds how long dropping a packed day's partition waits
// for its lock: dropping it locks the table of checks, and writes of
// checks queue behind the drop while it waits, so it gives way quickly and
// tries again at the next run. Emptying it first locks the partition
// alone, which writes of checks never touch (only reads that may reach
// that day wait on it): it may wait longer, so that a busy reader does not
// leave the day's deleted rows to be read again at every run.
const (
	dropLockTimeout     = "20ms"
	truncateLockTimeout = "1s"
)

// dropIfEmpty drops the day's partition once it holds no check: first its
// file (full of the rows deleted) is emptied, holding only the partition,
// then the empty partition is dropped, which holds the table of checks for
// a moment. Under the partition lock, so two instances at once drop it
// once.
func (s *History) dropIfEmpty(ctx context.Context, day time.Time, res *CompactResult) error {
	name := checksTable.name(day)
	ident := pgx.Identifier{name}.Sanitize()
	var dropped bool
	step := func(drop bool) error {
		timeout := truncateLockTimeout
		if drop {
			timeout = dropLockTimeout
		}
		return s.ddlTx(ctx, timeout, func(tx pgx.Tx) error {
			var exists bool
			if err := tx.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", name).Scan(&exists); err != nil || !exists {
				return err
			}
			if !drop {
				if _, err := tx.Exec(ctx, "LOCK TABLE "+ident+" IN ACCESS EXCLUSIVE MODE"); err != nil {
					return err
				}
			}
			var empty bool
			if err := tx.QueryRow(ctx, "SELECT NOT EXISTS (SELECT 1 FROM "+ident+")").Scan(&empty); err != nil || !empty {
				return err
			}
			if !drop {
				_, err := tx.Exec(ctx, "TRUNCATE "+ident)
				return err
			}
			_, err := tx.Exec(ctx, "DROP TABLE "+ident)
			dropped = err == nil
			return err
		})
	}
	err := step(false)
	if err == nil {
		err = step(true)
	}
	if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) {
		switch pgErr.Code {
		case pgerrcode.LockNotAvailable:
			s.log.Info("a packed day's partition is left for the next run: the table of checks was busy", "partition", name)
			return nil
		case pgerrcode.UndefinedTable:
			// Another instance dropped it, after this one's catalog
			// lookup found it still there.
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("drop %s once packed: %w", name, err)
	}
	if dropped {
		res.Dropped = append(res.Dropped, name)
	}
	return nil
}
