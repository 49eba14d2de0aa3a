// Package site is the service that keeps the list of monitored sites, in its
// own database, over GORM.
package site

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"uptime/internal/api"
)

// Migrations is the site database's schema, applied at start-up.
//
//go:embed migrations/*.sql
var Migrations embed.FS

// Site describes a monitored site.
type Site struct {
	// ID is a unique ID for the site.
	ID int `json:"id"`
	// URL is the site's URL.
	URL string `json:"url"`
}

// Public returns the site as responses, events and messages show it: with
// the password of its URL hidden. The stored URL keeps it, for checking.
func (s Site) Public() Site {
	s.URL = api.Redact(s.URL)
	return s
}

// public hides the URL passwords of sites about to be shown, in place.
func public(sites []*Site) {
	for _, st := range sites {
		st.URL = api.Redact(st.URL)
	}
}

// Listener hears about changes to the list of sites, after they commit.
type Listener interface {
	// SiteAdded is called once a site has been added.
	SiteAdded(ctx context.Context, s Site)
	// SiteDeleted is called once a site has been deleted.
	SiteDeleted(ctx context.Context, id int)
}

// Targets decides which URLs may be monitored at all.
type Targets interface {
	// CheckURL returns an error when checks may not reach the URL.
	CheckURL(ctx context.Context, rawURL string) error
}

// Service manages the list of monitored sites.
type Service struct {
	db        *gorm.DB
	listeners []Listener
	targets   Targets
}

// OpenDB opens the site database over GORM. The schema comes from the
// migrations, never from AutoMigrate.
func OpenDB(dbURL string) (*gorm.DB, error) {
	db, err := gorm.Open(postgres.Open(dbURL), &gorm.Config{
		Logger:         logger.Discard,
		TranslateError: true,
		NowFunc:        func() time.Time { return time.Now().UTC() },
	})
	if err != nil {
		return nil, fmt.Errorf("open site database: %w", err)
	}
	return db, nil
}

// New returns the service over its database.
func New(db *gorm.DB) *Service {
	return &Service{db: db}
}

// Listen adds a listener for changes. It is meant for start-up wiring,
// before the service handles requests.
func (s *Service) Listen(l Listener) {
	s.listeners = append(s.listeners, l)
}

// CheckTargets makes Add refuse URLs that t refuses. It is meant for
// start-up wiring.
func (s *Service) CheckTargets(t Targets) { s.targets = t }

// AddParams are the parameters for adding a site to be monitored.
type AddParams struct {
	// URL is the URL of the site. If it doesn't contain a scheme
	// (like "http:" or "https:") it defaults to "https:".
	URL string `json:"url"`
}

// Add adds a site to the monitored list. A URL without a scheme gets
// https://; anything that is not an http or https URL with a host is
// refused, and so is a URL already on the list.
func (s *Service) Add(ctx context.Context, p AddParams) (*Site, error) {
	u, err := NormalizeURL(p.URL)
	if err != nil {
		return nil, err
	}
	if s.targets != nil {
		if err := s.targets.CheckURL(ctx, u); err != nil {
			return nil, api.Errorf(api.InvalidArgument, "url %s cannot be monitored: %v", api.Quote(u), err)
		}
	}
	site := &Site{URL: u}
	err = s.db.WithContext(ctx).Create(site).Error
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return nil, api.Errorf(api.AlreadyExists, "site %s is already monitored", api.Quote(u))
	}
	if err != nil {
		return nil, fmt.Errorf("add site %s: %w", u, err)
	}
	for _, l := range s.listeners {
		l.SiteAdded(ctx, *site)
	}
	return site, nil
}

// Get returns the site with the id.
func (s *Service) Get(ctx context.Context, id int) (*Site, error) {
	var site Site
	err := s.db.WithContext(ctx).Take(&site, "id = ?", id).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, api.Errorf(api.NotFound, "site %d not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get site %d: %w", id, err)
	}
	return &site, nil
}

// ListResponse is the list of monitored sites.
type ListResponse struct {
	// Sites is the list of monitored sites.
	Sites []*Site `json:"sites"`
}

// List returns every monitored site, oldest first.
func (s *Service) List(ctx context.Context) (*ListResponse, error) {
	sites := []*Site{}
	if err := s.db.WithContext(ctx).Order("id").Find(&sites).Error; err != nil {
		return nil, fmt.Errorf("list sites: %w", err)
	}
	return &ListResponse{Sites: sites}, nil
}

// Count returns how many sites are monitored.
func (s *Service) Count(ctx context.Context) (int64, error) {
	var n int64
	if err := s.db.WithContext(ctx).Model(&Site{}).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("count sites: %w", err)
	}
	return n, nil
}

// PageParams select one page of the list of sites.
type PageParams struct {
	// Limit is the most sites on the page.
	Limit int
	// After is the id the page starts after; zero starts at the beginning.
	After int
	// Search keeps only the sites whose URL contains it, ignoring case.
	Search string
}

// MaxPage is the most sites one page holds.
const MaxPage = 1000

// PageResponse is one page of the list of sites, oldest first.
type PageResponse struct {
	// Sites are the sites on this page.
	Sites []*Site `json:"sites"`
	// Total is how many sites match, on every page.
	Total int64 `json:"total"`
	// Next is the After of the next page; null on the last page.
	Next *int `json:"next"`
}

// ListPage returns a page of the sites whose URL contains p.Search, oldest
// first, with how many match in all.
func (s *Service) ListPage(ctx context.Context, p PageParams) (*PageResponse, error) {
	if p.Limit < 1 || p.Limit > MaxPage {
		return nil, api.Errorf(api.InvalidArgument, "limit must be from 1 to %d, got %d", MaxPage, p.Limit)
	}
	match := s.db.WithContext(ctx).Model(&Site{})
	if p.Search != "" {
		match = match.Where("url ILIKE ?", "%"+likeEscaper.Replace(p.Search)+"%")
	}
	match = match.Session(&gorm.Session{}) // used twice below
	resp := &PageResponse{Sites: []*Site{}}
	if err := match.Count(&resp.Total).Error; err != nil {
		return nil, fmt.Errorf("count sites: %w", err)
	}
	// One more than asked tells whether there is a next page.
	err := match.Where("id > ?", p.After).Order("id").Limit(p.Limit + 1).Find(&resp.Sites).Error
	if err != nil {
		return nil, fmt.Errorf("list sites: %w", err)
	}
	if len(resp.Sites) > p.Limit {
		resp.Sites = resp.Sites[:p.Limit]
		next := resp.Sites[p.Limit-1].ID
		resp.Next = &next
	}
	return resp, nil
}

// likeEscaper makes a search text match itself in a LIKE pattern.
var likeEscaper = strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`)

// Delete removes a site from the list. Its recorded checks go with it. A
// site that is not there is already deleted: as in the tutorial, that is
// no error, so a retried delete is harmless.
func (s *Service) Delete(ctx context.Context, id int) error {
	res := s.db.WithContext(ctx).Delete(&Site{}, "id = ?", id)
	if res.Error != nil {
		return fmt.Errorf("delete site %d: %w", id, res.Error)
	}
	for _, l := range s.listeners {
		l.SiteDeleted(ctx, id)
	}
	return nil
}
