package statuspage

import (
	"context"
	"net/http"
	"time"

	"uptime/internal/errs"
	"uptime/internal/text"
	"uptime/monitor/history"
)

// maxHistory bounds the written incidents, and the outages, a month of a
// page's history shows.
const maxHistory = 200

// historyView is a month of a page's history.
type historyView struct {
	Month string // as "November 2026"
	Page  string // the page's path
	// Prev and Next are the months before and after, as "2026-10"; Next
	// is empty for the month under way.
	Prev, Next string
	Written    []writtenView
	Outages    []incidentView
}

// handleHistory serves GET /p/:slug/history?month=2026-11: the page's
// written incidents and its sites' outages of a month, this one unless it
// says, cached as the page is.
func (s *Service) handleHistory(r *http.Request) (any, error) {
	slug := r.PathValue("slug")
	month, err := parseMonth(r.URL.Query().Get("month"), s.now())
	if err != nil {
		return nil, err
	}
	return s.serveRendered(r, slug+"/history/"+month.Format("2006-01"), func(ctx context.Context, now time.Time) (*rendered, error) {
		return s.renderHistory(ctx, slug, month, now)
	})
}

// parseMonth reads a month as 2026-11, in UTC; empty is the month of now.
func parseMonth(v string, now time.Time) (time.Time, error) {
	now = now.UTC()
	if v == "" {
		return time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC), nil
	}
	m, err := time.Parse("2006-01", v)
	if err != nil {
		return time.Time{}, errs.Errorf(errs.InvalidArgument, "month must be a month as 2026-11, got %s", text.Quote(v))
	}
	if m.After(now) {
		return time.Time{}, errs.Errorf(errs.InvalidArgument, "month %s has not begun", v)
	}
	return m, nil
}

// renderHistory builds the page's history of the month as HTML.
func (s *Service) renderHistory(ctx context.Context, slug string, month, now time.Time) (*rendered, error) {
	p, err := s.Get(ctx, slug)
	if errs.Is(err, errs.NotFound) {
		return s.finish(http.StatusNotFound, pageView{Title: "No such status page", NotFound: true}, now)
	}
	if err != nil {
		return nil, err
	}
	end := month.AddDate(0, 1, 0)
	h := &historyView{Month: month.Format("January 2006"), Page: "/p/" + slug, Prev: month.AddDate(0, -1, 0).Format("2006-01")}
	if !end.After(now) {
		h.Next = end.Format("2006-01")
	}
	v := pageView{Title: p.Title, Path: "/p/" + slug, Feed: "/p/" + slug + "/feed", History: h,
		Updated: now.UTC().Format(time.RFC3339), UpdatedText: now.UTC().Format("2 Jan 2006 15:04 UTC")}
	var outages []history.Incident
	ids := p.siteIDs()
	_, sites, err := s.pageSites(ctx, ids)
	if err != nil {
		return nil, err
	}
	if len(ids) > 0 {
		got, err := s.mon.Incidents(ctx, history.IncidentQuery{Sites: ids, Since: month, Before: end, Limit: maxHistory})
		if err != nil {
			return nil, err
		}
		outages = got.Incidents
	}
	written, t, err := s.writtenAndTold(ctx, slug, maxHistory, &month, &end)
	if err != nil {
		return nil, err
	}
	for _, in := range written {
		h.Written = append(h.Written, newWrittenView(in, sites, t, p.ShowURLs, now))
	}
	h.Outages = outageViews(t.untold(outages), sites, p.ShowURLs, now)
	return s.finishPage(p, v, now)
}
