package statuspage

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"html/template"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"uptime/internal/api"
	"uptime/internal/errs"
	"uptime/monitor/decide"
	"uptime/monitor/history"
	"uptime/monitor/maintenance"
	"uptime/monitor/status"
	"uptime/site"
)

//go:embed templates/*.html
var templates embed.FS

var pageTemplate = template.Must(template.ParseFS(templates, "templates/*.html"))

// publicDays is how many daily bars a public page shows.
const publicDays = 90

// cacheFor is how long a rendered public page is served to everyone
// before it is rendered again: a crowd of visitors costs one render.
const cacheFor = 5 * time.Second

// renderTimeout bounds one rendering of a page.
const renderTimeout = 30 * time.Second

// keepStale is how long a page's last rendering is kept to be served
// while a new one cannot be made because the database is away: the page
// says when it was updated. Otherwise no visitor sees a rendering older
// than cacheFor plus the one being made.
const keepStale = 15 * time.Minute

// publicPolicy lets a public page use its own inline style and post its
// forms (password, subscribe) to itself, and nothing else: no script, no
// outside resource.
const publicPolicy = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// rendered is a public page as served: its HTML, and the same gzipped,
// compressed once for every visitor (90 bars of 500 sites are megabytes of
// markup, and a twentieth of that compressed).
type rendered struct {
	// page is the page rendered, nil for none: who may see it, and the
	// title a visitor not admitted sees.
	page       *Page
	status     int
	body, gzip []byte
	etag       string // of body; gzip's has "-gz" in it
	at         time.Time
}

// pageCache keeps each public page's latest rendering for cacheFor, and
// renders a page once however many ask for it at the same time.
type pageCache struct {
	mu     sync.Mutex
	pages  map[string]*rendered
	forgot map[string]int // times each page was forgotten: a rendering begun before is not kept
	flight singleflight.Group
}

// generation is how many times the page was forgotten.
func (c *pageCache) generation(slug string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.forgot[slug]
}

func (c *pageCache) get(slug string, now time.Time) *rendered {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r := c.pages[slug]; r != nil && now.Sub(r.at) < cacheFor {
		return r
	}
	return nil
}

func (c *pageCache) put(slug string, gen int, r *rendered) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.forgot[slug] != gen {
		return // the page changed while this was rendered
	}
	if c.pages == nil {
		c.pages = map[string]*rendered{}
	}
	// Slugs that stop being asked for go with the next put.
	for k, old := range c.pages {
		if r.at.Sub(old.at) > keepStale {
			delete(c.pages, k)
		}
	}
	c.pages[slug] = r
}

// stale returns the page's latest rendering however old, for when a new
// one cannot be made.
func (c *pageCache) stale(slug string) *rendered {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pages[slug]
}

func (c *pageCache) forget(slug string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.pages, slug)
	if c.forgot == nil {
		c.forgot = map[string]int{}
	}
	c.forgot[slug]++
}

// handlePublic serves GET /p/:slug: the status page as HTML, readable
// without JavaScript, cached for a few seconds, with an ETag.
func (s *Service) handlePublic(r *http.Request) (any, error) {
	slug := r.PathValue("slug")
	return s.serveRendered(r, slug, func(ctx context.Context, now time.Time) (*rendered, error) {
		return s.render(ctx, slug, now)
	})
}

