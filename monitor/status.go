package monitor

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// SiteStatus is the latest known state of a site.
type SiteStatus struct {
	// Up tells whether the site is up, as confirmed.
	Up bool `json:"up"`
	// CheckedAt is when the site was last checked.
	CheckedAt time.Time `json:"checked_at"`
	// Since is when the site entered its current state.
	Since time.Time `json:"since"`
	// StatusCode is the last HTTP status; 0 without a response.
	StatusCode int `json:"status_code"`
	// LatencyMS is the last check's time to the response, in milliseconds.
	LatencyMS float64 `json:"latency_ms"`
	// Reason says why the last check failed; empty when it did not.
	Reason string `json:"reason"`
	// CertExpiresAt is when the site's TLS certificate expires, for https.
	CertExpiresAt *time.Time `json:"cert_expires_at"`
}

// StatusResponse is the state of every site that has been checked.
type StatusResponse struct {
	// Sites contains the current status of all sites, keyed by the site ID.
	Sites map[int]SiteStatus `json:"sites"`
}

// Status returns the latest state of every site that exists and has been
// checked, from the state rows rather than the history.
func (s *Service) Status(ctx context.Context) (*StatusResponse, error) {
	rows, err := s.db.Query(ctx, `SELECT site_id, up, checked_at, since, COALESCE(status_code, 0),
		COALESCE(latency_ms, 0), reason, cert_expires_at FROM site_state WHERE checked_at IS NOT NULL`)
	if err != nil {
		return nil, fmt.Errorf("read status: %w", err)
	}
	defer rows.Close()
	resp := &StatusResponse{Sites: make(map[int]SiteStatus)}
	for rows.Next() {
		var id int
		var st SiteStatus
		if err := rows.Scan(&id, &st.Up, &st.CheckedAt, &st.Since, &st.StatusCode, &st.LatencyMS, &st.Reason,
			&st.CertExpiresAt); err != nil {
			return nil, fmt.Errorf("read status: %w", err)
		}
		resp.Sites[id] = st
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read status: %w", err)
	}
	return resp, nil
}

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
}

// Uptime is the share of checks that found a site up, in percent, over
// recent windows; null for a window without checks.
type Uptime struct {
	// Day covers the last 24 hours.
	Day *float64 `json:"24h"`
	// Week covers the last 7 days.
	Week *float64 `json:"7d"`
	// Month covers the last 30 days.
	Month *float64 `json:"30d"`
}

// HistoryResponse is a site's recent checks and uptime.
type HistoryResponse struct {
	// SiteID is the site's id.
	SiteID int `json:"site_id"`
	// Checks are the most recent checks, newest first.
	Checks []CheckRecord `json:"checks"`
	// Uptime is the share of successful checks over 24 hours, 7 and 30 days.
	Uptime Uptime `json:"uptime"`
}

// MaxHistory is the most checks History returns.
const MaxHistory = 1000

// History returns a site's latest checks, newest first, and its uptime
// percentages computed in the database.
func (s *Service) History(ctx context.Context, siteID, limit int) (*HistoryResponse, error) {
	rows, err := s.db.Query(ctx, `SELECT up, checked_at, COALESCE(status_code, 0), COALESCE(latency_ms, 0), reason
		FROM checks WHERE site_id = $1 ORDER BY checked_at DESC LIMIT $2`, siteID, limit)
	if err != nil {
		return nil, fmt.Errorf("read history of site %d: %w", siteID, err)
	}
	checks, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (CheckRecord, error) {
		var c CheckRecord
		err := row.Scan(&c.Up, &c.CheckedAt, &c.StatusCode, &c.LatencyMS, &c.Reason)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("read history of site %d: %w", siteID, err)
	}
	resp := &HistoryResponse{SiteID: siteID, Checks: checks}
	err = s.db.QueryRow(ctx, `SELECT
			100 * avg(up::int) FILTER (WHERE checked_at > now() - interval '24 hours'),
			100 * avg(up::int) FILTER (WHERE checked_at > now() - interval '7 days'),
			100 * avg(up::int)
		FROM checks WHERE site_id = $1 AND checked_at > now() - interval '30 days'`, siteID,
	).Scan(&resp.Uptime.Day, &resp.Uptime.Week, &resp.Uptime.Month)
	if err != nil {
		return nil, fmt.Errorf("compute uptime of site %d: %w", siteID, err)
	}
	return resp, nil
}
