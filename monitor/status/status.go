// Package status reads what the monitor knows of each site now: its state
// row, as confirmed, with each live location's view, for GET /status and
// the status pages.
package status

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"uptime/internal/api"
	"uptime/monitor/decide"
	"uptime/monitor/locations"
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
	// Degraded tells whether the last check answered, but slower than the
	// site's max_latency.
	Degraded bool `json:"degraded"`
	// Paused tells whether the site is paused: not checked, not alerted.
	Paused bool `json:"paused"`
	// Locations are each location's own latest view of the site, by name:
	// {"up", "checked_at", "status_code", "latency_ms", "reason",
	// "streak"}; streak counts a recovering location's passing checks.
	Locations json.RawMessage `json:"locations"`
}

// StatusResponse is the state of every site that has been checked.
type StatusResponse struct {
	// Sites contains the current status of all sites, keyed by the site ID.
	Sites map[int]SiteStatus `json:"sites"`
}

// Reader reads the state rows of the monitor's database.
type Reader struct {
	db        *pgxpool.Pool
	locations *locations.Locations
	log       *slog.Logger
}

// New returns a reader of the state rows in db, which counts the views of
// the live locations alone.
func New(db *pgxpool.Pool, locations *locations.Locations, log *slog.Logger) *Reader {
	return &Reader{db: db, locations: locations, log: log}
}

// MaxStatusIDs is the most sites one status request may name.
const MaxStatusIDs = 1000

// Status returns the latest state of the sites with the ids, or of every
// site when ids is nil, that exist and have been checked: a StatusResponse,
// encoded as the state rows arrive, so that a hundred thousand sites cost
// neither a map, nor reflection, nor the whole response in memory.
func (s *Reader) Status(ctx context.Context, ids []int64) (api.Stream, error) {
	var (
		rows pgx.Rows
		err  error
	)
	live, err := s.locations.Live(ctx, s.db)
	if err != nil {
		return nil, err
	}
	if ids == nil {
		rows, err = s.db.Query(ctx, statusColumns, live)
	} else {
		rows, err = s.db.Query(ctx, statusColumns+" AND s.site_id = ANY($2)", live, ids)
	}
	if err != nil {
		return nil, fmt.Errorf("read status: %w", err)
	}
	return func(w io.Writer) error {
		defer rows.Close()
		var (
			b     = make([]byte, 0, 64<<10)
			id    int64
			st    SiteStatus
			first = true
		)
		b = append(b, `{"sites":{`...)
		_, err := pgx.ForEachRow(rows, statusFields(&id, &st), func() error {
			if !first {
				b = append(b, ',')
			}
			first = false
			b = appendSiteStatus(b, id, &st)
			if len(b) >= 60<<10 {
				_, err := w.Write(b)
				b = b[:0]
				return err
			}
			return nil
		})
		if err != nil {
			s.log.Warn("status response cut short", "err", err)
			return err
		}
		b = append(b, "}}\n"...)
		_, err = w.Write(b)
		return err
	}, nil
}

// statusColumns reads the state of the sites that have been checked from a
// location that is live ($1): a site whose every location is lost is
// unknown, as one never checked. Paused is the site's setting, not the
// copy's paused column, which also keeps push sites from the scheduler.
const statusColumns = `SELECT s.site_id, s.up, s.checked_at, s.since, COALESCE(s.status_code, 0), COALESCE(s.latency_ms, 0),
	s.reason, s.cert_expires_at, s.degraded, COALESCE((m.settings->>'paused')::boolean, false), s.locations::text
	FROM site_state s LEFT JOIN monitored m USING (site_id)
	WHERE s.checked_at IS NOT NULL AND (s.locations = '{}' OR s.locations ?| $1::text[])`

// statusFields are where statusColumns are read into.
func statusFields(id *int64, st *SiteStatus) []any {
	return []any{id, &st.Up, &st.CheckedAt, &st.Since, &st.StatusCode, &st.LatencyMS,
		&st.Reason, &st.CertExpiresAt, &st.Degraded, &st.Paused, &st.Locations}
}

