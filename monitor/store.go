package monitor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"uptime/internal/text"
	"uptime/monitor/decide"
	"uptime/monitor/event"
	"uptime/monitor/history"
	"uptime/monitor/locations"
	"uptime/monitor/maintenance"
	"uptime/site"
)

// confirmedUp returns the site's confirmed state, as this location sees
// it. A site never checked counts as up, as in the tutorial.
func (s *Service) confirmedUp(ctx context.Context, siteID int64) (bool, error) {
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
func (s *Service) insertChecks(ctx context.Context, tx pgx.Tx, siteID int64, from string, attempts []Result) error {
	batch := &pgx.Batch{}
	for _, r := range attempts {
		batch.Queue(`INSERT INTO checks (site_id, up, checked_at, status_code, latency_ms, reason, cert_expires_at, degraded, maintenance, location)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			siteID, r.Up, r.CheckedAt, r.StatusOrNil(), r.LatencyMS(), r.Reason, r.CertExpiry, r.Degraded, r.Maintenance, from)
	}
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("record checks of site %d: %w", siteID, err)
	}
	return nil
}

// recordAttempts records the attempts made from a location without
// deciding anything from them: a confirmation cut short is no
// confirmation.
func (s *Service) recordAttempts(ctx context.Context, t *target, from string, attempts []Result) error {
	s.markMaintenance(ctx, t, attempts)
	return s.recordTx(ctx, t, attempts, func(tx pgx.Tx) error { return s.insertChecks(ctx, tx, t.ID, from, attempts) })
}

// record stores the attempts made from a location and decides the site's
// state from them, in one transaction.
func (s *Service) record(ctx context.Context, t *target, from string, attempts []Result) error {
	s.markMaintenance(ctx, t, attempts)
	return s.recordTx(ctx, t, attempts, func(tx pgx.Tx) error {
		if err := s.insertChecks(ctx, tx, t.ID, from, attempts); err != nil {
			return err
		}
		return s.decideTx(ctx, tx, t, from, attempts)
	})
}

// decide updates the site's state from a round's attempts already
// recorded.
func (s *Service) decide(ctx context.Context, t *target, from string, attempts []Result) error {
	return s.recordTx(ctx, t, nil, func(tx pgx.Tx) error {
		return s.decideTx(ctx, tx, t, from, attempts)
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
	held, err := lockScheduled(ctx, tx, []int64{t.ID})
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
	s.countChecks(t.URL, attempts)
	return nil
}

// lockScheduled holds the schedule of the sites with the ids until tx
// ends, and returns the ids of those still scheduled. Every transaction
// that records checks or decides a state calls it before anything else:
// it takes, shared, the lock that forget takes exclusively while it takes
// sites off the schedule (scheduleLock), then reads which of the sites
// are scheduled. So a site is either forgotten after its check commits,
// or its check finds it gone; and as both take that lock first, they can
// never wait on each other in a cycle. The lock is taken by a function of
// the schema's owner (migrations 13 and 20), so that a probe's role needs
// no right to change the schedule.
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

// decideTx decides the site's state from its latest round, made from the
// location from, in tx (see
// decide.Decide), records a change as the start or end of an incident, and
// publishes what the decision announces. The state row is locked while it
// is decided, so concurrent checks of one site, from one location or
// several, announce each change once.
func (s *Service) decideTx(ctx context.Context, tx pgx.Tx, t *target, from string, attempts []Result) error {
	id := t.ID
	if err := makeStates(ctx, tx, []int64{id}, []string{t.shown}); err != nil {
		return err
	}
	seen, err := readStates(ctx, tx, []int64{id}, true)
	if err != nil {
		return err
	}
	voters := []string{from} // a push site's signal is its whole round, wherever it came
	if !t.push {
		live, err := s.locations.Live(ctx, tx)
		if err != nil {
			return err
		}
		voters = locations.With(live, from)
	}
	parentDown, err := dependencyDown(ctx, tx, t.dependsOn)
	if err != nil {
		return err
	}
	out := decide.Decide(seen[id].state, decide.Round{Here: from, Attempts: attempts, Live: voters, DependencyDown: parentDown}, s.policy(t))
	if out.Stale {
		return nil
	}
	at := attempts[len(attempts)-1].CheckedAt
	if out.Changed {
		var err error
		if out.State.Up {
			err = history.CloseIncident(ctx, tx, t.ID, at)
		} else {
			err = history.OpenIncident(ctx, tx, t.ID, at, out.Cause)
		}
		if err != nil {
			return err
		}
	}
	if _, err := writeStates(ctx, tx, []stateWrite{{id: id, url: t.shown, state: out.State}}); err != nil {
		return err
	}
	s.states.drop(id) // its next round reads what this wrote
	return s.announce(ctx, tx, t, out)
}

// announce logs a decided change and publishes the decision's events in
// tx.
func (s *Service) announce(ctx context.Context, tx pgx.Tx, t *target, out decide.Outcome) error {
	if out.Changed {
		reason := out.State.Reason
		if !out.State.Up {
			reason = out.Cause
		}
		s.log.Info("site changed state", "site_id", t.ID, "url", text.LogURL(t.URL), "up", out.State.Up, "reason", reason,
			"down_at", out.DownAt)
	}
	for _, ev := range out.Events {
		if err := s.transitions.PublishTx(ctx, tx, t.event(ev)); err != nil {
			return err
		}
		if ev.Kind != event.Down && ev.Kind != event.Up {
			s.log.Info("site alert", "site_id", t.ID, "url", text.LogURL(t.URL), "event", ev.Kind, "reason", ev.Reason)
		}
	}
	return nil
}

// policy is how the target's settings, and the service's, decide its
// state.
func (s *Service) policy(t *target) decide.Policy {
	p := t.policy
	p.FlapChanges, p.FlapWindow = s.opts.FlapChanges, s.opts.FlapWindow
	return p
}

// forgetSlice is how many sites forget removes in one transaction.
const forgetSlice = 1000

// scheduleLock is the advisory lock that every transaction recording
// checks or deciding a state holds shared (see lockScheduled), and that
// forget holds exclusively while it takes sites off the schedule.
const scheduleLock = 0x75705f73 // "up_s"

// forget removes the sites' schedule, state and history, forgetSlice sites
// at a time, in the order of their ids. A first transaction, holding
// scheduleLock exclusively, takes them off the schedule and out of every
// view (their state, heartbeats, incidents, recent days) and lists them
// in forgetting: a check of one of them under way commits before, and is
// removed with the rest, or finds the site gone and records nothing. It
// is short, as recording waits for it. A second deletes their history,
// which can be long, and their row in forgetting; what a process stopped
// between the two leaves, reconciliation finishes (see Copy.Orphans). A
// transaction that PostgreSQL aborts for a deadlock (with a roll-up
// writing the same rows) is tried again.
func (s *Service) forget(ctx context.Context, ids []int64) error {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	for start := 0; start < len(ids); start += forgetSlice {
		part := ids[start:min(start+forgetSlice, len(ids))]
		for _, f := range []func(context.Context, []int64) error{s.unschedule, s.forgetHistory} {
			var err error
			for try := 0; try < 5; try++ {
				if err = f(ctx, part); !isDeadlock(err) {
					break
				}
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// unschedule takes the sites off the schedule and out of view, and lists
// them in forgetting, in one transaction under scheduleLock.
func (s *Service) unschedule(ctx context.Context, ids []int64) error {
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, scheduleLock); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM monitored WHERE site_id IN (
			SELECT site_id FROM monitored WHERE site_id = ANY($1) ORDER BY site_id FOR UPDATE)`, ids); err != nil {
			return err
		}
		if err := forgetStates(ctx, tx, ids); err != nil {
			return err
		}
		s.states.drop(ids...)
		for _, q := range []string{
			`DELETE FROM heartbeat WHERE site_id = ANY($1)`,
			`DELETE FROM heartbeat_signal WHERE site_id = ANY($1)`,
			`INSERT INTO forgetting (site_id) SELECT unnest($1::bigint[]) ON CONFLICT DO NOTHING`,
		} {
			if _, err := tx.Exec(ctx, q, ids); err != nil {
				return err
			}
		}
		return history.ForgetShown(ctx, tx, ids)
	})
	if err != nil {
		return fmt.Errorf("forget %d sites: %w", len(ids), err)
	}
	return nil
}