// serveRendered serves the page cached under key, rendering it with
// render when it is past its life.
func (s *Service) serveRendered(r *http.Request, key string, render func(context.Context, time.Time) (*rendered, error)) (any, error) {
	now := s.now()
	page := s.cache.get(key, now)
	if page == nil {
		// Past its life, a page is rendered anew, once for every visitor
		// asking meanwhile, and they wait for it: during an outage the
		// first visitor after a quiet spell must not be shown the page of
		// before it. Only while the database cannot be reached is the last
		// rendering served, saying when it was made. A page changed since
		// a rendering began is rendered anew, not joined.
		gen := s.cache.generation(key)
		result := s.cache.flight.DoChan(key+"#"+strconv.Itoa(gen), func() (any, error) {
			ctx, cancel := context.WithTimeout(context.Background(), renderTimeout)
			defer cancel()
			p, err := render(ctx, s.now())
			if err != nil {
				return nil, err
			}
			s.cache.put(key, gen, p)
			return p, nil
		})
		var res singleflight.Result
		select {
		case res = <-result:
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
		switch old := s.cache.stale(key); {
		case res.Err == nil:
			page = res.Val.(*rendered)
		case (api.Unreachable(res.Err) || errors.Is(res.Err, context.DeadlineExceeded)) && old != nil && now.Sub(old.at) < keepStale:
			page = old
		default:
			return nil, res.Err
		}
	}
	cacheControl := fmt.Sprintf("public, max-age=%d", int(cacheFor.Seconds()))
	header := http.Header{}
	if p := page.page; p != nil && p.access.visibility != "public" {
		if !s.admits(r, p.Slug, p.access, header) {
			return s.locked(p.Slug, p, false)
		}
		cacheControl = "private, no-cache"
	}
	maps.Copy(header, http.Header{
		"Content-Type":            {"text/html; charset=utf-8"},
		"Cache-Control":           {cacheControl},
		"Content-Security-Policy": {publicPolicy},
		"Referrer-Policy":         {"no-referrer"},
		"Vary":                    {"Accept-Encoding"},
	})
	body, etag := page.body, page.etag
	if acceptsGzip(r.Header.Get("Accept-Encoding")) {
		body, etag = page.gzip, strings.TrimSuffix(page.etag, `"`)+`-gz"`
		header.Set("Content-Encoding", "gzip")
	}
	header.Set("Etag", etag)
	if page.status == http.StatusOK && etagMatches(r.Header.Get("If-None-Match"), etag) {
		header.Del("Content-Encoding")
		return &api.Raw{Status: http.StatusNotModified, Header: header}, nil
	}
	return &api.Raw{Status: page.status, Header: header, Body: body}, nil
}

// acceptsGzip reads Accept-Encoding: gzip, unless its q is 0.
func acceptsGzip(header string) bool {
	for e := range strings.SplitSeq(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(e), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") {
			q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}

// etagMatches reads If-None-Match: a list of tags, or *.
func etagMatches(header, etag string) bool {
	for t := range strings.SplitSeq(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

// The views the template shows.
type (
	pageView struct {
		Title, Description string
		Overall            string
		OverallClass       string // up, degraded or down
		Groups             []groupView
		Updated            string // RFC 3339, UTC
		UpdatedText        string
		Days               int
		NotFound           bool
		Incidents          []incidentView
		IncidentDays       int
		// Open are the written incidents not resolved; Resolved, those
		// resolved in the last IncidentDays days.
		Open, Resolved []writtenView
		// Maintenance are the periods of maintenance announced: begun, or
		// starting within their window's announce_before.
		Maintenance []maintenanceView
		// Path is the page's path; Feed, its feed's, without the extension.
		Path, Feed string
		// History, when set, makes this the page's history of a month.
		History *historyView
		// Locked, when set, makes this a private page's form.
		Locked *lockedView
		// Message, when set, makes this a page telling a visitor what
		// became of their subscribing, confirming or unsubscribing.
		Message *messageView
		// Subscribe shows the form to subscribe.
		Subscribe bool
	}
	maintenanceView struct {
		Title      string
		Start, End string // RFC 3339
		StartText  string
		EndText    string
		Active     bool
		Sites      string // the names of the page's sites it covers
	}
	writtenView struct {
		Title, Impact string
		Status        string
		StatusText    string
		Started       string // RFC 3339
		StartedText   string
		Sites         string // the names of its sites, if it names some
		Updates       []updateView
		Outages       []incidentView // the outages it tells
	}
	updateView struct {
		StatusText string
		At, AtText string
		HTML       template.HTML
	}
	incidentView struct {
		Site            string
		Started, Ended  string // RFC 3339; Ended empty while it lasts
		StartedText     string
		EndedText       string
		Duration, Cause string
		// Dependents are the sites down because this one was, by name.
		Dependents []string
	}
	groupView struct {
		Name  string
		Sites []siteView
	}
	siteView struct {
		Name, URL string
		State     string // up, down, degraded, paused, pending
		StateText string
		Uptime    string // over the days shown
		Month     string // over this month's days, as "December: 99.95 %"
		// Bars are the day's bars, written in Go rather than by the
		// template: 45,000 of them on a page of 500 sites, which
		// html/template's escaping per attribute made the most of a
		// rendering.
		Bars template.HTML
	}
)

// render builds the page with the slug as HTML; a slug that no page has
// gets the 404 page.
func (s *Service) render(ctx context.Context, slug string, now time.Time) (*rendered, error) {
	p, err := s.Get(ctx, slug)
	if errs.Is(err, errs.NotFound) {
		return s.finish(http.StatusNotFound, pageView{Title: "No such status page", NotFound: true}, now)
	}
	if err != nil {
		return nil, err
	}
	ids := p.siteIDs()
	var (
		states    map[int64]status.SiteStatus
		days      map[int64][]history.DayRecord
		incidents = &history.IncidentsResponse{}
		underway  map[int64]bool
		announced []maintenance.Announcement
	)
	entries, sites, err := s.pageSites(ctx, ids)
	if err != nil {
		return nil, err
	}
	if len(ids) > 0 {
		underway = s.mon.InMaintenance(ctx, entries, now)
		announced = s.mon.Announced(ctx, entries, now)
		if states, err = s.mon.States(ctx, ids); err != nil {
			return nil, err
		}
		if days, err = s.mon.DaysOf(ctx, ids, publicDays, now); err != nil {
			return nil, err
		}
		incidents, err = s.mon.Incidents(ctx, history.IncidentQuery{Sites: ids, Since: now.AddDate(0, 0, -incidentDays), Limit: maxIncidents})
		if err != nil {
			return nil, err
		}
	}
	v := pageView{Title: p.Title, Description: p.Description, Days: publicDays, IncidentDays: incidentDays, Path: "/p/" + slug, Feed: "/p/" + slug + "/feed",
		Subscribe: p.Subscriptions, Updated: now.UTC().Format(time.RFC3339), UpdatedText: now.UTC().Format("2 Jan 2006 15:04 UTC")}
	since := now.AddDate(0, 0, -incidentDays)
	written, t, err := s.writtenAndTold(ctx, slug, maxIncidents, &since, nil)
	if err != nil {
		return nil, err
	}
	for _, in := range written {
		wv := newWrittenView(in, sites, t, p.ShowURLs, now)
		if in.ResolvedAt == nil {
			v.Open = append(v.Open, wv)
		} else {
			v.Resolved = append(v.Resolved, wv)
		}
	}
	for _, a := range announced {
		mv := maintenanceView{Title: a.Title, Start: a.Start.UTC().Format(time.RFC3339), End: a.End.UTC().Format(time.RFC3339),
			StartText: when(a.Start), EndText: when(a.End), Active: a.Active}
		mv.Sites = joinNames(sites, a.Sites)
		v.Maintenance = append(v.Maintenance, mv)
	}
	var down, degraded []string
	for _, g := range p.Groups {
		gv := groupView{Name: g.Name}
		for _, id := range g.Sites {
			e := sites[id]
			if e == nil {
				continue // deleted since it was put on the page
			}
			st, checked := states[id]
			sv := siteView{Name: e.Name}
			if p.ShowURLs {
				sv.URL = e.Public().URL
			}
			switch {
			case e.Paused:
				sv.State, sv.StateText = "paused", "Paused"
			case underway[id]:
				sv.State, sv.StateText = "maintenance", "Under maintenance"
			case !checked:
				sv.State, sv.StateText = "pending", "Not checked yet"
			case !st.Up:
				sv.State, sv.StateText = "down", "Down"
				down = append(down, e.Name)
			case st.Degraded:
				sv.State, sv.StateText = "degraded", "Degraded"
				degraded = append(degraded, e.Name)
			default:
				sv.State, sv.StateText = "up", "Operational"
			}
			sv.Bars, sv.Uptime = bars(days[id])
			sv.Month = monthUptime(days[id], now)
			gv.Sites = append(gv.Sites, sv)
		}
		v.Groups = append(v.Groups, gv)
	}
	v.Incidents = outageViews(t.untold(incidents.Incidents), sites, p.ShowURLs, now)
	switch {
	case len(down) > 0:
		v.OverallClass, v.Overall = "down", fmt.Sprintf("%s down: %s", count(len(down), "site"), strings.Join(down, ", "))
		if len(degraded) > 0 {
			v.Overall += fmt.Sprintf("; %s degraded", count(len(degraded), "site"))
		}
	case len(degraded) > 0:
		v.OverallClass, v.Overall = "degraded", fmt.Sprintf("%s degraded: %s", count(len(degraded), "site"), strings.Join(degraded, ", "))
	default:
		v.OverallClass, v.Overall = "up", "All systems operational"
	}
	return s.finishPage(p, v, now)
}

// pageSites reads the sites with the ids, as a list and by id; those
// deleted since they were put on a page are left out.
func (s *Service) pageSites(ctx context.Context, ids []int64) ([]*site.Entry, map[int64]*site.Entry, error) {
	byID := map[int64]*site.Entry{}
	if len(ids) == 0 {
		return nil, byID, nil
	}
	entries, err := s.sites.Entries(ctx, ids)
	if err != nil {
		return nil, nil, err
	}
	for _, e := range entries {
		byID[e.ID] = e
	}
	return entries, byID, nil
}

// joinNames are the names of the sites with the ids, those gone left
// out: "Web, API".
func joinNames(sites map[int64]*site.Entry, ids []int64) string {
	var names []string
	for _, id := range ids {
		if e := sites[id]; e != nil {
			names = append(names, e.Name)
		}
	}
	return strings.Join(names, ", ")
}

// maintenanceTitle heads an announced period of maintenance in a feed or
// a message.
func maintenanceTitle(a maintenance.Announcement) string {
	if a.Active {
		return "Maintenance in progress: " + a.Title
	}
	return "Scheduled maintenance: " + a.Title
}

// finishPage renders the view of the page p, keeping with it who may see
// it.
func (s *Service) finishPage(p *Page, v pageView, now time.Time) (*rendered, error) {
	out, err := s.finish(http.StatusOK, v, now)
	if out != nil {
		out.page = p
	}
	return out, err
}

// told is what the page shows of its written incidents' outages.
type told struct {
	// adopted are the outages any written incident of the page tells, by
	// id: shown within it, not apart.
	adopted map[int64]bool
	// outages are those of the written incidents read, by id.
	outages map[int64]history.Incident
}

// writtenAndTold reads the page's written incidents (see incidents) and
// the outages they tell.
func (s *Service) writtenAndTold(ctx context.Context, slug string, limit int, since, until *time.Time) ([]WrittenIncident, told, error) {
	written, err := s.incidents(ctx, slug, nil, limit, since, until)
	if err != nil {
		return nil, told{}, err
	}
	t, err := s.readTold(ctx, slug, written)
	return written, t, err
}

// readTold reads the outages the page's written incidents tell.
func (s *Service) readTold(ctx context.Context, slug string, written []WrittenIncident) (told, error) {
	var t told
	var err error
	if t.adopted, err = s.adopted(ctx, slug); err != nil {
		return t, err
	}
	var ids []int64
	for _, in := range written {
		ids = append(ids, in.Outages...)
	}
	if len(ids) == 0 {
		return t, nil
	}
	got, err := s.mon.Incidents(ctx, history.IncidentQuery{IDs: ids, Limit: len(ids)})
	if err != nil {
		return t, err
	}
	t.outages = make(map[int64]history.Incident, len(got.Incidents))
	for _, in := range got.Incidents {
		t.outages[in.ID] = in
	}
	return t, nil
}

// untold leaves out of incidents the outages a written incident tells.
func (t told) untold(incidents []history.Incident) []history.Incident {
	return slices.DeleteFunc(slices.Clone(incidents), func(in history.Incident) bool { return t.adopted[in.ID] })
}

// of returns the outages the written incident tells, newest first.
func (t told) of(in WrittenIncident) []history.Incident {
	var out []history.Incident
	for _, id := range in.Outages {
		if o, ok := t.outages[id]; ok {
			out = append(out, o)
		}
	}
	slices.SortFunc(out, func(a, b history.Incident) int { return b.StartedAt.Compare(a.StartedAt) })
	return out
}

// newWrittenView is a written incident as the page shows it, with the
// outages it tells; sites are the page's, by id.
func newWrittenView(in WrittenIncident, sites map[int64]*site.Entry, t told, showCause bool, now time.Time) writtenView {
	wv := writtenView{Title: in.Title, Impact: in.Impact, Status: in.Status, StatusText: statusText(in.Status),
		Started: in.CreatedAt.UTC().Format(time.RFC3339), StartedText: when(in.CreatedAt)}
	wv.Sites = joinNames(sites, in.Sites)
	for _, u := range in.Updates {
		wv.Updates = append(wv.Updates, updateView{StatusText: statusText(u.Status),
			At: u.CreatedAt.UTC().Format(time.RFC3339), AtText: when(u.CreatedAt), HTML: renderMarkdown(u.Message)})
	}
	wv.Outages = outageViews(t.of(in), sites, showCause, now)
	return wv
}

// outageViews are the sites' outages as the page shows them, those of
// sites no longer on it left out. A cause can name internal hosts: it is
// shown only with showCause, where URLs are.
func outageViews(incidents []history.Incident, sites map[int64]*site.Entry, showCause bool, now time.Time) []incidentView {
	var out []incidentView
	for _, o := range withDependents(incidents, sites, now) {
		in := o.Incident
		iv := incidentView{Site: sites[in.SiteID].Name, Started: in.StartedAt.UTC().Format(time.RFC3339), StartedText: when(in.StartedAt),
			Dependents: o.dependents}
		end := now
		if in.EndedAt != nil {
			end = *in.EndedAt
			iv.Ended, iv.EndedText = end.UTC().Format(time.RFC3339), when(end)
		}
		iv.Duration = lasted(end.Sub(in.StartedAt))
		if showCause {
			iv.Cause = in.Cause
		}
		out = append(out, iv)
	}
	return out
}

// foundBefore is how long before a site's outage one depending on it may
// have begun failing: its round, re-checks and all, while it had the site
// checked.
const foundBefore = 10 * time.Minute

// outage is an outage as a page tells it, with the sites down because
// it was, by name.
type outage struct {
	history.Incident
	dependents []string
}

// withDependents returns the outages of the sites given (the others
// left out), each caused by a site depended on being down told within
// that site's outage when it is among them: one story of one cause.
func withDependents(incidents []history.Incident, sites map[int64]*site.Entry, now time.Time) []outage {
	var shown []outage
	for _, in := range incidents {
		if sites[in.SiteID] != nil {
			shown = append(shown, outage{Incident: in})
		}
	}
	within := func(child history.Incident) int {
		for i, p := range shown {
			end := now
			if p.EndedAt != nil {
				end = *p.EndedAt
			}
			// A site found down before what it depends on has its first
			// failing check before that site's outage began.
			if child.SiteID != p.SiteID && child.Cause == decide.DependencyReason(sites[p.SiteID].Name) &&
				!child.StartedAt.Before(p.StartedAt.Add(-foundBefore)) && !child.StartedAt.After(end) {
				return i
			}
		}
		return -1
	}
	told := make([]bool, len(shown))
	for i, o := range shown {
		if p := within(o.Incident); p >= 0 {
			shown[p].dependents = append(shown[p].dependents, sites[o.SiteID].Name)
			told[i] = true
		}
	}
	out := shown[:0:0]
	for i, o := range shown {
		if !told[i] {
			out = append(out, o)
		}
	}
	return out
}

func (s *Service) finish(status int, v pageView, now time.Time) (*rendered, error) {
	body, err := renderPage(v)
	if err != nil {
		return nil, err
	}
	var gz bytes.Buffer
	w, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	w.Write(body)
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("compress status page: %w", err)
	}
	sum := sha256.Sum256(body)
	return &rendered{status: status, body: body, gzip: gz.Bytes(), etag: `"` + hex.EncodeToString(sum[:12]) + `"`, at: now}, nil
}

// renderPage renders the page's HTML.
func renderPage(v pageView) ([]byte, error) {
	var b bytes.Buffer
	if err := pageTemplate.ExecuteTemplate(&b, "page.html", v); err != nil {
		return nil, fmt.Errorf("render status page: %w", err)
	}
	return b.Bytes(), nil
}

// A public page lists the incidents of its sites over the last
// incidentDays days, at most maxIncidents of them.
const (
	incidentDays = 14
	maxIncidents = 50
)

// statusText is a written incident's status as the page says it.
func statusText(status string) string {
	if status == "" {
		return ""
	}
	return strings.ToUpper(status[:1]) + status[1:]
}

func when(t time.Time) string { return t.UTC().Format("2 Jan 15:04 UTC") }

// lasted says how long an incident lasted, to the minute.
func lasted(d time.Duration) string {
	switch m := int(d.Round(time.Minute) / time.Minute); {
	case m < 1:
		return "under a minute"
	case m < 60:
		return count(m, "minute")
	case m%60 == 0:
		return count(m/60, "hour")
	default:
		return count(m/60, "hour") + " " + count(m%60, "minute")
	}
}

func count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// bars writes a bar per day, coloured by its uptime (up, partial, down,
// or none without checks) with its figures on hover, and sums the uptime
// over them all, weighted by each day's checks.
// monthUptime is the uptime over the days of now's month, named by the
// month; empty without checks in it.
func monthUptime(days []history.DayRecord, now time.Time) string {
	prefix := now.UTC().Format("2006-01-")
	var checks, up float64
	for _, d := range days {
		if d.Uptime != nil && strings.HasPrefix(d.Date, prefix) {
			checks += float64(d.Checks)
			up += *d.Uptime / 100 * float64(d.Checks)
		}
	}
	if checks == 0 {
		return ""
	}
	return now.UTC().Format("January") + ": " + percent(100*up/checks)
}

func bars(days []history.DayRecord) (template.HTML, string) {
	var b strings.Builder
	var checks, up float64
	for _, d := range days {
		// A day's date and figures are digits and punctuation; escaped
		// all the same.
		if d.Uptime == nil {
			fmt.Fprintf(&b, `<span class="none" title="%s: no data"></span>`, html.EscapeString(d.Date))
			continue
		}
		u := *d.Uptime
		checks += float64(d.Checks)
		up += u / 100 * float64(d.Checks)
		class := "down"
		switch {
		case u >= 99.9:
			class = "up"
		case u >= 95:
			class = "partial"
		}
		fmt.Fprintf(&b, `<span class="%s" title="%s: %s (%d checks)"></span>`, class, html.EscapeString(d.Date), percent(u), d.Checks)
	}
	uptime := "no data"
	if checks > 0 {
		uptime = percent(100 * up / checks)
	}
	return template.HTML(b.String()), uptime
}
