package site

import (
	"net/http"
	"strconv"
	"strings"

	"uptime/internal/api"
	"uptime/internal/errs"
	"uptime/internal/text"
)

// Register adds the service's endpoints to the server.
func (s *Service) Register(srv *api.Server) {
	srv.HandleLarge("POST /site", maxSiteBody, s.handleAdd, api.Doc{
		Summary: `Add a site, with any settings; "kind": "push" and no url for a site that reports in`, Request: AddParams{}, Response: AddResponse{}})
	srv.Handle("GET /site/{siteID}", s.handleGet, api.Doc{
		Summary: "A site and every setting, defaults filled in", Response: Entry{}})
	srv.HandleLarge("PATCH /site/{siteID}", maxSiteBody, s.handleUpdate, api.Doc{
		Summary: "Change a site's URL or settings; null puts a setting back to its default",
		Request: struct {
			URL *string `json:"url,omitempty"`
			Settings
		}{}, Response: Entry{}})
	listAll := srv.Expensive(func(r *http.Request) (any, error) { return s.streamList(r) })
	srv.Handle("GET /site", func(r *http.Request) (any, error) {
		if q := r.URL.Query(); !q.Has("limit") && !q.Has("after") && !q.Has("q") {
			return listAll(r)
		}
		return s.handleList(r)
	}, api.Doc{
		Summary:  "Every site, or with limit, after or q one page of them",
		Response: api.AnyOf{ListResponse{}, PageResponse{}},
		Query: []api.Param{
			{Name: "limit", Type: "integer", Description: "sites on the page, 1 to 1000 (50)"},
			{Name: "after", Type: "integer", Description: "the page starts after this site id"},
			{Name: "q", Type: "string", Description: "only sites whose URL or name contains this, ignoring case"},
		}})
	srv.HandleLarge("POST /site/import", maxImportBody, s.handleImport, api.Doc{
		Summary: "Add or update many sites at once", Request: ImportRequest{}, Response: ImportResponse{},
		Query: []api.Param{
			{Name: "dry_run", Type: "boolean", Description: "count what would change, change nothing"},
			{Name: "prune", Type: "boolean", Description: "delete the sites the list leaves out"},
		}})
	srv.Handle("GET /site/export", srv.Expensive(s.handleExport), api.Doc{
		Summary: "Every site with the settings it was given, credentials included", Response: ExportResponse{},
		Role: api.Admin})
	srv.Handle("DELETE /site/{siteID}", s.handleDelete, api.Doc{Summary: "Delete a site and its history"})
	srv.Handle("POST /site/{siteID}/token", s.handleRenewToken, api.Doc{
		Summary: "Give a push site a new token, refusing the old one at once; answers its new ping URL", Response: TokenResponse{}})
}

// AddResponse is what POST /site answers: the site, and the settings it
// was given, in their normalized form.
type AddResponse struct {
	Site
	// Kind is "push" for a push site; other sites answer as in the
	// tutorial, their kind their URL's scheme.
	Kind string `json:"kind,omitempty"`
	Settings
	// PingURL is where a push site's job reports in, token and all: shown
	// here and when the token is made anew, and nowhere else.
	PingURL string `json:"ping_url,omitempty"`
}

// handleAdd serves POST /site: {"url": string, settings...} → {"id",
// "url", settings given...}. A site added with its URL alone answers
// exactly as in the tutorial.
func (s *Service) handleAdd(r *http.Request) (any, error) {
	f, err := requestFields(r)
	if err != nil {
		return nil, err
	}
	p := AddParams{}
	if p.Settings, err = f.settings("url", "kind"); err != nil {
		return nil, err
	}
	u, ok, err := f.str("url")
	if err != nil {
		return nil, err
	}
	if p.Kind, _, err = f.str("kind"); err != nil {
		return nil, err
	}
	if !ok && p.Kind == "" {
		return nil, errs.Errorf(errs.InvalidArgument, `url is required, or "kind": "push" for a site that reports in`)
	}
	p.URL = u
	e, token, err := s.add(r.Context(), p)
	if err != nil {
		return nil, err
	}
	resp := AddResponse{Site: e.Site.Public(), Settings: e.Given.Public()}
	resp.Settings.TokenHash = nil // the ping URL says it
	if e.Kind == KindPush {
		resp.Kind, resp.PingURL = KindPush, s.pingURL(r, token)
	}
	return resp, nil
}

// requestFields reads a request's body as one JSON object.
func requestFields(r *http.Request) (fields, error) {
	body, err := api.ReadBody(r)
	if err != nil {
		return nil, err
	}
	return readFields(body)
}

// handleGet serves GET /site/:siteID → {"id", "url", every setting}.
func (s *Service) handleGet(r *http.Request) (any, error) {
	id, err := api.PathID(r, "siteID")
	if err != nil {
		return nil, err
	}
	e, err := s.Entry(r.Context(), id)
	if err != nil {
		return nil, err
	}
	return s.shown(r, *e), nil
}

// handleUpdate serves PATCH /site/:siteID: the fields given change, the
// others stay → {"id", "url", every setting}.
func (s *Service) handleUpdate(r *http.Request) (any, error) {
	id, err := api.PathID(r, "siteID")
	if err != nil {
		return nil, err
	}
	f, err := requestFields(r)
	if err != nil {
		return nil, err
	}
	e, err := s.Update(r.Context(), id, f)
	if err != nil {
		return nil, err
	}
	return s.shown(r, *e), nil
}

// handleList serves GET /site with any of limit, after or q in the query:
// one page, up to limit sites (50 by default) with an id above after and a
// URL or name containing q, as {"sites", "total", "next"}. Without them
// GET /site is every site as in the tutorial, {"sites": [{"id", "url",
// settings...}]}, streamed by streamList.
func (s *Service) handleList(r *http.Request) (any, error) {
	q := r.URL.Query()
	limit, err := api.QueryLimit(r, "limit", 50, MaxPage)
	if err != nil {
		return nil, err
	}
	p := PageParams{Limit: limit, Search: strings.TrimSpace(q.Get("q"))}
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return nil, errs.Errorf(errs.InvalidArgument, "after must be a site id, got %s", text.Quote(v))
		}
		p.After = n
	}
	if len(p.Search) > maxSearch {
		return nil, errs.Errorf(errs.InvalidArgument, "q must be at most %d characters, got %d", maxSearch, len(p.Search))
	}
	page, err := s.ListPage(r.Context(), p)
	if err != nil {
		return nil, err
	}
	for _, e := range page.Sites {
		*e = s.shown(r, *e)
	}
	return page, nil
}

// maxSiteBody is the largest request that adds or changes a site: room for
// a request body of MaxBody, escaped, and fifty headers.
const maxSiteBody = 8*MaxBody + 256<<10

// maxSearch is the longest search text accepted.
const maxSearch = 100

// handleDelete serves DELETE /site/:siteID with an empty response.
func (s *Service) handleDelete(r *http.Request) (any, error) {
	id, err := api.PathID(r, "siteID")
	if err != nil {
		return nil, err
	}
	return nil, s.Delete(r.Context(), id)
}
