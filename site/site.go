// Package site is the service that keeps the list of monitored sites and
// their settings, in its own database, over GORM.
package site

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"uptime/internal/errs"
	"uptime/internal/ping"
	"uptime/internal/seal"
	"uptime/internal/text"
)

// Migrations is the site database's schema, applied at start-up.
//
//go:embed migrations/*.sql
var Migrations embed.FS

// Site describes a monitored site.
type Site struct {
	// ID is a unique ID for the site.
	ID int64 `json:"id"`
	// URL is the site's URL.
	URL string `json:"url"`
}

// Public returns the site as responses, events and messages show it: with
// the password of its URL hidden. The stored URL keeps it, for checking.
func (s Site) Public() Site {
	s.URL = text.Redact(s.URL)
	return s
}

// Entry is a site with its settings, defaults filled in: what
// GET /site/:siteID and the lists answer, and what a check follows.
type Entry struct {
	Site
	Config
	// Given are the settings the site was given, before defaults.
	Given Settings `json:"-"`
	// Version counts the site's changes.
	Version int64 `json:"-"`
}

// SetGiven sets the settings the site was given from their JSON, as the
// site database or a copy of it holds them.
func (e *Entry) SetGiven(settings []byte) error {
	e.Given = Settings{}
	if err := json.Unmarshal(settings, &e.Given); err != nil {
		return fmt.Errorf("settings of site %d: %w", e.ID, err)
	}
	return nil
}

// Public returns the entry as responses show it: its URL's credentials
// (user information, secret-looking query values), its headers' values,
// its body and what a tcp or tls check sends hidden, the body's length
// given in BodyBytes. The key holder reads them back through GET
// /site/export.
func (e Entry) Public() Entry {
	e.Site = e.Site.Public()
	e.Headers = maskHeaders(e.Headers)
	if e.Body != "" {
		e.BodyBytes, e.Body = len(e.Body), text.Mask
	}
	if e.Send != "" {
		e.Send = text.Mask
	}
	return e
}

// Public returns the settings given as responses show them: as
// Entry.Public shows a site's, headers' values and the body hidden.
func (st Settings) Public() Settings {
	st.Headers = maskHeaders(st.Headers)
	mask := text.Mask
	if st.Body != nil && *st.Body != "" {
		st.Body = &mask
	}
	if st.Send != nil && *st.Send != "" {
		st.Send = &mask
	}
	return st
}

// Listener hears about changes to the list of sites, after they commit.
type Listener interface {
	// SiteAdded is called once a site has been added.
	SiteAdded(ctx context.Context, e Entry)
	// SiteChanged is called once a site's settings have changed.
	SiteChanged(ctx context.Context, e Entry)
	// SiteDeleted is called once a site has been deleted.
	SiteDeleted(ctx context.Context, id int64)
}

// Targets decides which URLs may be monitored at all.
type Targets interface {
	// CheckURL returns an error when checks may not reach the URL.
	CheckURL(ctx context.Context, rawURL string) error
}

// Service manages the list of monitored sites.
type Service struct {
	db        *gorm.DB
	baseURL   string // where ping URLs point; see SetPublicURL
	listeners []Listener
	targets   Targets
	defaults  Defaults
	box       *seal.Box
	// keyClaimed tells that box's key is known to be the database's.
	keyClaimed atomic.Bool
}

// row is a site as its table holds it: its URL and settings as open
// reads show them, and its credentials sealed (see Sealed).
type row struct {
	ID int64
	// URL is the URL with its credentials hidden.
	URL string
	// Settings are the settings given, as JSON, credentials hidden.
	Settings string
	// Sealed are the credentials, sealed; nil for a site without any.
	Sealed []byte
	// UniqueURL keeps the URL whole unique: see uniqueURL. Null in the
	// rows of versions before credentials were sealed, until SealOlder.
	UniqueURL *string `gorm:"column:unique_url"`
	Version   int64
	// Search is what a search matches: see searchText.
	Search *string
}

func (row) TableName() string { return "sites" }

// rowColumns are the columns a site is read from.
const rowColumns = "id, url, settings, sealed, version"

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

// New returns the service over its database. Its credentials are sealed
// with a key of this process alone until SealWith gives the instances'.
func New(db *gorm.DB) *Service {
	s := &Service{db: db, box: seal.Ephemeral()}
	s.defaults.setDefaults()
	return s
}

// SealWith makes the service seal sites' credentials with box's key. It
// is meant for start-up wiring; call CheckKey after it.
func (s *Service) SealWith(box *seal.Box) { s.box = box }

// Listen adds a listener for changes. It is meant for start-up wiring,
// before the service handles requests.
func (s *Service) Listen(l Listener) {
	s.listeners = append(s.listeners, l)
}

