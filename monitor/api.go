package monitor

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"uptime/internal/api"
	"uptime/internal/errs"
	"uptime/internal/text"
	"uptime/monitor/check"
	"uptime/monitor/history"
	"uptime/monitor/schedule"
	"uptime/monitor/status"
	"uptime/site"
)

// Register adds the service's endpoints to the server.
func (s *Service) Register(srv *api.Server) {
	// Each of these makes the server fetch URLs: they are bounded per
	// client and overall, and never served to a check.
	lim := api.NewLimiter(api.DefaultPerClient, api.DefaultOverall)
	fetches := func(e api.Endpoint) api.Endpoint { return notFromCheck(lim.Wrap(e)) }
	srv.HandlePrefix("/ping/", "url", []string{http.MethodGet, http.MethodHead, http.MethodPost}, fetches(s.handlePing), api.Doc{
		Summary: "Check any URL once (the rest of the path, query included), without recording it", Response: CheckResponse{},
		Role: api.Editor})
	srv.Handle("POST /check/{siteID}", fetches(s.handleCheck), api.Doc{
		Summary: "Check a site now and record the check", Response: CheckResponse{}})
	checkAll := api.Doc{Summary: "Check every unpaused site now; answers once every check is done"}
	srv.Handle("POST /checkall", fetches(s.handleCheckAll), checkAll)
	srv.Handle("POST /check-all", fetches(s.handleCheckAll), checkAll)
	// A status response holds a database connection while it streams, so
	// few of every site stream at once (the server's bound on expensive
	// reads), and the pool is left to the checks; the dashboard's reads of
	// some sites have a bound of their own, so that those never wait
	// behind them.
	statusAll := srv.Expensive(func(r *http.Request) (any, error) { return s.Status(r.Context(), nil) })
	statusSome := api.NewLimiter(api.DefaultPerClient, api.DefaultOverall).Wrap(s.handleStatus)
	srv.Handle("GET /status", func(r *http.Request) (any, error) {
		if !r.URL.Query().Has("ids") {
			return statusAll(r)
		}
		return statusSome(r)
	}, api.Doc{
		Summary: "The latest state of every site checked, or of some", Response: status.StatusResponse{},
		Query: []api.Param{{Name: "ids", Type: "string", Description: "site ids separated by commas, at most 1000"}}})
	srv.Handle("GET /history/{siteID}", s.handleHistory, api.Doc{
		Summary:  "A site's latest checks and uptime, or with days its daily series",
		Response: api.AnyOf{history.HistoryResponse{}, history.DaysResponse{}},
		Query: []api.Param{
			{Name: "limit", Type: "integer", Description: "how many checks, 1 to 1000 (100)"},
			{Name: "before", Type: "string", Description: "only checks before this time (RFC 3339): the next page after a check's checked_at"},
			{Name: "days", Type: "integer", Description: "the last days instead, 1 to 400"},
		}})
	for _, pattern := range []string{"GET /heartbeat/{token}", "POST /heartbeat/{token}", "GET /heartbeat/{token}/{signal}",
		"POST /heartbeat/{token}/{signal}"} {
		srv.HandleHTTP(pattern, http.HandlerFunc(s.handleSignal), api.Doc{
			Summary: "A push site's ping URL: its job reports success, /start, /fail, /log, or an exit code (GET, HEAD or POST, " +
				"a POST's body kept up to 10,000 bytes; ?rid= pairs a start with its end; open, the token is the credential)",
			ContentType: "text/plain", Role: api.Public,
			Query: []api.Param{{Name: "rid", Type: "string", Description: "a UUID naming the run, where runs overlap"}}})
	}
	srv.Handle("GET /runs/{siteID}", s.handleRuns, api.Doc{
		Summary: "A push site's schedule, its runs going, its latest signals and when the next is due", Response: RunsResponse{},
		Query: []api.Param{{Name: "limit", Type: "integer", Description: "how many signals, 1 to 100 (20)"}}})
	s.windows.Register(srv)
	s.locations.Register(srv)
	srv.Handle("GET /incident", s.history.HandleIncidents, api.Doc{
		Summary: "Confirmed down periods, newest first", Response: history.IncidentsResponse{},
		Query: []api.Param{
			{Name: "site", Type: "integer", Description: "of this site only"},
			{Name: "limit", Type: "integer", Description: "how many, 1 to 1000 (50)"},
			{Name: "before", Type: "string", Description: "older than this incident id, or started before this time (RFC 3339)"},
		}})
	srv.Handle("GET /scheduler", s.handleScheduler, api.Doc{
		Summary: "This instance's share of the scheduled checks and their lateness", Response: schedule.SchedulerStats{}})
}

