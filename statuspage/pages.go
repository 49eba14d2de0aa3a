package statuspage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"uptime/internal/api"
	"uptime/internal/dbutil"
	"uptime/internal/errs"
	"uptime/internal/text"
)

// Page is a status page: groups of sites shown to the public at /p/<slug>.
type Page struct {
	// Slug names the page in its address: a to z, 0 to 9 and -, up to 64.
	Slug string `json:"slug"`
	// Title heads the page.
	Title string `json:"title"`
	// Description is shown under the title; may be empty.
	Description string `json:"description"`
	// ShowURLs tells whether the public page shows each site's URL; by
	// default it shows names only.
	ShowURLs bool `json:"show_urls"`
	// Groups are the page's sections, in order, each a list of site ids.
	Groups []Group `json:"groups"`
	// Domain is the host name the page is also served at, at /, as
	// status.example.com; empty for none.
	Domain string `json:"domain"`
	// Visibility is public (anyone sees the page), password (those who
	// gave its password) or token (those who have its token, as
	// ?token=). Neither is ever shown.
	Visibility string `json:"visibility"`
	// Subscriptions tells whether visitors may subscribe by email to the
	// page's written incidents, their updates and its maintenance.
	Subscriptions bool `json:"subscriptions"`
	// CreatedAt and UpdatedAt are when the page was made and last changed.
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`

	access access
}

// Group is a section of a status page.
type Group struct {
	// Name heads the section.
	Name string `json:"name"`
	// Sites are the ids of its sites, in order.
	Sites []int64 `json:"sites"`
}

// PageParams are the fields of a page to create or change. A field left
// out keeps its value (or takes its default, on creation).
type PageParams struct {
	Slug        *string  `json:"slug,omitempty"`
	Title       *string  `json:"title,omitempty"`
	Description *string  `json:"description,omitempty"`
	ShowURLs    *bool    `json:"show_urls,omitempty"`
	Groups      *[]Group `json:"groups,omitempty"`
	// Domain is a host name; "" or null for none.
	Domain *string `json:"domain,omitempty"`
	// Visibility is public, password or token; Password and Token are
	// what a page of those needs, kept hashed, never shown.
	Visibility *string `json:"visibility,omitempty"`
	Password   *string `json:"password,omitempty"`
	Token      *string `json:"token,omitempty"`
	// Subscriptions needs the server to send email (--smtp-url).
	Subscriptions *bool `json:"subscriptions,omitempty"`
}

// ListResponse is every status page.
type ListResponse struct {
	// Pages are the pages, by slug.
	Pages []Page `json:"pages"`
}

// Limits of a status page.
const (
	maxTitle       = 200
	maxDescription = 2000
	maxGroups      = 50
	maxGroupName   = 100
	// MaxPageSites is the most sites one page may show.
	MaxPageSites = 1000
)

var slugPattern = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)

// pageFields are the fields a request may give.
var pageFields = []string{"slug", "title", "description", "show_urls", "groups", "domain", "visibility", "password", "token", "subscriptions"}

// domainPattern is a host name of two labels or more, the last not a
// number: no address, no port.
var domainPattern = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`)

// decodePage reads a request's page fields, refusing a field it does not
// know, so that a misspelt one is not silently ignored.
func decodePage(r *http.Request) (PageParams, error) {
	p, nulls, err := api.DecodeFields[PageParams](r, "a status page", pageFields, "description", "domain")
	if nulls["description"] {
		p.Description = new(string)
	}
	if nulls["domain"] {
		p.Domain = new(string)
	}
	if p.Domain != nil {
		d := strings.ToLower(strings.TrimSuffix(*p.Domain, "."))
		p.Domain = &d
	}
	return p, err
}

