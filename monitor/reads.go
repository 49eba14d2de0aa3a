package monitor

import (
	"context"
	"time"

	"uptime/internal/api"
	"uptime/monitor/history"
	"uptime/monitor/locations"
	"uptime/monitor/status"

	"github.com/prometheus/client_golang/prometheus"
)

// History is the history of the checks the monitor records.
func (s *Service) History() *history.History { return s.history }

// Uptime is a site's uptime over the windows of history.Uptime.
func (s *Service) Uptime(ctx context.Context, siteID int64, now time.Time) (history.Uptime, error) {
	return s.history.Uptime(ctx, siteID, now)
}

// DaysOf is the last n days of each site, as history.DaysOf gives them.
func (s *Service) DaysOf(ctx context.Context, ids []int64, n int, now time.Time) (map[int64][]history.DayRecord, error) {
	return s.history.DaysOf(ctx, ids, n, now)
}

// Checks are a site's latest checks before before, newest first, at most
// limit, as history.Checks gives them.
func (s *Service) Checks(ctx context.Context, siteID int64, before time.Time, limit int) ([]history.CheckRecord, error) {
	return s.history.Checks(ctx, siteID, before, limit)
}

// Incidents are the confirmed down periods the query asks for.
func (s *Service) Incidents(ctx context.Context, q history.IncidentQuery) (*history.IncidentsResponse, error) {
	return s.history.Incidents(ctx, q)
}

// Locations are where checks are made from, with their instances.
func (s *Service) Locations(ctx context.Context) (*locations.LocationsResponse, error) {
	return s.locations.Locations(ctx)
}

// Forget removes a location that checks no more.
func (s *Service) Forget(ctx context.Context, name string) error {
	return s.locations.Forget(ctx, name)
}

// LocationCollector returns the collector of uptime_location_up.
func (s *Service) LocationCollector() prometheus.Collector { return s.locations.Collector() }

// Status is the latest state of the sites with the ids, or of every site
// checked when ids is nil, as a stream of a status.StatusResponse.
func (s *Service) Status(ctx context.Context, ids []int64) (api.Stream, error) {
	return s.status.Status(ctx, ids)
}

// States is the latest state of each of the sites that has been checked.
func (s *Service) States(ctx context.Context, ids []int64) (map[int64]status.SiteStatus, error) {
	return s.status.States(ctx, ids)
}

// SiteCollector returns the collector of the per-site series.
func (s *Service) SiteCollector() prometheus.Collector { return s.status.SiteCollector() }

// InstanceID names this process: its row in the instance table, and (as
// the wiring sets it) its River client, so that the leader River elected
// is known by it.
func (s *Service) InstanceID() string { return s.locations.InstanceID }
