package site

import (
	"net/http"

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
	return s.Add(r.Context(), p)
}

// handleGet serves GET /site/:siteID → {"id", "url"}.
func (s *Service) handleGet(r *http.Request) (any, error) {
	id, err := api.PathID(r, "siteID")
	if err != nil {
		return nil, err
	}
	return s.Get(r.Context(), id)
}

// handleList serves GET /site → {"sites": [{"id", "url"}]}.
func (s *Service) handleList(r *http.Request) (any, error) {
	return s.List(r.Context())
}

// handleDelete serves DELETE /site/:siteID with an empty response.
func (s *Service) handleDelete(r *http.Request) (any, error) {
	id, err := api.PathID(r, "siteID")
	if err != nil {
		return nil, err
	}
	return nil, s.Delete(r.Context(), id)
}
