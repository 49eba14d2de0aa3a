package history

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// CheckRecord is one recorded check.
type CheckRecord struct {
	// Up tells whether the site was up.
	Up bool `json:"up"`
	// CheckedAt is when the check started.
	CheckedAt time.Time `json:"checked_at"`
	// StatusCode is the HTTP status; 0 without a response.
	StatusCode int `json:"status_code"`
	// LatencyMS is the time to the response, in milliseconds.
	LatencyMS float64 `json:"latency_ms"`
	// Reason says why the check failed; empty when it did not.
	Reason string `json:"reason"`
	// Degraded tells whether the site answered, but slower than its
	// max_latency.
	Degraded bool `json:"degraded"`
	// Location is where the check was made from; empty for checks made
	// before locations were recorded.
	Location string `json:"location"`
}

// HistoryResponse is a site's recent checks and uptime.
type HistoryResponse struct {
	// SiteID is the site's id.
	SiteID int64 `json:"site_id"`
	// Checks are the most recent checks, newest first.
	Checks []CheckRecord `json:"checks"`
	// Uptime is the share of successful checks over 24 hours, 7, 30, 90
	// and 365 days.
	Uptime Uptime `json:"uptime"`
}

// MaxHistory is the most checks Recent returns.
const MaxHistory = 1000

// Recent returns a site's latest checks, newest first, and its uptime
// percentages, computed from the rollups.
func (s *History) Recent(ctx context.Context, siteID int64, limit int) (*HistoryResponse, error) {
	rows, err := s.db.Query(ctx, `SELECT up, checked_at, COALESCE(status_code, 0), COALESCE(latency_ms, 0), reason, degraded,
			COALESCE(location, '')
		FROM checks WHERE site_id = $1 ORDER BY checked_at DESC LIMIT $2`, siteID, limit)
	if err != nil {
		return nil, fmt.Errorf("read history of site %d: %w", siteID, err)
	}
	checks, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (CheckRecord, error) {
		var c CheckRecord
		err := row.Scan(&c.Up, &c.CheckedAt, &c.StatusCode, &c.LatencyMS, &c.Reason, &c.Degraded, &c.Location)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("read history of site %d: %w", siteID, err)
	}
	up, err := s.Uptime(ctx, siteID, time.Now())
	if err != nil {
		return nil, err
	}
	return &HistoryResponse{SiteID: siteID, Checks: checks, Uptime: up}, nil
}
