package site

import (
	"net/http"
	"strconv"
	"strings"

	"uptime/internal/api"
)

// Register adds the service's endpoints to the server.
func (s *Service) Register(srv *api.Server) {
	srv.Handle("POST /site", s.handleAdd)
	srv.Handle("GET /site/{siteID}", s.handleGet)
	srv.Handle("GET /site", s.handleList)
	srv.Handle("DELETE /site/{siteID}", s.handleDelete)
}

// handleAdd serves POST /site: {"url": string} → {"id", "url"}.
func (s *Service) handleAdd(r *http.Request) (any, error) {
	p, err := api.Decode[AddParams](r)
	if err != nil {
		return nil, err
	}
	st, err := s.Add(r.Context(), p)
	if err != nil {
		return nil, err
	}
	return st.Public(), nil
}

// handleGet serves GET /site/:siteID → {"id", "url"}.
func (s *Service) handleGet(r *http.Request) (any, error) {
	id, err := api.PathID(r, "siteID")
	if err != nil {
		return nil, err
	}
	st, err := s.Get(r.Context(), id)
	if err != nil {
		return nil, err
	}
	return st.Public(), nil
}

// handleList serves GET /site → {"sites": [{"id", "url"}]}, every site as
// in the tutorial. With any of limit, after or q in the query it serves one
// page instead: up to limit sites (50 by default) with an id above after
// and a URL containing q, as {"sites", "total", "next"}.
func (s *Service) handleList(r *http.Request) (any, error) {
	q := r.URL.Query()
	if !q.Has("limit") && !q.Has("after") && !q.Has("q") {
		list, err := s.List(r.Context())
		if err != nil {
			return nil, err
		}
		public(list.Sites)
		return list, nil
	}
	limit, err := api.QueryLimit(r, "limit", 50, MaxPage)
	if err != nil {
		return nil, err
	}
	p := PageParams{Limit: limit, Search: strings.TrimSpace(q.Get("q"))}
	if v := q.Get("after"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, api.Errorf(api.InvalidArgument, "after must be a site id, got %s", api.Quote(v))
		}
		p.After = n
	}
	if len(p.Search) > maxSearch {
		return nil, api.Errorf(api.InvalidArgument, "q must be at most %d characters, got %d", maxSearch, len(p.Search))
	}
	page, err := s.ListPage(r.Context(), p)
	if err != nil {
		return nil, err
	}
	public(page.Sites)
	return page, nil
}

// maxSearch is the longest search text accepted.
const maxSearch = 500

// handleDelete serves DELETE /site/:siteID with an empty response.
func (s *Service) handleDelete(r *http.Request) (any, error) {
	id, err := api.PathID(r, "siteID")
	if err != nil {
		return nil, err
	}
	return nil, s.Delete(r.Context(), id)
}