// handleScheduler serves GET /scheduler → this instance's share of the
// scheduled checks and how late they started.
func (s *Service) handleScheduler(r *http.Request) (any, error) { return s.Scheduler(), nil }

// Scheduler returns this instance's scheduling figures.
func (s *Service) Scheduler() *schedule.SchedulerStats { return s.stats.Snapshot() }

// notFromCheck refuses a request sent by a check, of this instance or
// another: a site that redirects its check to /ping/<itself> would
// otherwise start a loop that multiplies with every turn.
func notFromCheck(e api.Endpoint) api.Endpoint {
	return func(r *http.Request) (any, error) {
		if r.Header.Get(check.CheckHeader) != "" {
			return nil, errs.Errorf(errs.PermissionDenied, "this request comes from an uptime check, and checks do not "+
				"make the server fetch URLs (a redirect to /ping or /check would loop)")
		}
		return e(r)
	}
}

// handlePing serves GET or POST /ping/*url → {"up": bool, ...}. The rest of
// the path is the URL, query string included.
func (s *Service) handlePing(r *http.Request) (any, error) {
	target := strings.TrimPrefix(r.URL.Path, "/ping/")
	if r.URL.RawQuery != "" {
		target += "?" + r.URL.RawQuery
	}
	if target == "" {
		return nil, errs.Errorf(errs.InvalidArgument, "put the URL to ping after /ping/, as in /ping/example.com")
	}
	return s.Ping(r.Context(), target), nil
}

// handleCheck serves POST /check/:siteID → {"up": bool, ...}.
func (s *Service) handleCheck(r *http.Request) (any, error) {
	id, err := api.PathID(r, "siteID")
	if err != nil {
		return nil, err
	}
	e, err := s.sites.Entry(r.Context(), id)
	if err != nil {
		return nil, err
	}
	c := s.config(e)
	if c.Paused {
		return nil, errs.Errorf(errs.FailedPrecondition, "site %d is paused; resume it to check it", id)
	}
	if c.Kind == site.KindPush {
		return nil, errs.Errorf(errs.FailedPrecondition, "site %d is a push site: it is not fetched, its job reports in at its ping URL", id)
	}
	return s.checkTarget(r.Context(), newTarget(e.Site, e.Site.Public().URL, c))
}

// handleCheckAll serves POST /checkall and /check-all; it returns when
// every site has been checked. A run already going in this process is
// joined; one going on another instance is waited out, then this one runs.
func (s *Service) handleCheckAll(r *http.Request) (any, error) {
	for {
		// A run this request joined may have given up on the lock (cron's
		// does); then a run of its own waits for it.
		ran, err := s.checkAllShared(r.Context(), true)
		if ran || err != nil {
			return nil, err
		}
	}
}

// handleStatus serves GET /status → {"sites": {"<id>": {"up", "checked_at", ...}}}
// for every site, or with ?ids=1,2,3 for those sites only.
func (s *Service) handleStatus(r *http.Request) (any, error) {
	var ids []int64
	if r.URL.Query().Has("ids") {
		ids = []int64{}
		v := r.URL.Query().Get("ids")
		for f := range strings.SplitSeq(v, ",") {
			id, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
			if err != nil || id < 1 {
				return nil, errs.Errorf(errs.InvalidArgument, "ids must be site ids separated by commas, got %s", text.Quote(v))
			}
			ids = append(ids, id)
		}
		if len(ids) > status.MaxStatusIDs {
			return nil, errs.Errorf(errs.InvalidArgument, "ids may name at most %d sites, got %d", status.MaxStatusIDs, len(ids))
		}
	}
	return s.Status(r.Context(), ids)
}

// handleHistory serves GET /history/:siteID?limit=N&before=T → the site's
// checks before T (the latest, without it), newest first (100 by default,
// at most 1000), and uptime percentages, and
// GET /history/:siteID?days=N → its last N days (at most 400).
func (s *Service) handleHistory(r *http.Request) (any, error) {
	id, err := api.PathID(r, "siteID")
	if err != nil {
		return nil, err
	}
	limit, err := api.QueryLimit(r, "limit", 100, history.MaxHistory)
	if err != nil {
		return nil, err
	}
	days, series, err := api.QueryCount(r, "days", history.MaxDays)
	if err != nil {
		return nil, err
	}
	var before time.Time
	if v := r.URL.Query().Get("before"); v != "" {
		if before, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return nil, errs.Errorf(errs.InvalidArgument, "before must be a time like 2026-11-03T12:00:00Z, got %q", v)
		}
	}
	if _, err := s.sites.Entry(r.Context(), id); err != nil {
		return nil, err
	}
	if series {
		return s.history.Days(r.Context(), id, days, time.Now())
	}
	return s.history.Recent(r.Context(), id, before, limit)
}
