package monitor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"uptime/internal/api"
)

// confirmedUp returns the site's confirmed state, as this location sees
// it. A site never checked counts as up, as in the tutorial.
func (s *Service) confirmedUp(ctx context.Context, siteID int) (bool, error) {
	var up bool
	err := s.db.QueryRow(ctx, "SELECT COALESCE((locations->$2->>'up')::boolean, true) FROM site_state WHERE site_id = $1",
		siteID, s.opts.Location).Scan(&up)
	if errors.Is(err, pgx.ErrNoRows) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("read state of site %d: %w", siteID, err)
	}
	return up, nil
}

// insertChecks records check attempts in tx.
func (s *Service) insertChecks(ctx context.Context, tx pgx.Tx, siteID int, attempts []Result) error {
	batch := &pgx.Batch{}
	for _, r := range attempts {
		batch.Queue(`INSERT INTO checks (site_id, up, checked_at, status_code, latency_ms, reason, cert_expires_at, degraded, maintenance, location)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			siteID, r.Up, r.CheckedAt, statusOrNil(r.Status), ms(r.Latency), r.Reason, r.CertExpiry, r.Degraded, r.Maintenance, s.opts.Location)
	}
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("record checks of site %d: %w", siteID, err)
	}
	return nil
}

// recordAttempts records attempts without deciding anything from them: a
// confirmation cut short is no confirmation.
func (s *Service) recordAttempts(ctx context.Context, t *target, attempts []Result) error {
	s.markMaintenance(ctx, t, attempts)
	return s.recordTx(ctx, t, attempts, func(tx pgx.Tx) error { return s.insertChecks(ctx, tx, t.ID, attempts) })
}

// record stores the attempts and decides the site's state from them, in
// one transaction.
func (s *Service) record(ctx context.Context, t *target, attempts []Result) error {
	s.markMaintenance(ctx, t, attempts)
	return s.recordTx(ctx, t, attempts, func(tx pgx.Tx) error {
		if err := s.insertChecks(ctx, tx, t.ID, attempts); err != nil {
			return err
		}
		return s.decideTx(ctx, tx, t, attempts)
	})
}

// decide updates the site's state from a round's attempts already recorded.
func (s *Service) decide(ctx context.Context, t *target, attempts []Result) error {
	return s.recordTx(ctx, t, nil, func(tx pgx.Tx) error {
		return s.decideTx(ctx, tx, t, attempts)
	})
}

// recordTx runs f in a transaction that holds the site on the schedule
// (see lockScheduled), and counts the attempts it recorded. A site no
// longer scheduled, deleted while it was being checked, gets nothing
// recorded and nothing announced.
func (s *Service) recordTx(ctx context.Context, t *target, attempts []Result, f func(pgx.Tx) error) error {
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("record check of site %d: %w", t.ID, err)
	}
	defer tx.Rollback(ctx)
	held, err := lockScheduled(ctx, tx, []int64{int64(t.ID)})
	if err != nil {
		return err
	}
	if len(held) == 0 {
		return nil
	}
	if err := f(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("record check of site %d: %w", t.ID, err)
	}
	s.countChecks(attempts)
	return nil
}

// lockScheduled holds the schedule's rows of the sites with the ids, in
// the order of their ids, until tx ends, and returns the ids it holds:
// those of the sites still scheduled. Every transaction that records
// checks or decides a state takes these locks before any other, and
// forget takes them exclusively before it deletes anything, so a site is
// either forgotten after its check commits, or its check finds it gone;
// and the two can never wait on each other in a cycle. The locks are taken
// by a function of the schema's owner (migration 13), so that a probe's
// role needs no right to change the schedule.
func lockScheduled(ctx context.Context, tx pgx.Tx, ids []int64) ([]int64, error) {
	rows, err := tx.Query(ctx, `SELECT hold_scheduled($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("hold the schedule of %d sites: %w", len(ids), err)
	}
	held, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("hold the schedule of %d sites: %w", len(ids), err)
	}
	slices.Sort(held) // callers search it
	return held, nil
}

// decideTx updates the site's state from its latest round in tx and
// publishes what changed: a transition, or an alert (see alerts). The state
// row is locked while it is decided, so concurrent checks of one site, from
// one location or several, announce each change once; a result older than
// its location's state decides nothing.
//
// Each location keeps its own state of the site in the row: a failure that
// reaches here is confirmed already, and a location that saw the site down
// needs t.recoveries passing checks in a row to see it up again. The site
// is down while at least its quorum of its live locations see it down (see
// combine).
func (s *Service) decideTx(ctx context.Context, tx pgx.Tx, t *target, attempts []Result) error {
	st := t.Site
	first, final := attempts[0], attempts[len(attempts)-1]
	if _, err := tx.Exec(ctx, `INSERT INTO site_state (site_id, url, up) VALUES ($1, $2, true)
		ON CONFLICT (site_id) DO NOTHING`, st.ID, t.shown); err != nil {
		return fmt.Errorf("create state of site %d: %w", st.ID, err)
	}
	var (
		wasUp     bool
		since     *time.Time
		checkedAt *time.Time
		locs      map[string]locState
		prev      alertState
	)
	if err := tx.QueryRow(ctx, "SELECT up, since, checked_at, locations, "+alertColumns+" FROM site_state WHERE site_id = $1 FOR UPDATE",
		st.ID).Scan(append([]any{&wasUp, &since, &checkedAt, &locs}, prev.fields()...)...); err != nil {
		return fmt.Errorf("lock state of site %d: %w", st.ID, err)
	}
	here := s.opts.Location
	mine, had := locs[here]
	if had && final.CheckedAt.Before(mine.CheckedAt) {
		return nil
	}
	// This location's own state.
	locUp, streak := final.Up, 0
	if had && !mine.Up && final.Up {
		if streak = mine.Streak + 1; streak < t.recoveries {
			locUp = false // not yet: more passing checks must follow
		} else {
			streak = 0
		}
	}
	locReason := final.Reason
	if !locUp && final.Up {
		locReason = fmt.Sprintf("recovering: %d of %d passing checks", streak, t.recoveries)
	}
	if locs == nil {
		locs = map[string]locState{}
	}
	locs[here] = locState{Up: locUp, CheckedAt: final.CheckedAt, StatusCode: statusOrNil(final.Status),
		LatencyMS: ms(final.Latency), Reason: locReason, Streak: streak}
	live, err := s.liveLocations(ctx, tx)
	if err != nil {
		return err
	}
	up, voters, downAt := combine(t, here, locs, live)

	changed := up != wasUp
	newSince := since
	if changed || since == nil {
		newSince = &final.CheckedAt
	}
	reason := locReason
	if !up && locUp {
		// Up from here, still down from enough of the others.
		reason = fmt.Sprintf("down from %s: %s", strings.Join(downAt, ", "), locs[downAt[0]].Reason)
	}
	if changed {
		var err error
		if up {
			err = closeIncident(ctx, tx, st.ID, final.CheckedAt)
		} else {
			err = openIncident(ctx, tx, st.ID, final.CheckedAt, locs[downAt[0]].Reason)
		}
		if err != nil {
			return err
		}
	}
	d := decision{up: up, changed: changed, since: newSince, first: first, final: final, maintenance: final.Maintenance,
		firstFailed: !first.Up && locUp}
	if voters > 1 && !up {
		d.downAt = downAt
		d.final.Reason = locs[downAt[0]].Reason
	}
	if checkedAt != nil {
		d.prevSince = since
	}
	next, events, err := s.alerts(ctx, tx, t, prev, d)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE site_state SET url = $2, up = $3, since = $4, checked_at = GREATEST(checked_at, $5),
		status_code = $6, latency_ms = $7, reason = $8, cert_expires_at = $9, degraded = $10, streak = $11,
		announced_up = $12, next_reminder_at = $13, flapping_since = $14, slow_streak = $15, degraded_since = $16,
		recent = $17, recent_n = $18, unstable_since = $19, cert_warned_for = $20, cert_warned_days = $21,
		locations = $22
		WHERE site_id = $1`,
		st.ID, t.shown, up, newSince, final.CheckedAt, statusOrNil(final.Status), ms(final.Latency),
		reason, final.CertExpiry, final.Degraded, streak,
		next.announcedUp, next.nextReminderAt, next.flappingSince, next.slowStreak, next.degradedSince,
		next.recent, next.recentN, next.unstableSince, next.certWarnedFor, next.certWarnedDays,
		locs,
	); err != nil {
		return fmt.Errorf("update state of site %d: %w", st.ID, err)
	}
	if changed {
		s.log.Info("site changed state", "site_id", st.ID, "url", api.LogURL(st.URL), "up", up, "reason", d.final.Reason,
			"down_at", downAt)
	}
	for _, ev := range events {
		if err := s.transitions.PublishTx(ctx, tx, ev); err != nil {
			return err
		}
		if ev.Event != EventDown && ev.Event != EventUp {
			s.log.Info("site alert", "site_id", st.ID, "url", api.LogURL(st.URL), "event", ev.Event, "reason", ev.Reason)
		}
	}
	return nil
}

// locState is one location's own view of a site, kept in its state row's
// locations by the location's name, and shown by /status.
type locState struct {
	Up         bool      `json:"up"`
	CheckedAt  time.Time `json:"checked_at"`
	StatusCode *int      `json:"status_code"`
	LatencyMS  float64   `json:"latency_ms"`
	Reason     string    `json:"reason"`
	// Streak counts the passing checks so far of a location that saw the
	// site down.
	Streak int `json:"streak"`
}

// combine decides whether a site is up from its locations' states: its
// voters are its live locations (those of its settings, or every one), or
// here, where the check deciding it was made, when none of them is live;
// one that has not checked it yet counts as seeing it up. The site is down while at least its quorum
// of them see it down: t.quorum, or a strict majority of the voters, and
// never more than there are. It returns the decision, the number of voters
// and the ones that see it down, by name.
func combine(t *target, here string, locs map[string]locState, live []string) (up bool, voters int, downAt []string) {
	var names []string
	for _, l := range live {
		if len(t.locations) == 0 || slices.Contains(t.locations, l) {
			names = append(names, l)
		}
	}
	if len(names) == 0 {
		names = append(names, here) // none of its own is live: the check made decides
	}
	for _, l := range names {
		if st, ok := locs[l]; ok && !st.Up {
			downAt = append(downAt, l)
		}
	}
	slices.Sort(downAt)
	q := t.quorum
	if q <= 0 {
		q = len(names)/2 + 1
	}
	q = min(q, len(names))
	return len(downAt) < q, len(names), downAt
}

// forgetSlice is how many sites forget removes in one transaction.
const forgetSlice = 1000

// historyTables are the tables that hold a site's history, by site_id.
var historyTables = []string{"checks", "checks_day", "rollup_hour", "rollup_day", "rollup_recent", "rollup_late", "incident"}

// forget removes the sites' schedule, state and history, forgetSlice sites
// a transaction, in the order of their ids. Each transaction first takes
// the schedule's rows of its sites (see lockScheduled): a check of one of
// them under way either commits before, and is removed with the rest, or
// waits, finds the site gone and records nothing. A transaction that
// PostgreSQL still aborts for a deadlock (with a roll-up writing the same
// rows) is tried again.
func (s *Service) forget(ctx context.Context, ids []int64) error {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	for start := 0; start < len(ids); start += forgetSlice {
		part := ids[start:min(start+forgetSlice, len(ids))]
		var err error
		for try := 0; try < 5; try++ {
			if err = s.forgetTx(ctx, part); !isDeadlock(err) {
				break
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) forgetTx(ctx context.Context, ids []int64) error {
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("forget %d sites: %w", len(ids), err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `DELETE FROM monitored WHERE site_id IN (
		SELECT site_id FROM monitored WHERE site_id = ANY($1) ORDER BY site_id FOR UPDATE)`, ids); err != nil {
		return fmt.Errorf("forget %d sites: %w", len(ids), err)
	}
	if _, err := tx.Exec(ctx, "DELETE FROM site_state WHERE site_id = ANY($1)", ids); err != nil {
		return fmt.Errorf("forget the state of %d sites: %w", len(ids), err)
	}
	for _, table := range historyTables {
		if _, err := tx.Exec(ctx, "DELETE FROM "+table+" WHERE site_id = ANY($1)", ids); err != nil {
			return fmt.Errorf("forget the history of %d sites: %w", len(ids), err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("forget %d sites: %w", len(ids), err)
	}
	return nil
}

// isDeadlock tells whether err is PostgreSQL's deadlock_detected.
func isDeadlock(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "40P01"
}