// States returns the latest state of each of the sites that has been
// checked; a site missing from the map never was.
func (s *Reader) States(ctx context.Context, ids []int64) (map[int64]SiteStatus, error) {
	live, err := s.locations.Live(ctx, s.db)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, statusColumns+" AND s.site_id = ANY($2)", live, ids)
	if err != nil {
		return nil, fmt.Errorf("read the state of %d sites: %w", len(ids), err)
	}
	out := make(map[int64]SiteStatus, len(ids))
	var (
		id int64
		st SiteStatus
	)
	_, err = pgx.ForEachRow(rows, statusFields(&id, &st), func() error {
		if st.CertExpiresAt != nil { // its own, not the one the next row is read into
			st.CertExpiresAt = new(*st.CertExpiresAt)
		}
		st.Locations = slices.Clone(st.Locations)
		out[id] = st
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the state of %d sites: %w", len(ids), err)
	}
	return out, nil
}

// appendSiteStatus appends "id":{...} as encoding/json would write a
// SiteStatus.
func appendSiteStatus(b []byte, id int64, st *SiteStatus) []byte {
	b = append(b, '"')
	b = strconv.AppendInt(b, id, 10)
	b = append(b, `":{"up":`...)
	b = strconv.AppendBool(b, st.Up)
	b = append(b, `,"checked_at":`...)
	b = appendTime(b, st.CheckedAt)
	b = append(b, `,"since":`...)
	b = appendTime(b, st.Since)
	b = append(b, `,"status_code":`...)
	b = strconv.AppendInt(b, int64(st.StatusCode), 10)
	b = append(b, `,"latency_ms":`...)
	b = appendFloat(b, st.LatencyMS)
	b = append(b, `,"reason":`...)
	b = appendString(b, st.Reason)
	b = append(b, `,"cert_expires_at":`...)
	if st.CertExpiresAt == nil {
		b = append(b, "null"...)
	} else {
		b = appendTime(b, *st.CertExpiresAt)
	}
	b = append(b, `,"degraded":`...)
	b = strconv.AppendBool(b, st.Degraded)
	b = append(b, `,"paused":`...)
	b = strconv.AppendBool(b, st.Paused)
	b = append(b, `,"locations":`...)
	if len(st.Locations) == 0 {
		b = append(b, "null"...)
	} else {
		b = appendLocations(b, st.Locations)
	}
	return append(b, '}')
}

// appendLocations writes the locations' views as the top level of a
// SiteStatus is written (times in UTC, a status code of 0 without an
// answer, the fields in one order, no spaces), not as PostgreSQL writes
// the JSONB it keeps them in.
func appendLocations(b []byte, raw json.RawMessage) []byte {
	var views map[string]decide.Location
	if err := json.Unmarshal(raw, &views); err != nil {
		return append(b, raw...)
	}
	names := slices.Sorted(maps.Keys(views))
	b = append(b, '{')
	for i, name := range names {
		v := views[name]
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, name)
		b = append(b, `:{"up":`...)
		b = strconv.AppendBool(b, v.Up)
		b = append(b, `,"checked_at":`...)
		b = appendTime(b, v.CheckedAt.UTC())
		b = append(b, `,"status_code":`...)
		status := 0
		if v.StatusCode != nil {
			status = *v.StatusCode
		}
		b = strconv.AppendInt(b, int64(status), 10)
		b = append(b, `,"latency_ms":`...)
		b = appendFloat(b, v.LatencyMS)
		b = append(b, `,"reason":`...)
		b = appendString(b, v.Reason)
		b = append(b, `,"streak":`...)
		b = strconv.AppendInt(b, int64(v.Streak), 10)
		b = append(b, '}')
	}
	return append(b, '}')
}

func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, '0')
	}
	if a := math.Abs(f); a != 0 && (a < 1e-6 || a >= 1e21) {
		v, _ := json.Marshal(f)
		return append(b, v...)
	}
	return strconv.AppendFloat(b, f, 'f', -1, 64)
}

// appendString appends s as a JSON string; plain text is copied as it is.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' || c >= 0x80 {
			v, _ := json.Marshal(s)
			return append(b, v...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
