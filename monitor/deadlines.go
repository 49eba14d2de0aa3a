package monitor

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"uptime/internal/errs"
	"uptime/site"
)

// watchDeadlines looks every second, until ctx ends, for push sites whose
// deadline has passed, and records each down.
func (s *Service) watchDeadlines(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := s.MissedDeadlines(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("push sites: could not look for missed deadlines", "err", err)
		}
	}
}

// deadlineWorkers is how many slices of missed deadlines an instance
// records at once, and deadlineSlice how many deadlines a transaction
// records.
const (
	deadlineWorkers = 4
	deadlineSlice   = 50
)

// MissedDeadlines records down every push site whose deadline has passed,
// and returns how many it recorded.
func (s *Service) MissedDeadlines(ctx context.Context) (int, error) {
	n := 0
	for {
		rows, err := s.db.Query(ctx, `SELECT site_id FROM heartbeat WHERE due_at <= now() ORDER BY due_at LIMIT 1000`)
		if err != nil {
			return n, err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return n, err
		}
		var parts [][]int64
		for start := 0; start < len(ids); start += deadlineSlice {
			parts = append(parts, ids[start:min(start+deadlineSlice, len(ids))])
		}
		// A few slices at once: each waits on its own round trips.
		var (
			next, recorded atomic.Int64
			wg             sync.WaitGroup
			mu             sync.Mutex
			first          error
		)
		for range min(deadlineWorkers, len(parts)) {
			wg.Go(func() {
				for i := next.Add(1) - 1; i < int64(len(parts)); i = next.Add(1) - 1 {
					k, err := s.missed(ctx, parts[i])
					recorded.Add(int64(k))
					if err != nil {
						mu.Lock()
						first = cmp.Or(first, err)
						mu.Unlock()
						return
					}
				}
			})
		}
		wg.Wait()
		n += int(recorded.Load())
		if first != nil {
			return n, first
		}
		if len(ids) < 1000 || recorded.Load() == 0 {
			return n, nil
		}
	}
}

