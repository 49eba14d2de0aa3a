package statuspage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/yuin/goldmark"

	"uptime/internal/api"
	"uptime/internal/errs"
	"uptime/internal/text"
	"uptime/monitor/history"
)

// WrittenIncident is an incident told by people on a status page: what
// is wrong, how bad, and a timeline of updates.
type WrittenIncident struct {
	ID   int64  `json:"id"`
	Slug string `json:"slug"`
	// Title names the incident.
	Title string `json:"title"`
	// Impact is none, minor, major or critical.
	Impact string `json:"impact"`
	// Status is its latest update's: investigating, identified,
	// monitoring or resolved.
	Status string `json:"status"`
	// Sites are the page's sites it is about; empty for the whole page.
	Sites []int64 `json:"sites"`
	// Outages are the outages of the page's sites (their ids in GET
	// /incident) it tells the story of: the page shows them within it.
	Outages    []int64    `json:"outages"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	ResolvedAt *time.Time `json:"resolved_at"`
	// Updates are its timeline, newest first.
	Updates []IncidentUpdate `json:"updates"`
}

// IncidentUpdate is one step of a written incident's timeline.
type IncidentUpdate struct {
	ID     int64  `json:"id"`
	Status string `json:"status"`
	// Message is Markdown; the public page shows it rendered, without
	// any raw HTML it holds.
	Message   string    `json:"message"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// IncidentParams are the fields of a written incident to create:
// title, status and message are required.
type IncidentParams struct {
	Title   *string  `json:"title,omitempty"`
	Status  *string  `json:"status,omitempty"`
	Message *string  `json:"message,omitempty"`
	Sites   *[]int64 `json:"sites,omitempty"`
	Impact  *string  `json:"impact,omitempty"`
	Outages *[]int64 `json:"outages,omitempty"`
}

// AdoptParams are the outages a written incident is to tell the story of.
type AdoptParams struct {
	Outages *[]int64 `json:"outages,omitempty"`
}

// UpdateParams are the fields of an update: both to add one, either to
// change one.
type UpdateParams struct {
	Status  *string `json:"status,omitempty"`
	Message *string `json:"message,omitempty"`
}

// IncidentsResponse is a page's written incidents, newest first.
type IncidentsResponse struct {
	Incidents []WrittenIncident `json:"incidents"`
}

var (
	incidentStatuses = []string{"investigating", "identified", "monitoring", "resolved"}
	impacts          = []string{"none", "minor", "major", "critical"}
)

// Limits of a written incident.
const (
	maxMessage          = 10_000
	maxUpdates          = 200
	maxIncidentsListed  = 100
	maxOutages          = 100
	defaultImpact       = "minor"
	resolved            = "resolved"
	writtenIncidentDays = 14 // a resolved one stays on the page this long
)

func (s *Service) registerWritten(srv *api.Server) {
	srv.Handle("POST /status-page/{slug}/incident", s.handleCreateIncident, api.Doc{
		Summary: "Write an incident on a status page, with its first update", Request: IncidentParams{}, Response: WrittenIncident{}})
	srv.Handle("GET /status-page/{slug}/incident", s.handleListIncidents, api.Doc{
		Summary: "A status page's written incidents, newest first", Response: IncidentsResponse{},
		Query: []api.Param{{Name: "limit", Type: "integer", Description: "how many, 1 to 100 (20)"}}})
	srv.Handle("POST /status-page/{slug}/incident/{id}/adopt", s.handleAdopt, api.Doc{
		Summary: "Have a written incident tell the story of outages of the page's sites", Request: AdoptParams{}, Response: WrittenIncident{}})
	srv.Handle("POST /status-page/{slug}/incident/{id}/update", s.handleAddUpdate, api.Doc{
		Summary: "Add an update to a written incident", Request: UpdateParams{}, Response: WrittenIncident{}})
	srv.Handle("PATCH /status-page/{slug}/incident/{id}/update/{update}", s.handleEditUpdate, api.Doc{
		Summary: "Change an update's status or message", Request: UpdateParams{}, Response: WrittenIncident{}})
	srv.Handle("DELETE /status-page/{slug}/incident/{id}/update/{update}", s.handleDeleteUpdate, api.Doc{
		Summary: "Delete an update (not an incident's only one)", Response: WrittenIncident{}})
	srv.Handle("DELETE /status-page/{slug}/incident/{id}", s.handleDeleteIncident, api.Doc{
		Summary: "Delete a written incident and its updates"})
}

// checkUpdate checks an update's fields given; both are required when
// adding one.
func checkUpdate(p UpdateParams, adding bool) error {
	if p.Status == nil && adding {
		return errs.Errorf(errs.InvalidArgument, "status is required: one of %s", strings.Join(incidentStatuses, ", "))
	}
	if p.Status != nil && !slices.Contains(incidentStatuses, *p.Status) {
		return errs.Errorf(errs.InvalidArgument, "status must be one of %s, got %s", strings.Join(incidentStatuses, ", "), text.Quote(*p.Status))
	}
	if p.Message == nil && adding {
		return errs.Errorf(errs.InvalidArgument, "message is required")
	}
	if p.Message != nil {
		return api.CheckText("message", *p.Message, 1, maxMessage, true)
	}
	return nil
}

func (s *Service) handleCreateIncident(r *http.Request) (any, error) {
	p, _, err := api.DecodeFields[IncidentParams](r, "an incident", []string{"title", "status", "message", "sites", "impact", "outages"})
	if err != nil {
		return nil, err
	}
	return s.CreateIncident(r.Context(), r.PathValue("slug"), p)
}

// CreateIncident writes an incident on the page, with its first update.
func (s *Service) CreateIncident(ctx context.Context, slug string, p IncidentParams) (*WrittenIncident, error) {
	if p.Title == nil {
		return nil, errs.Errorf(errs.InvalidArgument, "title is required")
	}
	if err := api.CheckText("title", *p.Title, 1, maxTitle, false); err != nil {
		return nil, err
	}
	if err := checkUpdate(UpdateParams{Status: p.Status, Message: p.Message}, true); err != nil {
		return nil, err
	}
	impact := defaultImpact
	if p.Impact != nil {
		if !slices.Contains(impacts, *p.Impact) {
			return nil, errs.Errorf(errs.InvalidArgument, "impact must be one of %s, got %s", strings.Join(impacts, ", "), text.Quote(*p.Impact))
		}
		impact = *p.Impact
	}
	page, err := s.Get(ctx, slug)
	if err != nil {
		return nil, err
	}
	sites := api.OrEmpty(p.Sites)
	on := page.siteIDs()
	for _, id := range sites {
		if !slices.Contains(on, id) {
			return nil, errs.Errorf(errs.InvalidArgument, "sites: site %d is not on the page %s", id, slug)
		}
	}
	var id int64
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		outages := api.OrEmpty(p.Outages)
		if err := s.checkOutages(ctx, tx, page, 0, outages); err != nil {
			return err
		}
		var resolvedAt any
		if *p.Status == resolved {
			resolvedAt = time.Now()
		}
		if err := tx.QueryRow(ctx, `INSERT INTO page_incident (slug, title, impact, status, sites, resolved_at, outages)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`, slug, *p.Title, impact, *p.Status, sites, resolvedAt, outages).Scan(&id); err != nil {
			return err
		}
		var uid int64
		if err := tx.QueryRow(ctx, `INSERT INTO page_incident_update (incident_id, status, message) VALUES ($1, $2, $3) RETURNING id`,
			id, *p.Status, *p.Message).Scan(&uid); err != nil {
			return err
		}
		return s.noteUpdate(ctx, tx, uid)
	})
	if errs.Is(err, errs.InvalidArgument) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("write an incident on page %s: %w", slug, err)
	}
	s.cache.forget(slug)
	s.dispatch(ctx)
	return s.Incident(ctx, slug, id)
}