// check validates the fields given, and that every site exists; slug is
// the page's, empty for a new one.
func (s *Service) check(ctx context.Context, slug string, p PageParams) error {
	if err := checkAccess(p); err != nil {
		return err
	}
	if p.Subscriptions != nil && *p.Subscriptions && s.mail.Mailer == nil {
		return errs.Errorf(errs.InvalidArgument, "subscriptions: this server sends no email; start it with --smtp-url to let visitors subscribe")
	}
	if p.Domain != nil && *p.Domain != "" {
		d := *p.Domain
		if len(d) > 253 || !domainPattern.MatchString(d) || strings.HasSuffix(d, ".localhost") {
			return errs.Errorf(errs.InvalidArgument, "domain must be a host name like status.example.com, got %s", text.Quote(d))
		}
		var other string
		err := s.db.QueryRow(ctx, `SELECT slug FROM status_page WHERE domain = $1 AND slug <> $2`, d, slug).Scan(&other)
		if err == nil {
			return errs.Errorf(errs.InvalidArgument, "domain: %s is the domain of page %s already", d, other)
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("find the page of domain %s: %w", d, err)
		}
	}
	if p.Slug != nil && !slugPattern.MatchString(*p.Slug) {
		return errs.Errorf(errs.InvalidArgument, "slug must be 1 to 64 of a-z, 0-9 and -, got %s", text.Quote(*p.Slug))
	}
	if p.Title != nil {
		if err := api.CheckText("title", *p.Title, 1, maxTitle, false); err != nil {
			return err
		}
	}
	if p.Description != nil {
		if err := api.CheckText("description", *p.Description, 0, maxDescription, true); err != nil {
			return err
		}
	}
	if p.Groups == nil {
		return nil
	}
	groups := *p.Groups
	if len(groups) > maxGroups {
		return errs.Errorf(errs.InvalidArgument, "a page has at most %d groups, got %d", maxGroups, len(groups))
	}
	seen := map[int64]bool{}
	var ids []int64
	for i, g := range groups {
		if err := api.CheckText(fmt.Sprintf("groups[%d].name", i), g.Name, 1, maxGroupName, false); err != nil {
			return err
		}
		for _, id := range g.Sites {
			if id < 1 {
				return errs.Errorf(errs.InvalidArgument, "groups[%d].sites: %d is not a site id", i, id)
			}
			if seen[id] {
				return errs.Errorf(errs.InvalidArgument, "groups[%d].sites: site %d is on the page twice", i, id)
			}
			seen[id] = true
			ids = append(ids, id)
		}
	}
	if len(ids) > MaxPageSites {
		return errs.Errorf(errs.InvalidArgument, "a page shows at most %d sites, got %d", MaxPageSites, len(ids))
	}
	if len(ids) == 0 {
		return nil
	}
	found, err := s.sites.Entries(ctx, ids)
	if err != nil {
		return err
	}
	known := map[int64]bool{}
	for _, e := range found {
		known[e.ID] = true
	}
	var missing []string
	for _, id := range ids {
		if !known[id] {
			missing = append(missing, fmt.Sprint(id))
		}
	}
	if len(missing) > 0 {
		return errs.Errorf(errs.InvalidArgument, "no site has the id %s", strings.Join(missing, ", "))
	}
	return nil
}

const pageColumns = `slug, title, description, show_urls, groups, COALESCE(domain, ''), created_at, updated_at,
	visibility, COALESCE(password_hash, ''), token_hash, secret, subscriptions`

func scanPage(row pgx.Row) (*Page, error) {
	var p Page
	var groups []byte
	if err := row.Scan(&p.Slug, &p.Title, &p.Description, &p.ShowURLs, &groups, &p.Domain, &p.CreatedAt, &p.UpdatedAt,
		&p.Visibility, &p.access.passwordHash, &p.access.tokenHash, &p.access.secret, &p.Subscriptions); err != nil {
		return nil, err
	}
	p.access.visibility = p.Visibility
	if err := json.Unmarshal(groups, &p.Groups); err != nil {
		return nil, fmt.Errorf("groups of status page %s: %w", p.Slug, err)
	}
	return &p, nil
}

// Create makes a page.
func (s *Service) Create(ctx context.Context, p PageParams) (*Page, error) {
	if p.Slug == nil {
		return nil, errs.Errorf(errs.InvalidArgument, "slug is required")
	}
	if p.Title == nil {
		return nil, errs.Errorf(errs.InvalidArgument, "title is required")
	}
	if err := s.check(ctx, "", p); err != nil {
		return nil, err
	}
	page := &Page{Slug: *p.Slug, Title: *p.Title, Groups: []Group{}}
	if p.Domain != nil {
		page.Domain = *p.Domain
	}
	sealed, err := sealAccess(p, access{visibility: "public"})
	if err != nil {
		return nil, err
	}
	if p.Description != nil {
		page.Description = *p.Description
	}
	if p.ShowURLs != nil {
		page.ShowURLs = *p.ShowURLs
	}
	if p.Subscriptions != nil {
		page.Subscriptions = *p.Subscriptions
	}
	if p.Groups != nil {
		page.Groups = normalized(*p.Groups)
	}
	groups, _ := json.Marshal(page.Groups)
	created, err := scanPage(s.db.QueryRow(ctx, `INSERT INTO status_page (slug, title, description, show_urls, groups, domain,
			visibility, password_hash, token_hash, secret, subscriptions)
		VALUES ($1, $2, $3, $4, $5, NULLIF($6, ''), $7, NULLIF($8, ''), $9, $10, $11) RETURNING `+pageColumns,
		page.Slug, page.Title, page.Description, page.ShowURLs, groups, page.Domain,
		sealed.visibility, sealed.passwordHash, sealed.tokenHash, sealed.secret, page.Subscriptions))
	if dbutil.DuplicateOf(err, "status_page_domain_key") {
		return nil, errs.Errorf(errs.InvalidArgument, "domain: %s is the domain of another page already", page.Domain)
	}
	if dbutil.Duplicate(err) {
		return nil, errs.Errorf(errs.AlreadyExists, "a status page has the slug %s already", text.Quote(page.Slug))
	}
	if err != nil {
		return nil, fmt.Errorf("create status page: %w", err)
	}
	s.cache.forget(created.Slug) // a "no such page" rendered before
	s.domains.changed()
	return created, nil
}