// missed records down, in one transaction, each push site of the ids
// whose deadline has passed, unless a signal or another instance came
// first: the run awaited did not come (then the next is awaited), or a
// run begun did not end within the grace (then it is
// forgotten). It returns how many it recorded. The sites' targets are
// read before, so that it holds no connection while it waits for another;
// a site changed meanwhile is left to the next pass.
func (s *Service) missed(ctx context.Context, ids []int64) (int, error) {
	targets := make(map[int64]versioned, len(ids))
	for _, id := range ids {
		t, version, err := s.pushSites.target(ctx, s, id)
		if errs.Is(err, errs.NotFound) {
			continue // deleted since
		}
		if err != nil {
			return 0, err
		}
		targets[id] = versioned{version, t}
	}
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(ctx)
	held, err := lockScheduled(ctx, tx, ids)
	if err != nil || len(held) == 0 {
		return 0, err
	}
	type deadline struct {
		pushState
		version int64
		paused  bool
	}
	var due []deadline
	rows, err := tx.Query(ctx, `SELECT `+pushColumns+`, version, paused FROM heartbeat
		WHERE site_id = ANY($1) AND due_at <= now() ORDER BY site_id FOR UPDATE SKIP LOCKED`, held)
	if err != nil {
		return 0, fmt.Errorf("read %d deadlines: %w", len(held), err)
	}
	for rows.Next() {
		var d deadline
		if d.pushState, err = scanPush(rows, &d.version, &d.paused); err != nil {
			rows.Close()
			return 0, fmt.Errorf("read %d deadlines: %w", len(held), err)
		}
		due = append(due, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("read %d deadlines: %w", len(held), err)
	}
	now := time.Now()
	rows, err = tx.Query(ctx, `DELETE FROM heartbeat_run r USING heartbeat h
		WHERE r.site_id = h.site_id AND h.site_id = ANY($1) AND r.started_at + h.grace_ms * interval '1 millisecond' <= $2
		RETURNING r.site_id, r.started_at`, siteIDs(due), now)
	if err != nil {
		return 0, fmt.Errorf("forget the overdue runs of %d sites: %w", len(due), err)
	}
	overdue := map[int64][]time.Time{}
	var (
		id int64
		at time.Time
	)
	if _, err := pgx.ForEachRow(rows, []any{&id, &at}, func() error {
		overdue[id] = append(overdue[id], at)
		return nil
	}); err != nil {
		return 0, fmt.Errorf("forget the overdue runs of %d sites: %w", len(due), err)
	}
	var (
		moved    []int64
		expected []*time.Time
		recorded []func()
	)
	for _, d := range due {
		v, ok := targets[d.id]
		if d.paused || !ok {
			continue // paused: its deadline is cleared as its copy is kept
		}
		if v.version != d.version {
			s.pushSites.drop(d.id)
			continue // the next pass reads it anew
		}
		reason, at := d.missedReason(overdue[d.id], now)
		if d.expected != nil && !d.expected.Add(d.grace).After(now) {
			// The next run is awaited, so that a site still down is
			// checked, and reminded of, run by run; runs missed while no
			// instance looked are one.
			next := d.schedule.Next(*d.expected)
			if !next.IsZero() && !next.Add(d.grace).After(now) {
				next = d.schedule.Next(now)
			}
			d.expected = &next
			if next.IsZero() {
				d.expected = nil
			}
		}
		moved, expected = append(moved, d.id), append(expected, d.expected)
		if reason == "" {
			continue
		}
		t := v.t
		attempts := []Result{{Up: false, CheckedAt: now, Reason: reason}}
		// A run expected inside a maintenance window is not alerted,
		// even where the window ended before its grace did.
		attempts[0].Maintenance = s.windows.Covers(ctx, t.ID, t.tags, at) || s.windows.Covers(ctx, t.ID, t.tags, now)
		if err := s.insertChecks(ctx, tx, t.ID, s.opts.Location, attempts); err != nil {
			return 0, err
		}
		if err := s.decideTx(ctx, tx, t, s.opts.Location, attempts); err != nil {
			return 0, err
		}
		recorded = append(recorded, func() { s.countChecks(t.URL, attempts) })
	}
	if _, err := tx.Exec(ctx, `UPDATE heartbeat SET expected_at = v.expected_at,
			due_at = LEAST(v.expected_at, (SELECT min(started_at) FROM heartbeat_run r WHERE r.site_id = heartbeat.site_id))
				+ grace_ms * interval '1 millisecond'
		FROM unnest($1::bigint[], $2::timestamptz[]) AS v(site_id, expected_at) WHERE heartbeat.site_id = v.site_id`,
		moved, expected); err != nil {
		return 0, fmt.Errorf("move the deadlines of %d sites on: %w", len(moved), err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("record %d missed deadlines: %w", len(recorded), err)
	}
	for _, count := range recorded {
		count()
	}
	return len(recorded), nil
}

// siteIDs are the ids of the deadlines' sites.
func siteIDs[T interface{ siteID() int64 }](ds []T) []int64 {
	ids := make([]int64, len(ds))
	for i, d := range ds {
		ids[i] = d.siteID()
	}
	return ids
}

func (p pushState) siteID() int64 { return p.id }

// missedReason says what a push site whose deadline passed missed, and
// when it was expected: the run awaited, or a run begun at one of started
// that outlasted its grace; nothing if neither is due yet.
func (p pushState) missedReason(started []time.Time, now time.Time) (string, time.Time) {
	zone := p.schedule.Zone()
	if p.expected != nil && !p.expected.Add(p.grace).After(now) {
		if p.lastSignal != nil {
			return fmt.Sprintf("no signal since %s, expected by %s", when(*p.lastSignal, zone, now), when(*p.expected, zone, now)), *p.expected
		}
		return fmt.Sprintf("no signal, expected by %s", when(*p.expected, zone, now)), *p.expected
	}
	if len(started) > 0 {
		first := slices.MinFunc(started, time.Time.Compare)
		return fmt.Sprintf("a run started at %s and did not end within %s", when(first, zone, now), site.Duration(p.grace)), first
	}
	return "", time.Time{}
}

// when is a time as a missed deadline's reason says it: in the schedule's
// time zone, with its date unless it is today's there.
func when(at time.Time, zone *time.Location, now time.Time) string {
	at = at.In(zone)
	if at.Format(time.DateOnly) == now.In(zone).Format(time.DateOnly) {
		return at.Format("15:04 MST")
	}
	return at.Format("Jan 2 15:04 MST")
}
