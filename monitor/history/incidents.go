package history

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"uptime/internal/api"
	"uptime/internal/dbutil"
	"uptime/internal/errs"
	"uptime/internal/text"
	"uptime/monitor/history/packed"
)

// Incident is a confirmed down period of a site.
type Incident struct {
	// ID is the incident's id; newer incidents have higher ones.
	ID int64 `json:"id"`
	// SiteID is the site's id.
	SiteID int64 `json:"site_id"`
	// StartedAt is when the site was confirmed down.
	StartedAt time.Time `json:"started_at"`
	// EndedAt is when it was confirmed up again; null while it lasts.
	EndedAt *time.Time `json:"ended_at"`
	// Cause is the reason of the check that confirmed it down.
	Cause string `json:"cause"`
	// Checks is how many checks it has lasted.
	Checks int64 `json:"checks"`
}

// IncidentsResponse is a page of incidents, newest first.
type IncidentsResponse struct {
	Incidents []Incident `json:"incidents"`
}

// IncidentQuery picks incidents: of some sites (all when nil), with an id
// below BeforeID or started before Before, or lasting into Since, newest
// first, at most Limit.
type IncidentQuery struct {
	Sites    []int64
	IDs      []int64 // only these, when given
	BeforeID int64
	Before   time.Time
	Since    time.Time
	Limit    int
}

// MaxIncidents is the most incidents one request returns.
const MaxIncidents = 1000

// OpenIncident records that the site went down at, for cause; a site
// already in an incident stays in it.
func OpenIncident(ctx context.Context, tx pgx.Tx, siteID int64, at time.Time, cause string) error {
	if _, err := tx.Exec(ctx, `INSERT INTO incident (site_id, started_at, cause) VALUES ($1, $2, $3)
		ON CONFLICT (site_id) WHERE ended_at IS NULL DO NOTHING`, siteID, at, cause); err != nil {
		return fmt.Errorf("open an incident of site %d: %w", siteID, err)
	}
	return nil
}

// CloseIncident ends the site's open incident at, with its checks counted.
func CloseIncident(ctx context.Context, tx pgx.Tx, siteID int64, at time.Time) error {
	var started time.Time
	err := tx.QueryRow(ctx, "SELECT started_at FROM incident WHERE site_id = $1 AND ended_at IS NULL", siteID).Scan(&started)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("close the incident of site %d: %w", siteID, err)
	}
	old, err := countPacked(ctx, tx, []int64{siteID}, []time.Time{started}, at)
	if err != nil {
		return fmt.Errorf("close the incident of site %d: %w", siteID, err)
	}
	if _, err := tx.Exec(ctx, `UPDATE incident i SET ended_at = $2, checks = $3 + (
			SELECT count(*) FROM checks c WHERE c.site_id = $1 AND c.checked_at >= i.started_at AND c.checked_at < $2)
		WHERE site_id = $1 AND ended_at IS NULL`, siteID, at, old[siteID]); err != nil {
		return fmt.Errorf("close the incident of site %d: %w", siteID, err)
	}
	return nil
}