// normalized gives every group a list, empty rather than null.
func normalized(groups []Group) []Group {
	out := slices.Clone(groups)
	for i := range out {
		if out[i].Sites == nil {
			out[i].Sites = []int64{}
		}
	}
	return out
}

// Get returns the page with the slug.
func (s *Service) Get(ctx context.Context, slug string) (*Page, error) {
	p, err := scanPage(s.db.QueryRow(ctx, "SELECT "+pageColumns+" FROM status_page WHERE slug = $1", slug))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errs.Errorf(errs.NotFound, "no status page has the slug %s", text.Quote(slug))
	}
	if err != nil {
		return nil, fmt.Errorf("read status page: %w", err)
	}
	return p, nil
}

// OnPublicPage reports whether a site is on a public status page, so that
// its badges are public too.
func (s *Service) OnPublicPage(ctx context.Context, siteID int64) (bool, error) {
	var on bool
	err := s.db.QueryRow(ctx, `SELECT EXISTS (
		SELECT 1 FROM status_page, jsonb_array_elements(groups) AS g, jsonb_array_elements(g->'sites') AS site
		WHERE site = to_jsonb($1::bigint) AND visibility = 'public')`, siteID).Scan(&on)
	if err != nil {
		return false, fmt.Errorf("find the site's status pages: %w", err)
	}
	return on, nil
}

// List returns every page, by slug.
func (s *Service) List(ctx context.Context) (*ListResponse, error) {
	rows, err := s.db.Query(ctx, "SELECT "+pageColumns+" FROM status_page ORDER BY slug")
	if err != nil {
		return nil, fmt.Errorf("list status pages: %w", err)
	}
	defer rows.Close()
	out := &ListResponse{Pages: []Page{}}
	for rows.Next() {
		p, err := scanPage(rows)
		if err != nil {
			return nil, fmt.Errorf("list status pages: %w", err)
		}
		out.Pages = append(out.Pages, *p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list status pages: %w", err)
	}
	return out, nil
}

// Update changes the fields given of the page with the slug.
func (s *Service) Update(ctx context.Context, slug string, p PageParams) (*Page, error) {
	if err := s.check(ctx, slug, p); err != nil {
		return nil, err
	}
	cur, err := s.Get(ctx, slug)
	if err != nil {
		return nil, err
	}
	sealed, err := sealAccess(p, cur.access)
	if err != nil {
		return nil, err
	}
	var groups []byte
	if p.Groups != nil {
		groups, _ = json.Marshal(normalized(*p.Groups))
	}
	updated, err := scanPage(s.db.QueryRow(ctx, `UPDATE status_page SET slug = COALESCE($2, slug), title = COALESCE($3, title),
			description = COALESCE($4, description), show_urls = COALESCE($5, show_urls),
			groups = COALESCE($6::jsonb, groups), domain = CASE WHEN $7::text IS NULL THEN domain ELSE NULLIF($7, '') END,
			visibility = $8, password_hash = NULLIF($9, ''), token_hash = $10, secret = $11,
			subscriptions = COALESCE($12, subscriptions), updated_at = now()
		WHERE slug = $1 RETURNING `+pageColumns, slug, p.Slug, p.Title, p.Description, p.ShowURLs, groups, p.Domain,
		sealed.visibility, sealed.passwordHash, sealed.tokenHash, sealed.secret, p.Subscriptions))
	switch {
	case dbutil.DuplicateOf(err, "status_page_domain_key"):
		return nil, errs.Errorf(errs.InvalidArgument, "domain: %s is the domain of another page already", *p.Domain)
	case dbutil.Duplicate(err):
		return nil, errs.Errorf(errs.AlreadyExists, "a status page has the slug %s already", text.Quote(*p.Slug))
	case errors.Is(err, pgx.ErrNoRows):
		return nil, errs.Errorf(errs.NotFound, "no status page has the slug %s", text.Quote(slug))
	case err != nil:
		return nil, fmt.Errorf("update status page: %w", err)
	}
	s.cache.forget(slug)
	s.cache.forget(updated.Slug) // renamed onto a slug whose "no such page" was rendered
	s.domains.changed()
	return updated, nil
}

// Delete removes the page with the slug.
func (s *Service) Delete(ctx context.Context, slug string) error {
	tag, err := s.db.Exec(ctx, "DELETE FROM status_page WHERE slug = $1", slug)
	if err != nil {
		return fmt.Errorf("delete status page: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return errs.Errorf(errs.NotFound, "no status page has the slug %s", text.Quote(slug))
	}
	s.cache.forget(slug)
	s.domains.changed()
	return nil
}

// siteIDs lists a page's sites, in order.
func (p *Page) siteIDs() []int64 {
	var ids []int64
	for _, g := range p.Groups {
		for _, id := range g.Sites {
			ids = append(ids, id)
		}
	}
	return ids
}
