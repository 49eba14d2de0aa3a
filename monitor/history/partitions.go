package history

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// partitioned is a table partitioned by range of one time column, a
// partition per UTC day or month, named table_pYYYYMMDD or table_pYYYYMM,
// with a DEFAULT partition table_default for rows no partition takes.
type partitioned struct {
	table, column string
	monthly       bool
	// index is run on each new partition, with %s for its name.
	index string
}

// checksTable holds the raw checks, a partition per day. A block range
// index finds an hour of a day's checks for its roll-up at almost no cost,
// as checks arrive in time order.
var checksTable = partitioned{table: "checks", column: "checked_at",
	index: "CREATE INDEX ON %s USING brin (checked_at)"}

// rollupHourTable holds the hourly rollups, a partition per month.
var rollupHourTable = partitioned{table: "rollup_hour", column: "hour", monthly: true}

// partitionLock serializes the partition maintenance of every instance.
const partitionLock = 0x75705f70 // "up_p"

// ddlLockTimeout bounds how long creating or dropping a partition waits for
// its locks: a drop holds up the writes of checks while it waits, so it
// gives way and tries again at the next maintenance.
const ddlLockTimeout = "2s"

// period returns the start of the period that holds t.
func (p partitioned) period(t time.Time) time.Time {
	t = t.UTC()
	if p.monthly {
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// next returns the start of the period after the one starting at start.
func (p partitioned) next(start time.Time) time.Time {
	if p.monthly {
		return start.AddDate(0, 1, 0)
	}
	return start.AddDate(0, 0, 1)
}

func (p partitioned) layout() string {
	if p.monthly {
		return "200601"
	}
	return "20060102"
}

// name returns the name of the partition of the period starting at start.
func (p partitioned) name(start time.Time) string {
	return p.table + "_p" + start.Format(p.layout())
}

// parse returns the start of the period a partition's name covers.
func (p partitioned) parse(name string) (time.Time, bool) {
	s, ok := strings.CutPrefix(name, p.table+"_p")
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(p.layout(), s)
	return t, err == nil
}

// partitions returns the starts of p's periodic partitions.
func (s *History) partitions(ctx context.Context, p partitioned) ([]time.Time, error) {
	rows, err := s.db.Query(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = $1::regclass ORDER BY c.relname`, p.table)
	if err != nil {
		return nil, fmt.Errorf("list partitions of %s: %w", p.table, err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list partitions of %s: %w", p.table, err)
	}
	var starts []time.Time
	for _, n := range names {
		if t, ok := p.parse(n); ok {
			starts = append(starts, t)
		}
	}
	return starts, nil
}

// ensurePartitions creates p's partitions for the periods from the one
// holding from to the one holding to, where missing; none before notBefore.
// Rows of a new partition's period that wait in the default partition move
// into it.
func (s *History) ensurePartitions(ctx context.Context, p partitioned, from, to, notBefore time.Time) (created int, err error) {
	have, err := s.partitions(ctx, p)
	if err != nil {
		return 0, err
	}
	exists := make(map[time.Time]bool, len(have))
	for _, t := range have {
		exists[t] = true
	}
	for start := p.period(from); !start.After(to); start = p.next(start) {
		if exists[start] || start.Before(notBefore) {
			continue
		}
		ok, err := s.createPartition(ctx, p, start)
		if err != nil {
			return created, err
		}
		if ok {
			created++
		}
	}
	return created, nil
}

// createPartition creates and attaches the partition of the period starting
// at start, in one transaction; false if another instance made it first.
func (s *History) createPartition(ctx context.Context, p partitioned, start time.Time) (bool, error) {
	name, end := p.name(start), p.next(start)
	var made bool
	err := s.ddlTx(ctx, ddlLockTimeout, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, "SELECT to_regclass($1) IS NULL", name).Scan(&made); err != nil || !made {
			return err
		}
		ident := pgx.Identifier{name}.Sanitize()
		table := pgx.Identifier{p.table}.Sanitize()
		def := pgx.Identifier{p.table + "_default"}.Sanitize()
		in := " WHERE " + pgx.Identifier{p.column}.Sanitize() + " >= $1 AND " + pgx.Identifier{p.column}.Sanitize() + " < $2"
		// Writes of rows that go to the default partition wait; the
		// others go on. Its rows of the period move to the new partition.
		if _, err := tx.Exec(ctx, "LOCK TABLE "+def+" IN ACCESS EXCLUSIVE MODE"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "CREATE TABLE "+ident+" (LIKE "+table+" INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "WITH moved AS (DELETE FROM "+def+in+" RETURNING *) INSERT INTO "+ident+" SELECT * FROM moved",
			start, end); err != nil {
			return err
		}
		// Bounds are literals in DDL: written in UTC, they mean the same
		// whatever the session's time zone.
		if _, err := tx.Exec(ctx, fmt.Sprintf("ALTER TABLE %s ATTACH PARTITION %s FOR VALUES FROM ('%s') TO ('%s')",
			table, ident, start.Format(time.RFC3339), end.Format(time.RFC3339))); err != nil {
			return err
		}
		if p.index != "" {
			if _, err := tx.Exec(ctx, fmt.Sprintf(p.index, ident)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("create partition %s: %w", name, err)
	}
	return made, nil
}

// ddlTx runs f in a transaction that holds the partition lock, so that the
// partition maintenance of every instance goes one at a time, and waits at
// most lockTimeout (ddlLockTimeout, or shorter) for any other lock.
func (s *History) ddlTx(ctx context.Context, lockTimeout string, f func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", partitionLock); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '"+lockTimeout+"'"); err != nil {
			return err
		}
		return f(tx)
	})
}

// dropPartitions drops p's partitions whose period ends at or before
// cutoff, oldest first, and returns their names.
func (s *History) dropPartitions(ctx context.Context, p partitioned, cutoff time.Time) ([]string, error) {
	have, err := s.partitions(ctx, p)
	if err != nil {
		return nil, err
	}
	var dropped []string
	for _, start := range have {
		if p.next(start).After(cutoff) {
			continue
		}
		if err := s.dropTable(ctx, p.name(start)); err != nil {
			return dropped, err
		}
		dropped = append(dropped, p.name(start))
	}
	return dropped, nil
}

// dropTable drops a partition under the partition lock.
func (s *History) dropTable(ctx context.Context, name string) error {
	err := s.ddlTx(ctx, ddlLockTimeout, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "DROP TABLE IF EXISTS "+pgx.Identifier{name}.Sanitize())
		return err
	})
	if err != nil {
		return fmt.Errorf("drop partition %s: %w", name, err)
	}
	return nil
}

// deleteBefore deletes the rows of table older than cutoff in column, a
// batch at a time so that no transaction grows large, and returns how many.
// It serves the plain tables and partitions that are not dropped whole (a
// row's ctid names it only within one): the daily rollups, the default
// partitions and the checks from before partitioning.
func (s *History) deleteBefore(ctx context.Context, table, column string, cutoff any) (int64, error) {
	t, c := pgx.Identifier{table}.Sanitize(), pgx.Identifier{column}.Sanitize()
	var total int64
	for {
		tag, err := s.db.Exec(ctx, "DELETE FROM "+t+" WHERE ctid = ANY (ARRAY(SELECT ctid FROM "+t+
			" WHERE "+c+" < $1 LIMIT 10000))", cutoff)
		if err != nil {
			return total, fmt.Errorf("delete old rows of %s: %w", table, err)
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < 10000 {
			return total, nil
		}
	}
}

// legacyUntil returns the end of checks_legacy's range; false once it is
// gone, or if the database never had one.
func (s *History) legacyUntil(ctx context.Context) (time.Time, bool, error) {
	var until time.Time
	err := s.db.QueryRow(ctx, "SELECT until FROM checks_legacy_until").Scan(&until)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("read the range of checks_legacy: %w", err)
	}
	return until, true, nil
}

// Maintenance tells what a maintenance of the history did.
type Maintenance struct {
	Created int      // partitions made
	Dropped []string // partitions (or the old table) dropped whole
	Deleted int64    // rows deleted one by one: stray, old or from before partitioning
}

// partitionsAhead is how many days of partitions are kept made ahead.
const partitionsAhead = 3

// MaintainHistory makes the partitions of the days ahead (and of
// yesterday, for late checks), and removes what is past retention: raw
// checks after --retention, but never any not rolled up yet, and rollups
// after --rollup-retention.
func (s *History) MaintainHistory(ctx context.Context, now time.Time) (Maintenance, error) {
	var m Maintenance
	n, err := s.PreparePartitions(ctx, now)
	m.Created = n
	if err != nil {
		return m, err
	}
	legacy, hasLegacy, err := s.legacyUntil(ctx)
	if err != nil {
		return m, err
	}

	cutoff := now.Add(-s.opts.Retention)
	if s.opts.Compact {
		// Closed days are packed, not dropped, until their own retention.
		cutoff = now.Add(-s.opts.CompactedRetention)
	}
	kept := cutoff
	_, daysUntil, err := s.rollupProgress(ctx)
	if err != nil {
		return m, err
	}
	if daysUntil == nil {
		cutoff = time.Time{} // nothing is rolled up yet: keep everything
	} else if daysUntil.Before(cutoff) {
		s.log.Warn("raw checks past retention are kept: their days are not rolled up yet",
			"rolled_up_until", *daysUntil, "retention", s.opts.Retention)
		cutoff = *daysUntil
	}
	if !cutoff.IsZero() {
		dropped, err := s.dropPartitions(ctx, checksTable, cutoff)
		m.Dropped = append(m.Dropped, dropped...)
		if err != nil {
			return m, err
		}
		d, err := s.deleteBefore(ctx, "checks_default", "checked_at", cutoff)
		m.Deleted += d
		if err != nil {
			return m, err
		}
		if hasLegacy {
			if !legacy.After(cutoff) {
				if err := s.dropLegacy(ctx); err != nil {
					return m, err
				}
				m.Dropped = append(m.Dropped, "checks_legacy")
			} else {
				d, err := s.deleteBefore(ctx, "checks_legacy", "checked_at", cutoff)
				m.Deleted += d
				if err != nil {
					return m, err
				}
			}
		}
	}

	// A packed day goes once its end is past retention: before the day
	// that holds the cutoff. Without compaction, what was packed goes
	// with the raw checks.
	d, err := s.deleteBefore(ctx, "checks_packed", "day", checksTable.period(kept).Format(time.DateOnly))
	m.Deleted += d
	if err != nil {
		return m, err
	}

	rcut := now.Add(-s.opts.RollupRetention)
	dropped, err := s.dropPartitions(ctx, rollupHourTable, rcut)
	m.Dropped = append(m.Dropped, dropped...)
	if err != nil {
		return m, err
	}
	for _, t := range []struct{ table, column string }{{"rollup_hour_default", "hour"}, {"rollup_day", "day"}} {
		d, err := s.deleteBefore(ctx, t.table, t.column, rcut)
		m.Deleted += d
		if err != nil {
			return m, err
		}
	}
	return m, nil
}

// PreparePartitions makes the partitions of yesterday, today and the days
// ahead, and of this month's and next month's rollups, where missing, and
// returns how many it made.
func (s *History) PreparePartitions(ctx context.Context, now time.Time) (int, error) {
	legacy, _, err := s.legacyUntil(ctx)
	if err != nil {
		return 0, err
	}
	n, err := s.ensurePartitions(ctx, checksTable, now.AddDate(0, 0, -1), now.AddDate(0, 0, partitionsAhead), legacy)
	if err != nil {
		return n, err
	}
	m, err := s.ensurePartitions(ctx, rollupHourTable, now, now.AddDate(0, 1, 0), time.Time{})
	return n + m, err
}

// dropLegacy drops the checks from before partitioning, once all are past
// retention.
func (s *History) dropLegacy(ctx context.Context) error {
	err := s.ddlTx(ctx, ddlLockTimeout, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "DROP TABLE IF EXISTS checks_legacy"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "DELETE FROM checks_legacy_until")
		return err
	})
	if err != nil {
		return fmt.Errorf("drop checks_legacy: %w", err)
	}
	return nil
}
