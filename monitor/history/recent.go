package history

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"uptime/monitor/history/packed"
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
	// Maintenance tells whether the check was made in a maintenance
	// window, which uptime leaves out.
	Maintenance bool `json:"maintenance"`
	// CertExpiresAt is when the site's certificate expires, when it gave
	// one.
	CertExpiresAt *time.Time `json:"cert_expires_at,omitempty"`
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

// Recent returns a site's latest checks before before (the latest of all
// when zero), newest first, and its uptime percentages, computed from the
// rollups.
func (s *History) Recent(ctx context.Context, siteID int64, before time.Time, limit int) (*HistoryResponse, error) {
	checks, err := s.Checks(ctx, siteID, before, limit)
	if err != nil {
		return nil, err
	}
	up, err := s.Uptime(ctx, siteID, time.Now())
	if err != nil {
		return nil, err
	}
	return &HistoryResponse{SiteID: siteID, Checks: checks, Uptime: up}, nil
}

// Checks returns a site's latest checks before before (of all, when
// zero), newest first, at most limit: from the raw checks and the packed
// days alike, which hold no check twice.
func (s *History) Checks(ctx context.Context, siteID int64, before time.Time, limit int) ([]CheckRecord, error) {
	const columns = `up, checked_at, COALESCE(status_code, 0), COALESCE(latency_ms, 0), reason, degraded, COALESCE(location, ''),
		maintenance, cert_expires_at`
	// The raw checks, and where the packed days end: for the latest
	// checks, the last packed day; for older ones, that day's rows, which
	// a page far back reads anyway.
	const packedDays = `SELECT day, location, data FROM checks_packed
		WHERE site_id = $1 AND day < $2 AND day >= COALESCE((SELECT min(day) FROM (
			SELECT DISTINCT day FROM checks_packed WHERE site_id = $1 AND day < $2 ORDER BY day DESC LIMIT $3) d), $2)
		ORDER BY day DESC`
	batch := &pgx.Batch{}
	if before.IsZero() {
		batch.Queue(`SELECT `+columns+` FROM checks WHERE site_id = $1 ORDER BY checked_at DESC LIMIT $2`, siteID, limit)
		batch.Queue(`SELECT max(day), NULL::text, NULL::bytea FROM checks_packed WHERE site_id = $1`, siteID)
	} else {
		batch.Queue(`SELECT `+columns+` FROM checks WHERE site_id = $1 AND checked_at < $2 ORDER BY checked_at DESC LIMIT $3`,
			siteID, before, limit)
		batch.Queue(packedDays, siteID, dayOf(before).AddDate(0, 0, 1), 1)
	}
	br := s.db.SendBatch(ctx, batch)
	defer br.Close()
	rows, _ := br.Query()
	checks, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (CheckRecord, error) {
		var c CheckRecord
		err := row.Scan(&c.Up, &c.CheckedAt, &c.StatusCode, &c.LatencyMS, &c.Reason, &c.Degraded, &c.Location, &c.Maintenance, &c.CertExpiresAt)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("read history of site %d: %w", siteID, err)
	}
	var (
		old        []CheckRecord
		lastPacked *time.Time
		day        *time.Time
		location   *string
		data       []byte
	)
	// keep takes a packed day's checks before before.
	keep := func() error {
		cs, err := packed.Decode(data)
		if err != nil {
			return fmt.Errorf("site %d's checks of %s from %q: %w", siteID, day.Format(time.DateOnly), *location, err)
		}
		// In time order: the newest limit before before are all that
		// can be shown.
		end := len(cs)
		if !before.IsZero() {
			end = sort.Search(len(cs), func(i int) bool { return !cs[i].At.Before(before) })
		}
		for _, c := range cs[max(0, end-limit):end] {
			old = append(old, record(c, *location))
		}
		return nil
	}
	rows, _ = br.Query()
	_, err = pgx.ForEachRow(rows, []any{&day, &location, &data}, func() error {
		lastPacked = day
		if location == nil {
			return nil // the last packed day alone
		}
		return keep()
	})
	if err != nil {
		return nil, fmt.Errorf("read history of site %d: %w", siteID, err)
	}
	if err := br.Close(); err != nil {
		return nil, fmt.Errorf("read history of site %d: %w", siteID, err)
	}
	// The raw checks found are the latest unless a packed day reaches them.
	if lastPacked == nil || old == nil && len(checks) == limit && lastPacked.Before(dayOf(checks[limit-1].CheckedAt)) {
		return checks, nil
	}

	// Packed days, newest first, more of them each time, until limit
	// checks before before are found; then the newest of both.
	until, days := lastPacked.AddDate(0, 0, 1), 1
	if !before.IsZero() {
		until, days = *lastPacked, 2 // the first day is read
	}
	for len(old) < limit {
		rows, err := s.db.Query(ctx, packedDays, siteID, until, days)
		if err != nil {
			return nil, fmt.Errorf("read history of site %d: %w", siteID, err)
		}
		n := 0
		_, err = pgx.ForEachRow(rows, []any{&day, &location, &data}, func() error {
			n++
			until = *day
			return keep()
		})
		if err != nil {
			return nil, fmt.Errorf("read history of site %d: %w", siteID, err)
		}
		if n == 0 {
			break
		}
		days *= 2
	}
	checks = append(checks, old...)
	slices.SortStableFunc(checks, func(a, b CheckRecord) int { return b.CheckedAt.Compare(a.CheckedAt) })
	return checks[:min(limit, len(checks))], nil
}

// dayOf returns the UTC day that holds t, as a date column holds it.
func dayOf(t time.Time) time.Time {
	return checksTable.period(t)
}

// record returns a packed check as the history shows it.
func record(c packed.Check, location string) CheckRecord {
	// In the zone the raw checks are read in.
	r := CheckRecord{Up: c.Up, CheckedAt: c.At.Local(), Reason: c.Reason, Degraded: c.Degraded, Location: location,
		Maintenance: c.Maintenance}
	if c.CertExpires != nil {
		r.CertExpiresAt = ptrTo(c.CertExpires.Local())
	}
	if c.Status != nil {
		r.StatusCode = *c.Status
	}
	if c.LatencyMS != nil {
		r.LatencyMS = *c.LatencyMS
	}
	return r
}
