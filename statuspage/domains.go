package statuspage

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// domainsRefresh is how often the pages' domains are read again, for the
// changes made through another instance.
const domainsRefresh = 5 * time.Second

// domains are the pages' own host names, in memory: every request's Host
// is looked up in them.
type domains struct {
	db      *pgxpool.Pool
	mu      sync.RWMutex
	slugs   map[string]string // by domain
	loaded  time.Time
	reading atomic.Bool
}

// changed reads the domains again, after a change through this instance.
func (d *domains) changed() {
	d.load(context.Background())
}

// load reads every page's domain.
func (d *domains) load(ctx context.Context) {
	rows, err := d.db.Query(ctx, `SELECT domain, slug FROM status_page WHERE domain IS NOT NULL`)
	if err != nil {
		return // read again at the next request after domainsRefresh
	}
	slugs := map[string]string{}
	var domain, slug string
	if _, err := pgx.ForEachRow(rows, []any{&domain, &slug}, func() error {
		slugs[domain] = slug
		return nil
	}); err != nil {
		return
	}
	d.mu.Lock()
	d.slugs, d.loaded = slugs, time.Now()
	d.mu.Unlock()
}

// slug returns the page whose domain host is. Past domainsRefresh, the
// one request that finds them stale reads them again; the others go on
// with what there is.
func (d *domains) slug(host string) (string, bool) {
	d.mu.RLock()
	stale := time.Since(d.loaded) > domainsRefresh
	d.mu.RUnlock()
	if stale && d.reading.CompareAndSwap(false, true) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		d.load(ctx)
		cancel()
		d.reading.Store(false)
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	slug, ok := d.slugs[host]
	return slug, ok
}

// PageHost maps a request for a page's own domain to the page's path:
// GET / to the page, /history and the feeds to the page's, and the page's
// own paths (its links) as they are; POST only to its password form. Any
// other is none. isPage tells whether host is a page's domain at all; see
// api.Server.ServePageHosts.
func (s *Service) PageHost(host, method, path string) (to string, isPage bool) {
	slug, ok := s.domains.slug(host)
	if !ok {
		return "", false
	}
	page := "/p/" + slug
	switch {
	case method == http.MethodPost:
		switch path {
		case page + "/login", page + "/subscribe", page + "/confirm", page + "/unsubscribe":
			return path, true
		}
	case method != http.MethodGet && method != http.MethodHead:
	case path == "/":
		return page, true
	case path == "/history", path == "/feed.atom", path == "/feed.rss":
		return page + path, true
	case path == page, strings.HasPrefix(path, page+"/"):
		return path, true
	}
	return "", true
}
