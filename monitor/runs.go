package monitor

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"uptime/internal/api"
	"uptime/internal/errs"
	"uptime/internal/text"
)

// RunsResponse is what GET /runs/:siteID answers: a push site's schedule,
// its last signals and when the next is due.
type RunsResponse struct {
	SiteID int64 `json:"site_id"`
	// Schedule is when its job is expected, in words.
	Schedule string `json:"schedule"`
	// LastSignalAt and LastSuccessAt are when its job last reported in,
	// and last reported success; null before it ever did.
	LastSignalAt  *time.Time `json:"last_signal_at"`
	LastSuccessAt *time.Time `json:"last_success_at"`
	// ExpectedAt is when the run awaited is expected, DueAt when the site
	// is down without a signal: null while none is awaited (before its
	// first run ends, and while paused).
	ExpectedAt *time.Time `json:"expected_at"`
	DueAt      *time.Time `json:"due_at"`
	// Going are the runs begun and not ended.
	Going []RunGoing `json:"going"`
	// Signals are the latest signals, newest first.
	Signals []SignalRecord `json:"signals"`
}

// A RunGoing is a run begun (/start) and not ended.
type RunGoing struct {
	RID       string    `json:"rid"`
	StartedAt time.Time `json:"started_at"`
}

// A SignalRecord is one signal of a push site's job.
type SignalRecord struct {
	At time.Time `json:"at"`
	// Kind is success, fail, exit (with ExitCode), start or log.
	Kind     string `json:"kind"`
	ExitCode *int   `json:"exit_code"`
	RID      string `json:"rid"`
	// DurationMS is how long the run it ended took, from its start; null
	// where no start was signalled.
	DurationMS *int64 `json:"duration_ms"`
	// Body is what a POST carried, what looks like a credential hidden.
	Body string `json:"body"`
}

// Runs returns a push site's schedule, its runs going and its latest
// limit signals.
func (s *Service) Runs(ctx context.Context, id int64, limit int) (*RunsResponse, error) {
	tx, err := s.db.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx)
	st, err := scanPush(tx.QueryRow(ctx, `SELECT `+pushColumns+` FROM heartbeat WHERE site_id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errs.Errorf(errs.NotFound, "site %d is no push site", id)
	}
	if err != nil {
		return nil, fmt.Errorf("read the heartbeat of site %d: %w", id, err)
	}
	out := &RunsResponse{SiteID: id, Schedule: st.schedule.String(), LastSignalAt: st.lastSignal, LastSuccessAt: st.lastSuccess,
		ExpectedAt: st.expected}
	if err := tx.QueryRow(ctx, `SELECT due_at FROM heartbeat WHERE site_id = $1`, id).Scan(&out.DueAt); err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, `SELECT rid, started_at FROM heartbeat_run WHERE site_id = $1 ORDER BY started_at`, id)
	if err != nil {
		return nil, err
	}
	if out.Going, err = pgx.CollectRows(rows, pgx.RowToStructByPos[RunGoing]); err != nil {
		return nil, err
	}
	rows, err = tx.Query(ctx, `SELECT at, kind, exit_code, rid, duration_ms, body FROM heartbeat_signal
		WHERE site_id = $1 ORDER BY at DESC LIMIT $2`, id, limit)
	if err != nil {
		return nil, err
	}
	if out.Signals, err = pgx.CollectRows(rows, pgx.RowToStructByPos[SignalRecord]); err != nil {
		return nil, err
	}
	for i := range out.Signals {
		out.Signals[i].Body = text.RedactOutput(out.Signals[i].Body)
	}
	return out, nil
}

// handleRuns serves GET /runs/:siteID?limit=.
func (s *Service) handleRuns(r *http.Request) (any, error) {
	id, err := api.PathID(r, "siteID")
	if err != nil {
		return nil, err
	}
	limit, err := api.QueryLimit(r, "limit", 20, keptSignals)
	if err != nil {
		return nil, err
	}
	return s.Runs(r.Context(), id, limit)
}
