// Package statuspage is the monitor's public face: status pages and
// badges.
package statuspage

import (
	"context"
	"time"

	"uptime/internal/api"
	"uptime/monitor"
	"uptime/site"
)

// Monitor is what the public face reads of the monitor.
type Monitor interface {
	States(ctx context.Context, ids []int64) (map[int64]monitor.SiteStatus, error)
	Uptime(ctx context.Context, siteID int, now time.Time) (monitor.Uptime, error)
}

// Sites is what the public face reads of the site service.
type Sites interface {
	Entry(ctx context.Context, id int) (*site.Entry, error)
}

// Service serves status pages and badges.
type Service struct {
	sites Sites
	mon   Monitor
	now   func() time.Time
}

// New returns the service.
func New(sites Sites, mon Monitor) *Service {
	return &Service{sites: sites, mon: mon, now: time.Now}
}

// Register adds the service's endpoints to srv.
func (s *Service) Register(srv *api.Server) {
	label := api.Param{Name: "label", Type: "string", Description: "the text on the left"}
	svg := "image/svg+xml"
	srv.Handle("GET /badge/{siteID}/status.svg", s.handleStatusBadge, api.Doc{
		Summary: "A badge of the site's state", Public: true, ContentType: svg, Query: []api.Param{label}})
	srv.Handle("GET /badge/{siteID}/uptime.svg", s.handleUptimeBadge, api.Doc{
		Summary: "A badge of the site's uptime over a window", Public: true, ContentType: svg, Query: []api.Param{label,
			{Name: "window", Type: "string", Description: "24h, 7d, 30d (the default), 90d or 365d"}}})
	srv.Handle("GET /badge/{siteID}/latency.svg", s.handleLatencyBadge, api.Doc{
		Summary: "A badge of the site's last check's time to an answer", Public: true, ContentType: svg, Query: []api.Param{label}})
}