// CheckTargets makes Add refuse URLs that t refuses. It is meant for
// start-up wiring.
func (s *Service) CheckTargets(t Targets) { s.targets = t }

// SetDefaults sets what a site's settings are where it was given none. It
// is meant for start-up wiring.
func (s *Service) SetDefaults(d Defaults) {
	d.setDefaults()
	s.defaults = d
}

// AddParams are the parameters for adding a site to be monitored.
type AddParams struct {
	// URL is the URL of the site. If it doesn't contain a scheme
	// (like "http:" or "https:") it defaults to "https:".
	URL string `json:"url"`
	// Kind is "push" for a site that reports in rather than is fetched,
	// which has no URL; every other kind is named by its URL's scheme.
	Kind string `json:"kind,omitempty"`
	// Settings are the site's own settings; every one is optional.
	Settings
}

// Add adds a site to the monitored list. A URL without a scheme gets
// https://; anything that is not an http or https URL with a host is
// refused, and so is a URL already on the list or a setting out of
// bounds.
func (s *Service) Add(ctx context.Context, p AddParams) (*Site, error) {
	e, _, err := s.add(ctx, p)
	if err != nil {
		return nil, err
	}
	return &e.Site, nil
}

// add adds a site, and returns it with, for a push site given no token's
// hash, its new token, which is kept nowhere.
func (s *Service) add(ctx context.Context, p AddParams) (_ *Entry, token string, err error) {
	switch {
	case p.Kind == KindPush && strings.TrimSpace(p.URL) != "":
		return nil, "", errs.Errorf(errs.InvalidArgument, "a push site has no url: its job reports in at the ping URL it is given")
	case p.Kind == KindPush:
		p.URL = NewPushURL()
	case p.Kind != "":
		return nil, "", errs.Errorf(errs.InvalidArgument, `kind %s: a site's kind is named by its url's scheme; "kind" is given only as "push", for a site with no url`, text.Quote(p.Kind))
	}
	u, err := s.checkURL(ctx, p.URL)
	if err != nil {
		return nil, "", err
	}
	if KindOf(u) == KindPush && p.Settings.TokenHash == nil {
		var hash string
		token, hash = newToken()
		p.Settings.TokenHash = &hash
	}
	if err := p.Settings.normalize(u, s.defaults); err != nil {
		return nil, "", err
	}
	if err := s.checkReach(ctx, u, p.Settings); err != nil {
		return nil, "", err
	}
	if err := checkDependencies(ctx, s.db, 0, p.Settings.DependsOn); err != nil {
		return nil, "", err
	}
	r := s.sealRow(0, u, p.Settings, 1)
	if err := s.claimKey(ctx, r.Sealed); err != nil {
		return nil, "", err
	}
	err = s.db.WithContext(ctx).Create(r).Error
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return nil, "", errs.Errorf(errs.AlreadyExists, "site %s is already monitored", text.Quote(text.Redact(u)))
	}
	if err != nil {
		return nil, "", fmt.Errorf("add site %s: %w", text.Redact(u), err)
	}
	e, err := s.entry(r)
	if err != nil {
		return nil, "", err
	}
	for _, l := range s.listeners {
		l.SiteAdded(ctx, *e)
	}
	return e, token, nil
}

// checkURL normalizes a site's URL and refuses one that may not be
// monitored.
func (s *Service) checkURL(ctx context.Context, rawURL string) (string, error) {
	u, err := NormalizeURL(rawURL)
	if err != nil {
		return "", err
	}
	if s.targets != nil && KindOf(u) != KindPush { // a push site is never fetched
		if err := s.targets.CheckURL(ctx, u); err != nil {
			return "", errs.Errorf(errs.InvalidArgument, "url %s cannot be monitored: %v", text.Quote(text.Redact(u)), err)
		}
	}
	return u, nil
}

// checkReach refuses what a site's checks could not reach: a dns_server
// that may not be asked, as checkURL refuses a URL, and an icmp:// site
// where this process can send no echo request.
func (s *Service) checkReach(ctx context.Context, rawURL string, st Settings) error {
	if KindOf(rawURL) == KindICMP {
		if err := ping.Available(); err != nil {
			return errs.Errorf(errs.InvalidArgument, "url %s cannot be checked here: %v", text.Quote(rawURL), err)
		}
	}
	if s.targets == nil || st.DNSServer == nil {
		return nil
	}
	if err := s.targets.CheckURL(ctx, "dns://"+*st.DNSServer); err != nil {
		return errs.Errorf(errs.InvalidArgument, "dns_server %s cannot be asked: %v", text.Quote(*st.DNSServer), err)
	}
	return nil
}

