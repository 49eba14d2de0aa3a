package monitor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"uptime/internal/errs"
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
		recorded := 0
		for _, id := range ids {
			missed, err := s.missed(ctx, id)
			if err != nil {
				return n, err
			}
			if missed {
				recorded++
			}
		}
		n += recorded
		if len(ids) < 1000 || recorded == 0 {
			return n, nil
		}
	}
}

// missed records the push site with the id down for a missed deadline, in
// the transaction that moves it on, unless a signal or another instance
// came first: the run awaited did not come (then none is awaited until
// the next success), or a run begun did not end within the grace (then it
// is forgotten).
func (s *Service) missed(ctx context.Context, id int64) (bool, error) {
	t, paused, err := s.pushTarget(ctx, id)
	if errs.Is(err, errs.NotFound) {
		return false, nil // deleted since
	}
	if err != nil || paused {
		return false, err // paused: its deadline is cleared as its copy is kept
	}
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback(ctx)
	if held, err := lockScheduled(ctx, tx, []int64{id}); err != nil || len(held) == 0 {
		return false, err
	}
	st, err := scanPush(tx.QueryRow(ctx, `SELECT `+pushColumns+` FROM heartbeat
		WHERE site_id = $1 AND due_at <= now() FOR UPDATE SKIP LOCKED`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil // a signal came, or another instance has it
	}
	if err != nil {
		return false, fmt.Errorf("read the deadline of site %d: %w", id, err)
	}
	now := time.Now()
	zone := st.schedule.Zone()
	var reason string
	var expected time.Time
	if st.expected != nil && !st.expected.Add(st.grace).After(now) {
		expected = *st.expected
		if st.lastSuccess != nil {
			reason = fmt.Sprintf("no signal since %s, expected by %s", when(*st.lastSuccess, zone, now), when(expected, zone, now))
		} else {
			reason = fmt.Sprintf("no signal, expected by %s", when(expected, zone, now))
		}
		st.expected = nil
	}
	rows, err := tx.Query(ctx, `DELETE FROM heartbeat_run WHERE site_id = $1 AND started_at + $2 * interval '1 millisecond' <= $3
		RETURNING started_at`, id, st.grace.Milliseconds(), now)
	if err != nil {
		return false, fmt.Errorf("forget the overdue runs of site %d: %w", id, err)
	}
	overdue, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
	if err != nil {
		return false, fmt.Errorf("forget the overdue runs of site %d: %w", id, err)
	}
	if reason == "" && len(overdue) > 0 {
		first := slices.MinFunc(overdue, time.Time.Compare)
		expected = first
		reason = fmt.Sprintf("a run started at %s and did not end within %s", when(first, zone, now), durationWords(st.grace))
	}
	if reason != "" {
		attempts := []Result{{Up: false, CheckedAt: now, Reason: reason}}
		// A run expected inside a maintenance window is not alerted,
		// even where the window ended before its grace did.
		attempts[0].Maintenance = s.windows.Covers(ctx, t.ID, t.tags, expected) || s.windows.Covers(ctx, t.ID, t.tags, now)
		if err := s.insertChecks(ctx, tx, id, s.opts.Location, attempts); err != nil {
			return false, err
		}
		if err := s.decideTx(ctx, tx, t, s.opts.Location, attempts); err != nil {
			return false, err
		}
		defer s.countChecks(t.URL, attempts)
	}
	if _, err := tx.Exec(ctx, `UPDATE heartbeat SET expected_at = $2, due_at = `+dueAt("$2")+` WHERE site_id = $1`, id, st.expected); err != nil {
		return false, fmt.Errorf("move the deadline of site %d on: %w", id, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("record the missed deadline of site %d: %w", id, err)
	}
	return reason != "", nil
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

// durationWords is a duration as a reason says it: 1h, 90s, 1h30m.
func durationWords(d time.Duration) string {
	s := d.String()
	for _, zero := range []string{"m0s", "h0m"} {
		if len(s) > len(zero) && s[len(s)-len(zero):] == zero {
			s = s[:len(s)-len(zero)+1]
		}
	}
	return s
}