// forgetHistory deletes the history of sites unscheduled, and their row
// in forgetting, in one transaction.
func (s *Service) forgetHistory(ctx context.Context, ids []int64) error {
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if err := history.Forget(ctx, tx, ids); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM forgetting WHERE site_id = ANY($1)`, ids)
		return err
	})
	if err != nil {
		return fmt.Errorf("forget the history of %d sites: %w", len(ids), err)
	}
	return nil
}

// isDeadlock tells whether err is PostgreSQL's deadlock_detected.
func isDeadlock(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "40P01"
}

// markMaintenance marks the attempts made during a maintenance window of
// the site.
func (s *Service) markMaintenance(ctx context.Context, t *target, attempts []Result) {
	for i := range attempts {
		attempts[i].Maintenance = s.windows.Covers(ctx, t.ID, t.tags, attempts[i].CheckedAt)
	}
}

// InMaintenance returns which of the sites a maintenance window covers at
// at, by id, as their checks are marked.
func (s *Service) InMaintenance(ctx context.Context, sites []*site.Entry, at time.Time) map[int64]bool {
	return s.windows.Of(ctx, sites, at)
}

// Announced returns the maintenance periods that status pages of the
// sites announce at now (see maintenance.Windows.Announced).
func (s *Service) Announced(ctx context.Context, sites []*site.Entry, now time.Time) []maintenance.Announcement {
	return s.windows.Announced(ctx, sites, now)
}
