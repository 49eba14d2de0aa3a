package statuspage

import (
	"cmp"
	"math"
	"net/http"
	"strconv"

	"uptime/internal/api"
	"uptime/internal/errs"
	"uptime/internal/text"
	"uptime/monitor/history"
	"uptime/monitor/status"
)

// badgeMaxAge is how long a badge may be cached.
const badgeMaxAge = "public, max-age=60"

// svg answers with the badge; a badge is an image in someone's README, so
// a site that is gone gets one too, with status 404.
func svg(b Badge, status int) *api.Raw {
	return &api.Raw{Status: status, Body: b.SVG(), Header: http.Header{
		"Content-Type":  {"image/svg+xml; charset=utf-8"},
		"Cache-Control": {badgeMaxAge},
	}}
}

// badgeSite reads the site of the request and its state; a nil state for a
// site never checked, and a badge to answer with when the site is not found.
func (s *Service) badgeSite(r *http.Request, label string) (int64, *status.SiteStatus, *api.Raw, error) {
	id, err := api.PathID(r, "siteID")
	if err != nil {
		return 0, nil, nil, err
	}
	// While reads are private, the badges of the sites on a public page
	// are what is public of them; another site's is not found.
	// A site on private pages only: those who may see one of them.
	if !api.MayRead(r) {
		public, err := s.OnPublicPage(r.Context(), id)
		if err != nil {
			return 0, nil, nil, err
		}
		if !public {
			if admitted, err := s.badgeAdmitted(r, id); err != nil {
				return 0, nil, nil, err
			} else if !admitted {
				return 0, nil, svg(Badge{Label: label, Message: "site not found", Color: grey}, http.StatusNotFound), nil
			}
		}
	}
	if _, err := s.sites.Entry(r.Context(), id); errs.Is(err, errs.NotFound) {
		return 0, nil, svg(Badge{Label: label, Message: "site not found", Color: grey}, http.StatusNotFound), nil
	} else if err != nil {
		return 0, nil, nil, err
	}
	states, err := s.mon.States(r.Context(), []int64{id})
	if err != nil {
		return 0, nil, nil, err
	}
	if st, ok := states[id]; ok {
		return id, &st, nil, nil
	}
	return id, nil, nil, nil
}

// label is the badge's label: the query's ?label=, or def.
func label(r *http.Request, def string) string {
	return cmp.Or(r.URL.Query().Get("label"), def)
}

// handleStatusBadge serves GET /badge/:siteID/status.svg: up, down,
// degraded, paused, or pending before the first check.
func (s *Service) handleStatusBadge(r *http.Request) (any, error) {
	l := label(r, "status")
	_, st, gone, err := s.badgeSite(r, l)
	if gone != nil || err != nil {
		return gone, err
	}
	return svg(statusBadge(l, st), http.StatusOK), nil
}

func statusBadge(label string, st *status.SiteStatus) Badge {
	switch {
	case st == nil:
		return Badge{label, "pending", grey}
	case st.Paused:
		return Badge{label, "paused", grey}
	case !st.Up:
		return Badge{label, "down", red}
	case st.Degraded:
		return Badge{label, "degraded", yellow}
	}
	return Badge{label, "up", brightGreen}
}

// handleUptimeBadge serves GET /badge/:siteID/uptime.svg?window=30d: the
// share of checks up over 24h, 7d, 30d (the default), 90d or 365d.
func (s *Service) handleUptimeBadge(r *http.Request) (any, error) {
	window := cmp.Or(r.URL.Query().Get("window"), "30d")
	pick, ok := map[string]func(history.Uptime) *float64{
		"24h":  func(u history.Uptime) *float64 { return u.Day },
		"7d":   func(u history.Uptime) *float64 { return u.Week },
		"30d":  func(u history.Uptime) *float64 { return u.Month },
		"90d":  func(u history.Uptime) *float64 { return u.Quarter },
		"365d": func(u history.Uptime) *float64 { return u.Year },
	}[window]
	if !ok {
		return nil, errs.Errorf(errs.InvalidArgument, "window must be one of 24h, 7d, 30d, 90d and 365d, got %s", text.Quote(window))
	}
	l := label(r, "uptime "+window)
	id, _, gone, err := s.badgeSite(r, l)
	if gone != nil || err != nil {
		return gone, err
	}
	up, err := s.mon.Uptime(r.Context(), id, s.now())
	if err != nil {
		return nil, err
	}
	return svg(uptimeBadge(l, pick(up)), http.StatusOK), nil
}

func uptimeBadge(label string, up *float64) Badge {
	if up == nil {
		return Badge{label, "no data", grey}
	}
	color := red
	switch {
	case *up >= 99.9:
		color = brightGreen
	case *up >= 99:
		color = green
	case *up >= 95:
		color = yellow
	case *up >= 90:
		color = orange
	}
	return Badge{label, percent(*up), color}
}

// percent shows an uptime with up to two decimals, rounded down: 99.999
// is not 100%.
func percent(v float64) string {
	return strconv.FormatFloat(math.Floor(v*100)/100, 'f', -1, 64) + "%"
}

// handleLatencyBadge serves GET /badge/:siteID/latency.svg: the last
// check's time to an answer.
func (s *Service) handleLatencyBadge(r *http.Request) (any, error) {
	l := label(r, "latency")
	_, st, gone, err := s.badgeSite(r, l)
	if gone != nil || err != nil {
		return gone, err
	}
	return svg(latencyBadge(l, st), http.StatusOK), nil
}

func latencyBadge(label string, st *status.SiteStatus) Badge {
	switch {
	case st == nil:
		return Badge{label, "pending", grey}
	case st.StatusCode == 0:
		return Badge{label, "no answer", red}
	}
	color := brightGreen
	switch ms := st.LatencyMS; {
	case st.Degraded || ms >= 3000:
		color = yellow
	case ms >= 1000:
		color = green
	}
	return Badge{label, strconv.FormatFloat(math.Round(st.LatencyMS), 'f', 0, 64) + " ms", color}
}