// countPacked counts each site's packed checks from its time in froms
// until to (for ever, when zero), by site: a day wholly inside by its
// count, a day the bounds cut by unpacking it.
func countPacked(ctx context.Context, q dbutil.Querier, sites []int64, froms []time.Time, to time.Time) (map[int64]int64, error) {
	var end *time.Time
	if !to.IsZero() {
		end = &to
	}
	days := make([]string, len(froms))
	for i, f := range froms {
		days[i] = dayOf(f).Format(time.DateOnly)
	}
	rows, err := q.Query(ctx, `SELECT p.site_id, r.since, p.checks, p.first_at, p.last_at, p.data
		FROM unnest($1::bigint[], $2::timestamptz[], $3::date[]) AS r(site_id, since, day)
		JOIN checks_packed p ON p.site_id = r.site_id AND p.day >= r.day AND p.last_at >= r.since
			AND ($4::timestamptz IS NULL OR p.first_at < $4)`, sites, froms, days, end)
	if err != nil {
		return nil, fmt.Errorf("count packed checks: %w", err)
	}
	out := map[int64]int64{}
	var (
		site        int64
		since       time.Time
		n           int64
		first, last time.Time
		data        []byte
	)
	_, err = pgx.ForEachRow(rows, []any{&site, &since, &n, &first, &last, &data}, func() error {
		if !first.Before(since) && (end == nil || last.Before(to)) {
			out[site] += n
			return nil
		}
		cs, err := packed.Decode(data)
		if err != nil {
			return fmt.Errorf("site %d: %w", site, err)
		}
		for _, c := range cs {
			if !c.At.Before(since) && (end == nil || c.At.Before(to)) {
				out[site]++
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("count packed checks: %w", err)
	}
	return out, nil
}

// Incidents returns the incidents the query picks. An open incident's
// checks are counted as it is read.
func (s *History) Incidents(ctx context.Context, q IncidentQuery) (*IncidentsResponse, error) {
	where, args := []string{"true"}, []any{}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if q.Sites != nil {
		where = append(where, "site_id = ANY("+arg(q.Sites)+")")
	}
	if q.IDs != nil {
		where = append(where, "id = ANY("+arg(q.IDs)+")")
	}
	if q.BeforeID > 0 {
		where = append(where, "id < "+arg(q.BeforeID))
	}
	if !q.Before.IsZero() {
		where = append(where, "started_at < "+arg(q.Before))
	}
	if !q.Since.IsZero() {
		where = append(where, "(ended_at IS NULL OR ended_at >= "+arg(q.Since)+")")
	}
	limit := arg(q.Limit)
	rows, err := s.db.Query(ctx, `SELECT id, site_id, started_at, ended_at, cause,
			COALESCE(checks, (SELECT count(*) FROM checks c WHERE c.site_id = i.site_id AND c.checked_at >= i.started_at))
		FROM incident i WHERE `+strings.Join(where, " AND ")+` ORDER BY id DESC LIMIT `+limit, args...)
	if err != nil {
		return nil, fmt.Errorf("read incidents: %w", err)
	}
	out := &IncidentsResponse{Incidents: []Incident{}}
	var in Incident
	_, err = pgx.ForEachRow(rows, []any{&in.ID, &in.SiteID, &in.StartedAt, &in.EndedAt, &in.Cause, &in.Checks}, func() error {
		if in.EndedAt != nil {
			in.EndedAt = ptrTo(*in.EndedAt)
		}
		out.Incidents = append(out.Incidents, in)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read incidents: %w", err)
	}
	// An open incident's checks of the days packed since it began.
	var open []int64
	var since []time.Time
	for _, in := range out.Incidents {
		if in.EndedAt == nil {
			open, since = append(open, in.SiteID), append(since, in.StartedAt)
		}
	}
	if len(open) > 0 {
		old, err := countPacked(ctx, s.db, open, since, time.Time{})
		if err != nil {
			return nil, fmt.Errorf("read incidents: %w", err)
		}
		for i, in := range out.Incidents {
			if in.EndedAt == nil {
				out.Incidents[i].Checks += old[in.SiteID]
			}
		}
	}
	return out, nil
}

// HandleIncidents serves GET /incident?site=&limit=&before= → the
// incidents, newest first; before is an incident's id (the next page after
// the last one shown) or a time.
func (s *History) HandleIncidents(r *http.Request) (any, error) {
	q := IncidentQuery{}
	var err error
	if q.Limit, err = api.QueryLimit(r, "limit", 50, MaxIncidents); err != nil {
		return nil, err
	}
	if v := r.URL.Query().Get("site"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id < 1 {
			return nil, errs.Errorf(errs.InvalidArgument, "site must be a site id, got %s", text.Quote(v))
		}
		q.Sites = []int64{id}
	}
	if v := r.URL.Query().Get("before"); v != "" {
		if id, err := strconv.ParseInt(v, 10, 64); err == nil && id > 0 {
			q.BeforeID = id
		} else if t, err := time.Parse(time.RFC3339, v); err == nil {
			q.Before = t
		} else {
			return nil, errs.Errorf(errs.InvalidArgument, "before must be an incident id or a time like 2026-11-01T00:00:00Z, got %s", text.Quote(v))
		}
	}
	return s.Incidents(r.Context(), q)
}