func (st Settings) json() string {
	b, err := json.Marshal(st)
	if err != nil {
		panic(err) // Settings always marshal
	}
	return string(b)
}

// Get returns the site with the id.
func (s *Service) Get(ctx context.Context, id int64) (*Site, error) {
	e, err := s.Entry(ctx, id)
	if err != nil {
		return nil, err
	}
	return &e.Site, nil
}

// Entry returns the site with the id and its settings.
func (s *Service) Entry(ctx context.Context, id int64) (*Entry, error) {
	var r row
	err := s.db.WithContext(ctx).Take(&r, "id = ?", id).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, errs.Errorf(errs.NotFound, "site %d not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get site %d: %w", id, err)
	}
	return s.entry(&r)
}

// ListResponse is the list of monitored sites.
type ListResponse struct {
	// Sites is the list of monitored sites.
	Sites []*Entry `json:"sites"`
}

// List returns every monitored site, oldest first.
func (s *Service) List(ctx context.Context) (*ListResponse, error) {
	var rows []*row
	if err := s.db.WithContext(ctx).Order("id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("list sites: %w", err)
	}
	sites, err := s.entries(rows)
	if err != nil {
		return nil, err
	}
	return &ListResponse{Sites: sites}, nil
}

func (s *Service) entries(rows []*row) ([]*Entry, error) {
	out := make([]*Entry, len(rows))
	for i, r := range rows {
		e, err := s.entry(r)
		if err != nil {
			return nil, err
		}
		out[i] = e
	}
	return out, nil
}

// Versions returns the version of every site, by id: what a copy of the
// list compares itself with, without reading every site's settings.
func (s *Service) Versions(ctx context.Context) (map[int64]int64, error) {
	rows, err := s.db.WithContext(ctx).Model(&row{}).Select("id, version").Rows()
	if err != nil {
		return nil, fmt.Errorf("list site versions: %w", err)
	}
	defer rows.Close()
	out := map[int64]int64{}
	for rows.Next() {
		var (
			id      int64
			version int64
		)
		if err := rows.Scan(&id, &version); err != nil {
			return nil, fmt.Errorf("list site versions: %w", err)
		}
		out[id] = version
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list site versions: %w", err)
	}
	return out, nil
}

// Entries returns the sites with the ids that exist, with their settings,
// in id order.
func (s *Service) Entries(ctx context.Context, ids []int64) ([]*Entry, error) {
	var rows []*row
	if err := s.db.WithContext(ctx).Raw(`SELECT `+rowColumns+` FROM sites
		WHERE id IN (SELECT jsonb_array_elements_text(?::jsonb)::bigint) ORDER BY id`, jsonText(ids)).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("get %d sites: %w", len(ids), err)
	}
	return s.entries(rows)
}

// Tags returns every tag some site has, sorted.
func (s *Service) Tags(ctx context.Context) ([]string, error) {
	tags := []string{}
	if err := s.db.WithContext(ctx).Raw(`SELECT DISTINCT jsonb_array_elements_text(settings->'tags') AS tag
		FROM sites WHERE jsonb_typeof(settings->'tags') = 'array' ORDER BY 1`).Scan(&tags).Error; err != nil {
		return nil, fmt.Errorf("list tags: %w", err)
	}
	return tags, nil
}

// Count returns how many sites are monitored.
func (s *Service) Count(ctx context.Context) (int64, error) {
	var n int64
	if err := s.db.WithContext(ctx).Model(&row{}).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("count sites: %w", err)
	}
	return n, nil
}

// PageParams select one page of the list of sites.
type PageParams struct {
	// Limit is the most sites on the page.
	Limit int
	// After is the id the page starts after; zero starts at the beginning.
	After int64
	// Search keeps only the sites whose URL or name contains it, ignoring
	// case.
	Search string
}

// MaxPage is the most sites one page holds.
const MaxPage = 1000

// PageResponse is one page of the list of sites, oldest first.
type PageResponse struct {
	// Sites are the sites on this page.
	Sites []*Entry `json:"sites"`
	// Total is how many sites match, on every page.
	Total int64 `json:"total"`
	// Next is the After of the next page; null on the last page.
	Next *int64 `json:"next"`
}

