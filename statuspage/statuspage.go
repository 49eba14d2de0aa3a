// Package statuspage is the monitor's public face: status pages and
// badges.
package statuspage

import (
	"context"
	"embed"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"uptime/internal/api"
	"uptime/monitor/history"
	"uptime/monitor/maintenance"
	"uptime/monitor/status"
	"uptime/site"
)

// Migrations is the statuspage database's schema, applied at start-up.
//
//go:embed migrations/*.sql
var Migrations embed.FS

// Monitor is what the public face reads of the monitor.
type Monitor interface {
	States(ctx context.Context, ids []int64) (map[int64]status.SiteStatus, error)
	Uptime(ctx context.Context, siteID int64, now time.Time) (history.Uptime, error)
	DaysOf(ctx context.Context, ids []int64, n int, now time.Time) (map[int64][]history.DayRecord, error)
	Incidents(ctx context.Context, q history.IncidentQuery) (*history.IncidentsResponse, error)
	InMaintenance(ctx context.Context, sites []*site.Entry, at time.Time) map[int64]bool
	Announced(ctx context.Context, sites []*site.Entry, now time.Time) []maintenance.Announcement
	Checks(ctx context.Context, siteID int64, before time.Time, limit int) ([]history.CheckRecord, error)
}

// Sites is what the public face reads of the site service.
type Sites interface {
	Entry(ctx context.Context, id int64) (*site.Entry, error)
	Entries(ctx context.Context, ids []int64) ([]*site.Entry, error)
}

// Service serves status pages and badges.
type Service struct {
	db      *pgxpool.Pool
	sites   Sites
	mon     Monitor
	now     func() time.Time
	cache   pageCache
	domains domains
	logins  rateGuard
	// subscribes holds back clients asking to subscribe too often; mail
	// is what subscribers are told through (see SendMail).
	subscribes rateGuard
	mail       Mail
}

// New returns the service, keeping its pages in db.
func New(db *pgxpool.Pool, sites Sites, mon Monitor) *Service {
	return &Service{db: db, sites: sites, mon: mon, now: time.Now, domains: domains{db: db},
		logins:     rateGuard{limit: loginFailures, window: loginWindow},
		subscribes: rateGuard{limit: subscribeLimit, window: subscribeWindow}}
}

// Register adds the service's endpoints to srv.
func (s *Service) Register(srv *api.Server) {
	srv.Handle("POST /status-page", s.handleCreate, api.Doc{
		Summary: "Create a status page", Request: PageParams{}, Response: Page{}})
	srv.Handle("GET /status-page", s.handleList, api.Doc{
		Summary: "Every status page", Response: ListResponse{}})
	srv.Handle("GET /status-page/{slug}", s.handleGet, api.Doc{
		Summary: "A status page's settings", Response: Page{}})
	srv.Handle("PATCH /status-page/{slug}", s.handleUpdate, api.Doc{
		Summary: "Change the fields given of a status page", Request: PageParams{}, Response: Page{}})
	srv.Handle("DELETE /status-page/{slug}", s.handleDelete, api.Doc{Summary: "Delete a status page"})
	srv.Handle("GET /p/{slug}", s.handlePublic, api.Doc{
		Summary: "The public status page, as HTML: no key, no script", ContentType: "text/html", Role: api.Public})

	s.registerWritten(srv)
	s.registerSubscribers(srv)

	label := api.Param{Name: "label", Type: "string", Description: "the text on the left"}
	svg := "image/svg+xml"
	srv.Handle("POST /p/{slug}/login", s.handleLogin, api.Doc{
		Summary: "The form of a status page of visibility password: the right password sets the page's cookie", Role: api.Public})
	srv.Handle("GET /p/{slug}/history", s.handleHistory, api.Doc{
		Summary: "A status page's written incidents and its sites' outages of a month, as HTML", ContentType: "text/html",
		Query: []api.Param{{Name: "month", Type: "string", Description: "as 2026-11; this month unless given"}}, Role: api.Public})
	srv.Handle("GET /p/{slug}/feed.atom", s.handleFeed("atom"), api.Doc{
		Summary:     "A status page's written incidents, its sites' outages and its maintenance, as an Atom feed",
		ContentType: "application/atom+xml", Role: api.Public})
	srv.Handle("GET /p/{slug}/feed.rss", s.handleFeed("rss"), api.Doc{
		Summary: "The same as an RSS 2.0 feed", ContentType: "application/rss+xml", Role: api.Public})
	report := srv.Expensive(s.handleReport)
	for _, path := range []string{"/report", "/report.csv", "/report.html"} {
		srv.Handle("GET "+path, report, api.Doc{
			Summary:  "Each site's month: uptime, downtime, incidents, mean and p95 latency; JSON, CSV (.csv or Accept: text/csv) or printable HTML",
			Response: Report{}, Query: []api.Param{
				{Name: "month", Type: "string", Description: "as 2026-11; this month unless given"},
				{Name: "sites", Type: "string", Description: "site ids, comma separated"},
				{Name: "page", Type: "string", Description: "a status page's slug: its sites"}}})
	}
	srv.Handle("GET /badge/{siteID}/status.svg", s.handleStatusBadge, api.Doc{
		Summary: "A badge of the site's state", ContentType: svg, Query: []api.Param{label}, Role: api.Public})
	srv.Handle("GET /badge/{siteID}/uptime.svg", s.handleUptimeBadge, api.Doc{
		Summary: "A badge of the site's uptime over a window", ContentType: svg, Query: []api.Param{label,
			{Name: "window", Type: "string", Description: "24h, 7d, 30d (the default), 90d or 365d"}}, Role: api.Public})
	srv.Handle("GET /badge/{siteID}/latency.svg", s.handleLatencyBadge, api.Doc{
		Summary: "A badge of the site's last check's time to an answer", ContentType: svg, Query: []api.Param{label}, Role: api.Public})
}

func (s *Service) handleCreate(r *http.Request) (any, error) {
	p, err := decodePage(r)
	if err != nil {
		return nil, err
	}
	return s.Create(r.Context(), p)
}

func (s *Service) handleList(r *http.Request) (any, error) { return s.List(r.Context()) }

func (s *Service) handleGet(r *http.Request) (any, error) {
	return s.Get(r.Context(), r.PathValue("slug"))
}

func (s *Service) handleUpdate(r *http.Request) (any, error) {
	p, err := decodePage(r)
	if err != nil {
		return nil, err
	}
	return s.Update(r.Context(), r.PathValue("slug"), p)
}

func (s *Service) handleDelete(r *http.Request) (any, error) {
	return nil, s.Delete(r.Context(), r.PathValue("slug"))
}
