package monitor

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"uptime/internal/errs"
	"uptime/site"
)

// A push site's job reports in at its ping URL; each signal is recorded
// as a check of the site (a success is up, a failure down, with its
// reason) and decided as any check is. Its deadline, the next signal's
// expected time plus the grace, is a row in the heartbeat table: every
// instance looks each second for deadlines passed, and one of them
// records the site down, once, in the transaction that clears the
// deadline.

// signalOf reads what a ping URL says after its token: nothing for a
// success, "fail" for a failure, or an exit code from 0 (success) to 255.
func signalOf(what string) (up bool, reason string, err error) {
	switch what {
	case "":
		return true, "", nil
	case "fail":
		return false, "the job reported a failure", nil
	}
	code, err := strconv.Atoi(what)
	if err != nil || code < 0 || code > 255 || strconv.Itoa(code) != what {
		return false, "", errs.Errorf(errs.NotFound, "a ping URL ends with its token, /fail, or an exit code from 0 to 255")
	}
	if code == 0 {
		return true, "", nil
	}
	return false, fmt.Sprintf("exit code %d", code), nil
}

// Signal records what the job of the push site whose token is token
// reported (see signalOf). An unknown token is not found; a signal of a
// paused site is taken and changes nothing.
func (s *Service) Signal(ctx context.Context, token, what string) error {
	up, reason, err := signalOf(what)
	if err != nil {
		return err
	}
	hash := site.HashToken(token)
	var id int64
	err = s.db.QueryRow(ctx, "SELECT site_id FROM heartbeat WHERE token_hash = $1", hash).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return errs.Errorf(errs.NotFound, "no push site has this ping URL")
	}
	if err != nil {
		return fmt.Errorf("find the push site of a signal: %w", err)
	}
	t, paused, err := s.pushTarget(ctx, id)
	if err != nil || paused {
		return err
	}
	attempts := []Result{{Up: up, Reason: reason, CheckedAt: time.Now()}}
	s.markMaintenance(ctx, t, attempts)
	err = s.recordTx(ctx, t, attempts, func(tx pgx.Tx) error {
		// The heartbeat's row after the schedule's and before the state's,
		// as the deadline's pass takes them.
		tag, err := tx.Exec(ctx, `UPDATE heartbeat SET last_signal_at = $2,
				last_success_at = CASE WHEN $3 THEN $2 ELSE last_success_at END,
				due_at = CASE WHEN $3 AND NOT paused THEN $2 + (period_ms + grace_ms) * interval '1 millisecond' END
			WHERE site_id = $1 AND token_hash = $4`, id, attempts[0].CheckedAt, up, hash)
		if err != nil {
			return fmt.Errorf("record a signal of site %d: %w", id, err)
		}
		if tag.RowsAffected() == 0 { // its token was made anew meanwhile
			return errs.Errorf(errs.NotFound, "no push site has this ping URL")
		}
		if err := s.insertChecks(ctx, tx, id, s.opts.Location, attempts); err != nil {
			return err
		}
		return s.decideTx(ctx, tx, t, s.opts.Location, attempts)
	})
	return err
}

// pushTarget returns the push site with the id as the monitor's copy
// holds it, and whether it is paused.
func (s *Service) pushTarget(ctx context.Context, id int64) (*target, bool, error) {
	e, shown, found, err := s.copy.Entry(ctx, id)
	if err != nil {
		return nil, false, err
	}
	if !found {
		return nil, false, errs.Errorf(errs.NotFound, "no push site has this ping URL")
	}
	c := s.config(&e)
	return newTarget(e.Site, shown, c), c.Paused, nil
}

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
	rows, err := s.db.Query(ctx, `SELECT site_id FROM heartbeat WHERE due_at <= now() ORDER BY due_at LIMIT 1000`)
	if err != nil {
		return 0, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		missed, err := s.missed(ctx, id)
		if err != nil {
			return n, err
		}
		if missed {
			n++
		}
	}
	return n, nil
}

// missed records the push site with the id down for a missed deadline,
// in the transaction that clears it, unless a signal or another instance
// came first.
func (s *Service) missed(ctx context.Context, id int64) (bool, error) {
	t, _, err := s.pushTarget(ctx, id)
	if errs.Is(err, errs.NotFound) {
		return false, nil // deleted since
	}
	if err != nil {
		return false, err
	}
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback(ctx)
	if held, err := lockScheduled(ctx, tx, []int64{id}); err != nil || len(held) == 0 {
		return false, err
	}
	var last, due time.Time
	var period time.Duration
	err = tx.QueryRow(ctx, `SELECT last_success_at, due_at, period_ms * interval '1 millisecond' FROM heartbeat
		WHERE site_id = $1 AND due_at <= now() FOR UPDATE SKIP LOCKED`, id).Scan(&last, &due, &period)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil // a signal came, or another instance has it
	}
	if err != nil {
		return false, fmt.Errorf("read the deadline of site %d: %w", id, err)
	}
	attempts := []Result{{Up: false, CheckedAt: time.Now(),
		Reason: fmt.Sprintf("no signal since %s, expected by %s", when(last), when(last.Add(period)))}}
	s.markMaintenance(ctx, t, attempts)
	if err := s.insertChecks(ctx, tx, id, s.opts.Location, attempts); err != nil {
		return false, err
	}
	if err := s.decideTx(ctx, tx, t, s.opts.Location, attempts); err != nil {
		return false, err
	}
	if _, err := tx.Exec(ctx, `UPDATE heartbeat SET due_at = NULL WHERE site_id = $1`, id); err != nil {
		return false, fmt.Errorf("clear the deadline of site %d: %w", id, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("record the missed deadline of site %d: %w", id, err)
	}
	s.countChecks(t.URL, attempts)
	return true, nil
}

// when is a time as a missed deadline's reason says it: in UTC, with its
// date unless it is today's.
func when(at time.Time) string {
	at = at.UTC()
	if at.Format(time.DateOnly) == time.Now().UTC().Format(time.DateOnly) {
		return at.Format("15:04 MST")
	}
	return at.Format("Jan 2 15:04 MST")
}

// handleSignal serves GET, HEAD and POST on a ping URL,
// /heartbeat/<token>[/<signal>], open to anyone with the token: OK, or not
// found for a token no push site has.
func (s *Service) handleSignal(w http.ResponseWriter, r *http.Request) {
	err := s.Signal(r.Context(), r.PathValue("token"), r.PathValue("signal"))
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	switch {
	case err == nil:
		w.Write([]byte("OK\n"))
	case errs.Is(err, errs.NotFound):
		var e *errs.Error
		errors.As(err, &e)
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte("not found: " + e.Message + "\n"))
	default:
		s.log.Warn("push sites: could not record a signal", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("could not record the signal; try again\n"))
	}
}