// ListPage returns a page of the sites whose URL or name contains
// p.Search, oldest first, with how many match in all.
func (s *Service) ListPage(ctx context.Context, p PageParams) (*PageResponse, error) {
	if p.Limit < 1 || p.Limit > MaxPage {
		return nil, errs.Errorf(errs.InvalidArgument, "limit must be from 1 to %d, got %d", MaxPage, p.Limit)
	}
	match := s.db.WithContext(ctx).Model(&row{})
	if p.Search != "" {
		match = match.Where("search ILIKE ?", "%"+likeEscaper.Replace(p.Search)+"%")
	}
	match = match.Session(&gorm.Session{}) // used twice below
	resp := &PageResponse{}
	if err := match.Count(&resp.Total).Error; err != nil {
		return nil, fmt.Errorf("count sites: %w", err)
	}
	// One more than asked tells whether there is a next page.
	var rows []*row
	err := match.Where("id > ?", p.After).Order("id").Limit(p.Limit + 1).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("list sites: %w", err)
	}
	if len(rows) > p.Limit {
		rows = rows[:p.Limit]
		next := rows[p.Limit-1].ID
		resp.Next = &next
	}
	if resp.Sites, err = s.entries(rows); err != nil {
		return nil, err
	}
	return resp, nil
}

// searchText is what a search of the site matches: its URL as open reads
// show it, credentials hidden, and the name it was given, so that a search
// can never tell more than a read.
func searchText(url string, st Settings) *string {
	shown := text.Redact(url)
	if st.Name != nil {
		shown += "\n" + *st.Name
	}
	return &shown
}

// SealOlder seals the credentials of the sites stored by versions before
// they were sealed, and writes what a search of them matches, in place: a
// batch of sites a statement, so that a crash leaves each site either as
// it was or sealed. It is run at start-up, before requests are served. A
// site that an instance of an earlier version added during an upgrade
// with the URL of a site already sealed cannot be sealed beside it: it is
// left as it is and returned, for its owner to delete.
func (s *Service) SealOlder(ctx context.Context) (duplicates []int64, err error) {
	for after := int64(0); ; {
		var rows []*row
		if err := s.db.WithContext(ctx).Where("unique_url IS NULL AND id > ?", after).Order("id").Limit(1000).
			Find(&rows).Error; err != nil {
			return duplicates, fmt.Errorf("read sites to seal: %w", err)
		}
		if len(rows) == 0 {
			return duplicates, nil
		}
		after = rows[len(rows)-1].ID
		out := make([]record, len(rows))
		for i, r := range rows {
			// Nothing of it is sealed yet: it opens as it is, whole.
			u, st, err := s.open(r)
			if err != nil {
				return duplicates, err
			}
			n := s.sealRow(r.ID, u, st, r.Version)
			if err := s.claimKey(ctx, n.Sealed); err != nil {
				return duplicates, err
			}
			out[i] = n.record()
		}
		var left []int64
		if err := s.db.WithContext(ctx).Raw(`WITH sealed AS (
				UPDATE sites s SET url = v.url, settings = v.settings,
					sealed = decode(v.sealed, 'base64'), unique_url = v."unique", search = v.search
				FROM jsonb_to_recordset(?::jsonb) AS v(id bigint, url text, settings jsonb, sealed text, "unique" text, search text)
				WHERE s.id = v.id AND s.unique_url IS NULL
				  AND NOT EXISTS (SELECT FROM sites o WHERE o.unique_url = v."unique" AND o.id <> s.id)
				RETURNING s.id)
			SELECT id FROM sites WHERE id IN (SELECT (r->>'id')::bigint FROM jsonb_array_elements(?::jsonb) r)
				AND unique_url IS NULL AND id NOT IN (SELECT id FROM sealed) ORDER BY id`,
			jsonText(out), jsonText(out)).Scan(&left).Error; err != nil {
			return duplicates, fmt.Errorf("seal %d sites: %w", len(rows), err)
		}
		duplicates = append(duplicates, left...)
	}
}

// likeEscaper makes a search text match itself in a LIKE pattern.
var likeEscaper = strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`)

// Delete removes a site from the list. Its recorded checks go with it. A
// site that is not there is already deleted: as in the tutorial, that is
// no error, so a retried delete is harmless.
func (s *Service) Delete(ctx context.Context, id int64) error {
	var changed []*row
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Delete(&row{}, "id = ?", id).Error; err != nil {
			return fmt.Errorf("delete site %d: %w", id, err)
		}
		var err error
		changed, _, err = dropDependencies(ctx, tx, []int64{id})
		return err
	})
	if err != nil {
		return err
	}
	for _, l := range s.listeners {
		l.SiteDeleted(ctx, id)
	}
	return s.tellChanged(ctx, changed)
}

// tellChanged tells the listeners of the sites whose rows changed.
func (s *Service) tellChanged(ctx context.Context, rows []*row) error {
	for _, r := range rows {
		e, err := s.entry(r)
		if err != nil {
			return err
		}
		for _, l := range s.listeners {
			l.SiteChanged(ctx, *e)
		}
	}
	return nil
}