// Incident returns the page's written incident with the id, its updates
// newest first.
func (s *Service) Incident(ctx context.Context, slug string, id int64) (*WrittenIncident, error) {
	list, err := s.incidents(ctx, slug, []int64{id}, 1, nil, nil)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, s.noIncident(ctx, slug, id)
	}
	return &list[0], nil
}

// noIncident says why the page has no incident with the id: no such page,
// or an incident of another page (a 400: the id names the wrong thing), or
// none at all.
func (s *Service) noIncident(ctx context.Context, slug string, id int64) error {
	if _, err := s.Get(ctx, slug); err != nil {
		return err
	}
	var other string
	err := s.db.QueryRow(ctx, "SELECT slug FROM page_incident WHERE id = $1", id).Scan(&other)
	if errors.Is(err, pgx.ErrNoRows) {
		return errs.Errorf(errs.NotFound, "page %s has no incident %d", slug, id)
	}
	if err != nil {
		return fmt.Errorf("read incident %d: %w", id, err)
	}
	return errs.Errorf(errs.InvalidArgument, "id: incident %d is on another page, not on %s", id, slug)
}

// incidents reads the page's written incidents, newest first: those with
// the ids, or the latest limit; with since, only those open or resolved
// since then; with until, only those begun before it.
func (s *Service) incidents(ctx context.Context, slug string, ids []int64, limit int, since, until *time.Time) ([]WrittenIncident, error) {
	rows, err := s.db.Query(ctx, `SELECT id, slug, title, impact, status, sites, outages, created_at, updated_at, resolved_at
		FROM page_incident WHERE slug = $1 AND ($2::bigint[] IS NULL OR id = ANY($2))
			AND ($4::timestamptz IS NULL OR resolved_at IS NULL OR resolved_at >= $4)
			AND ($5::timestamptz IS NULL OR created_at < $5)
		ORDER BY created_at DESC, id DESC LIMIT $3`, slug, ids, limit, since, until)
	if err != nil {
		return nil, fmt.Errorf("read the incidents of page %s: %w", slug, err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (WrittenIncident, error) {
		var in WrittenIncident
		err := row.Scan(&in.ID, &in.Slug, &in.Title, &in.Impact, &in.Status, &in.Sites, &in.Outages, &in.CreatedAt, &in.UpdatedAt, &in.ResolvedAt)
		in.Updates = []IncidentUpdate{}
		return in, err
	})
	if err != nil || len(list) == 0 {
		if err != nil {
			err = fmt.Errorf("read the incidents of page %s: %w", slug, err)
		}
		return list, err
	}
	byID := map[int64]*WrittenIncident{}
	got := make([]int64, len(list))
	for i := range list {
		byID[list[i].ID], got[i] = &list[i], list[i].ID
	}
	rows, err = s.db.Query(ctx, `SELECT incident_id, id, status, message, created_at, updated_at FROM page_incident_update
		WHERE incident_id = ANY($1) ORDER BY created_at DESC, id DESC`, got)
	if err != nil {
		return nil, fmt.Errorf("read the incidents' updates of page %s: %w", slug, err)
	}
	var (
		of int64
		u  IncidentUpdate
	)
	_, err = pgx.ForEachRow(rows, []any{&of, &u.ID, &u.Status, &u.Message, &u.CreatedAt, &u.UpdatedAt}, func() error {
		byID[of].Updates = append(byID[of].Updates, u)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the incidents' updates of page %s: %w", slug, err)
	}
	return list, nil
}

func (s *Service) handleListIncidents(r *http.Request) (any, error) {
	limit, err := api.QueryLimit(r, "limit", 20, maxIncidentsListed)
	if err != nil {
		return nil, err
	}
	slug := r.PathValue("slug")
	if _, err := s.Get(r.Context(), slug); err != nil {
		return nil, err
	}
	list, err := s.incidents(r.Context(), slug, nil, limit, nil, nil)
	if err != nil {
		return nil, err
	}
	return &IncidentsResponse{Incidents: list}, nil
}

func (s *Service) handleAdopt(r *http.Request) (any, error) {
	id, _, err := incidentPath(r, false)
	if err != nil {
		return nil, err
	}
	p, _, err := api.DecodeFields[AdoptParams](r, "outages to adopt", []string{"outages"})
	if err != nil {
		return nil, err
	}
	if p.Outages == nil || len(*p.Outages) == 0 {
		return nil, errs.Errorf(errs.InvalidArgument, "outages is required: the ids of outages of the page's sites, as GET /incident lists them")
	}
	slug := r.PathValue("slug")
	page, err := s.Get(r.Context(), slug)
	if err != nil {
		return nil, err
	}
	return s.changeAndShow(r, id, func(ctx context.Context, tx pgx.Tx) error {
		if err := s.checkOutages(ctx, tx, page, id, *p.Outages); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE page_incident SET outages = ARRAY(SELECT DISTINCT unnest(outages || $2::bigint[]) ORDER BY 1),
			updated_at = now() WHERE id = $1`, id, *p.Outages)
		return err
	})
}

// checkOutages checks, in tx, that each of the outages is one of a site
// on the page, told by no written incident of the page but the one with
// the id (0 for one being written). It holds the page's row, so that two
// incidents never adopt one outage at once.
func (s *Service) checkOutages(ctx context.Context, tx pgx.Tx, page *Page, id int64, outages []int64) error {
	if len(outages) == 0 {
		return nil
	}
	if len(outages) > maxOutages {
		return errs.Errorf(errs.InvalidArgument, "outages: at most %d", maxOutages)
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM status_page WHERE slug = $1 FOR UPDATE`, page.Slug); err != nil {
		return err
	}
	found, err := s.mon.Incidents(ctx, history.IncidentQuery{IDs: outages, Limit: len(outages)})
	if err != nil {
		return err
	}
	on := page.siteIDs()
	for i, o := range outages {
		if !slices.ContainsFunc(found.Incidents, func(in history.Incident) bool { return in.ID == o && slices.Contains(on, in.SiteID) }) {
			return errs.Errorf(errs.InvalidArgument, "outages[%d]: no outage %d of a site on page %s", i, o, page.Slug)
		}
		var other int64
		err := tx.QueryRow(ctx, `SELECT id FROM page_incident WHERE slug = $1 AND $2 = ANY(outages) AND id <> $3`, page.Slug, o, id).Scan(&other)
		if err == nil {
			return errs.Errorf(errs.InvalidArgument, "outages[%d]: outage %d is told by incident %d already", i, o, other)
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
	}
	return nil
}

// adopted returns the outages the page's written incidents tell.
func (s *Service) adopted(ctx context.Context, slug string) (map[int64]bool, error) {
	rows, err := s.db.Query(ctx, `SELECT DISTINCT unnest(outages) FROM page_incident WHERE slug = $1`, slug)
	if err != nil {
		return nil, fmt.Errorf("read the outages told on page %s: %w", slug, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("read the outages told on page %s: %w", slug, err)
	}
	out := make(map[int64]bool, len(ids))
	for _, id := range ids {
		out[id] = true
	}
	return out, nil
}

// incidentPath reads the incident's id, and the update's, from the path.
func incidentPath(r *http.Request, update bool) (id, uid int64, err error) {
	if id, err = api.PathID(r, "id"); err != nil || !update {
		return id, 0, err
	}
	uid, err = api.PathID(r, "update")
	return id, uid, err
}

func (s *Service) handleAddUpdate(r *http.Request) (any, error) {
	id, _, err := incidentPath(r, false)
	if err != nil {
		return nil, err
	}
	p, _, err := api.DecodeFields[UpdateParams](r, "an update", []string{"status", "message"})
	if err != nil {
		return nil, err
	}
	if err := checkUpdate(p, true); err != nil {
		return nil, err
	}
	return s.changeAndShow(r, id, func(ctx context.Context, tx pgx.Tx) error {
		n, err := countUpdates(ctx, tx, id)
		if err != nil {
			return err
		}
		if n >= maxUpdates {
			return errs.Errorf(errs.InvalidArgument, "an incident has at most %d updates", maxUpdates)
		}
		var uid int64
		if err := tx.QueryRow(ctx, "INSERT INTO page_incident_update (incident_id, status, message) VALUES ($1, $2, $3) RETURNING id",
			id, *p.Status, *p.Message).Scan(&uid); err != nil {
			return err
		}
		return s.noteUpdate(ctx, tx, uid)
	})
}

func (s *Service) handleEditUpdate(r *http.Request) (any, error) {
	id, uid, err := incidentPath(r, true)
	if err != nil {
		return nil, err
	}
	p, _, err := api.DecodeFields[UpdateParams](r, "an update", []string{"status", "message"})
	if err != nil {
		return nil, err
	}
	if err := checkUpdate(p, false); err != nil {
		return nil, err
	}
	return s.changeAndShow(r, id, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE page_incident_update SET status = COALESCE($3, status),
			message = COALESCE($4, message), updated_at = now() WHERE id = $2 AND incident_id = $1`, id, uid, p.Status, p.Message)
		if err == nil && tag.RowsAffected() == 0 {
			return errs.Errorf(errs.NotFound, "incident %d has no update %d", id, uid)
		}
		return err
	})
}

func (s *Service) handleDeleteUpdate(r *http.Request) (any, error) {
	id, uid, err := incidentPath(r, true)
	if err != nil {
		return nil, err
	}
	return s.changeAndShow(r, id, func(ctx context.Context, tx pgx.Tx) error {
		n, err := countUpdates(ctx, tx, id)
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, "DELETE FROM page_incident_update WHERE id = $2 AND incident_id = $1", id, uid)
		switch {
		case err != nil:
			return err
		case tag.RowsAffected() == 0:
			return errs.Errorf(errs.NotFound, "incident %d has no update %d", id, uid)
		case n == 1:
			return errs.Errorf(errs.InvalidArgument, "update %d is incident %d's only one: delete the incident instead", uid, id)
		}
		return nil
	})
}

// countUpdates counts an incident's updates.
func countUpdates(ctx context.Context, tx pgx.Tx, id int64) (int, error) {
	var n int
	err := tx.QueryRow(ctx, "SELECT count(*) FROM page_incident_update WHERE incident_id = $1", id).Scan(&n)
	return n, err
}

// changeAndShow changes the request's page's incident with f (see
// changeIncident) and answers the incident as it then is.
func (s *Service) changeAndShow(r *http.Request, id int64, f func(context.Context, pgx.Tx) error) (any, error) {
	ctx, slug := r.Context(), r.PathValue("slug")
	if err := s.changeIncident(ctx, slug, id, func(tx pgx.Tx) error { return f(ctx, tx) }); err != nil {
		return nil, err
	}
	s.dispatch(ctx) // the notice of an update added
	return s.Incident(ctx, slug, id)
}

func (s *Service) handleDeleteIncident(r *http.Request) (any, error) {
	id, _, err := incidentPath(r, false)
	if err != nil {
		return nil, err
	}
	slug := r.PathValue("slug")
	tag, err := s.db.Exec(r.Context(), "DELETE FROM page_incident WHERE id = $1 AND slug = $2", id, slug)
	if err != nil {
		return nil, fmt.Errorf("delete incident %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return nil, s.noIncident(r.Context(), slug, id)
	}
	s.cache.forget(slug)
	return nil, nil
}

// changeIncident runs f in a transaction holding the page's incident,
// then sets the incident's status to its latest update's (resolved_at
// with it) and forgets the rendered page.
func (s *Service) changeIncident(ctx context.Context, slug string, id int64, f func(pgx.Tx) error) error {
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var found bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM page_incident WHERE id = $1 AND slug = $2 FOR UPDATE)", id, slug).Scan(&found); err != nil {
			return err
		}
		if !found {
			return s.noIncident(ctx, slug, id)
		}
		if err := f(tx); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE page_incident i SET updated_at = now(), status = u.status,
			resolved_at = CASE WHEN u.status <> 'resolved' THEN NULL ELSE COALESCE(i.resolved_at, now()) END
			FROM (SELECT status FROM page_incident_update WHERE incident_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1) u
			WHERE i.id = $1`, id)
		return err
	})
	var e *errs.Error
	if errors.As(err, &e) {
		return err
	}
	if err != nil {
		return fmt.Errorf("change incident %d: %w", id, err)
	}
	s.cache.forget(slug)
	return nil
}

// markdown renders messages: CommonMark, with any raw HTML left out and
// dangerous links (javascript: and the like) dropped, goldmark's defaults.
var markdown = goldmark.New()

// renderMarkdown returns a message as safe HTML.
func renderMarkdown(message string) template.HTML {
	var b bytes.Buffer
	if err := markdown.Convert([]byte(message), &b); err != nil {
		return template.HTML(template.HTMLEscapeString(message))
	}
	return template.HTML(b.String())
}
