package statuspage

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"uptime/internal/api"
	"uptime/internal/errs"
	"uptime/internal/passhash"
	"uptime/internal/text"
)

// access is who may see a page, as its row keeps it.
type access struct {
	visibility   string // public, password or token
	passwordHash string // Argon2id, for password
	tokenHash    []byte // SHA-256, for token
	secret       []byte // signs the page's cookies
}

var visibilities = []string{"public", "password", "token"}

// Limits of a page's password and token.
const (
	minPagePassword = 8
	maxPagePassword = 1024
	cookieLife      = 30 * 24 * time.Hour
	// loginFailures bounds the wrong passwords a client may try on a
	// page in loginWindow.
	loginFailures = 10
	loginWindow   = time.Minute
)

var tokenPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{20,200}$`)

// checkAccess checks the visibility, password and token given.
func checkAccess(p PageParams) error {
	if p.Visibility != nil && !slices.Contains(visibilities, *p.Visibility) {
		return errs.Errorf(errs.InvalidArgument, "visibility must be one of %s, got %s", strings.Join(visibilities, ", "), text.Quote(*p.Visibility))
	}
	if p.Password != nil {
		if n := utf8.RuneCountInString(*p.Password); n < minPagePassword || n > maxPagePassword {
			return errs.Errorf(errs.InvalidArgument, "password must have %d to %d characters, got %d", minPagePassword, maxPagePassword, n)
		}
	}
	if p.Token != nil && !tokenPattern.MatchString(*p.Token) {
		return errs.Errorf(errs.InvalidArgument, "token must be 20 to 200 of A-Z, a-z, 0-9, _ and -")
	}
	return nil
}

// sealAccess is a page's access once the fields given change cur: a new
// password or token is hashed, and the cookies signed before are void. A
// page made private needs what it is private by.
func sealAccess(p PageParams, cur access) (access, error) {
	out := cur
	if p.Visibility != nil {
		out.visibility = *p.Visibility
	}
	renewed := false
	if p.Password != nil {
		h, err := passhash.Hash(*p.Password)
		if err != nil {
			return out, err
		}
		out.passwordHash, renewed = h, true
	}
	if p.Token != nil {
		sum := sha256.Sum256([]byte(*p.Token))
		out.tokenHash, renewed = sum[:], true
	}
	switch {
	case out.visibility == "password" && out.passwordHash == "":
		return out, errs.Errorf(errs.InvalidArgument, "password is required for a page of visibility password")
	case out.visibility == "token" && out.tokenHash == nil:
		return out, errs.Errorf(errs.InvalidArgument, "token is required for a page of visibility token")
	}
	if renewed || out.secret == nil || out.visibility != cur.visibility {
		out.secret = make([]byte, 32)
		if _, err := rand.Read(out.secret); err != nil {
			return out, err
		}
	}
	return out, nil
}

// cookieName is the page's cookie.
func cookieName(slug string) string { return "uptime_page_" + slug }

// signCookie is a cookie's value for the page until expiry: the expiry
// and its signature with the page's secret.
func signCookie(slug string, a access, expiry time.Time) string {
	b := binary.BigEndian.AppendUint64(nil, uint64(expiry.Unix()))
	mac := hmac.New(sha256.New, a.secret)
	fmt.Fprintf(mac, "%s|%d", slug, expiry.Unix())
	return base64.RawURLEncoding.EncodeToString(mac.Sum(b))
}

// cookieValid tells whether the request has the page's cookie, unexpired.
func cookieValid(r *http.Request, slug string, a access, now time.Time) bool {
	c, err := r.Cookie(cookieName(slug))
	if err != nil || a.secret == nil {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil || len(b) != 8+sha256.Size {
		return false
	}
	expiry := time.Unix(int64(binary.BigEndian.Uint64(b[:8])), 0)
	return now.Before(expiry) && hmac.Equal([]byte(signCookie(slug, a, expiry)), []byte(c.Value))
}

// tokenValid tells whether the request's ?token= is the page's.
func tokenValid(r *http.Request, a access) bool {
	t := r.URL.Query().Get("token")
	if t == "" || a.tokenHash == nil {
		return false
	}
	sum := sha256.Sum256([]byte(t))
	return subtle.ConstantTimeCompare(sum[:], a.tokenHash) == 1
}

// admits tells whether the request may see the page: a public one, one
// whose token it gives or whose cookie it has, or any for a user or key
// of the viewer role or above. A token admits with a cookie too, set on
// the response's header, so that the page's links work.
func (s *Service) admits(r *http.Request, slug string, a access, header http.Header) bool {
	switch {
	case a.visibility == "public" || a.visibility == "":
		return true
	case api.Caller(r.Context()).Role >= api.Viewer:
		return true
	case cookieValid(r, slug, a, s.now()):
		return true
	case a.visibility == "token" && tokenValid(r, a):
		if header != nil {
			header.Add("Set-Cookie", s.cookie(r, slug, a).String())
		}
		return true
	}
	return false
}

// cookie is the page's cookie for a visitor admitted now.
func (s *Service) cookie(r *http.Request, slug string, a access) *http.Cookie {
	expiry := s.now().Add(cookieLife)
	return &http.Cookie{Name: cookieName(slug), Value: signCookie(slug, a, expiry), Path: "/", Expires: expiry,
		HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")}
}

// locked is what a visitor not admitted gets: the page's title and, for
// a password page, the form; nothing of its sites.
func (s *Service) locked(slug string, p *Page, wrong bool) (*api.Raw, error) {
	v := pageView{Title: p.Title, Path: "/p/" + slug, Locked: &lockedView{Password: p.access.visibility == "password", Wrong: wrong}}
	return uncached(http.StatusUnauthorized, v)
}

// uncached renders a page for one visitor alone, not compressed: never
// kept by the browser or a proxy.
func uncached(status int, v pageView) (*api.Raw, error) {
	body, err := renderPage(v)
	if err != nil {
		return nil, err
	}
	return &api.Raw{Status: status, Header: http.Header{
		"Content-Type":            {"text/html; charset=utf-8"},
		"Cache-Control":           {"no-store"},
		"Content-Security-Policy": {publicPolicy},
		"Referrer-Policy":         {"no-referrer"},
	}, Body: body}, nil
}

// lockedView is a private page to a visitor not admitted.
type lockedView struct {
	Password bool // a password form; otherwise a token is needed
	Wrong    bool // the password given was wrong
}

// rateGuard counts what each client did lately (wrong passwords, asking
// to subscribe) and holds it back beyond limit in window.
type rateGuard struct {
	limit  int
	window time.Duration
	mu     sync.Mutex
	hits   map[string][]time.Time
}

// blocked tells whether the client has reached the limit lately.
func (g *rateGuard) blocked(key string, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	recent := slices.DeleteFunc(g.hits[key], func(t time.Time) bool { return now.Sub(t) > g.window })
	if len(recent) == 0 {
		delete(g.hits, key) // a no-op on a nil map
		return false
	}
	g.hits[key] = recent
	return len(recent) >= g.limit
}

// hit counts one more for the client.
func (g *rateGuard) hit(key string, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.hits == nil {
		g.hits = map[string][]time.Time{}
	}
	g.hits[key] = append(g.hits[key], now)
}

// handleLogin serves POST /p/:slug/login, the form of a password page:
// the right password sets the page's cookie and goes back to the page; a
// wrong one shows the form again. Beyond loginFailures wrong ones in a
// minute from a client, 429.
func (s *Service) handleLogin(r *http.Request) (any, error) {
	slug := r.PathValue("slug")
	p, err := s.Get(r.Context(), slug)
	if err != nil {
		return nil, err
	}
	if p.access.visibility != "password" {
		return nil, errs.Errorf(errs.InvalidArgument, "page %s takes no password", slug)
	}
	key := api.ClientAddr(r) + " " + slug
	now := s.now()
	if s.logins.blocked(key, now) {
		return nil, api.Throttled(errs.Errorf(errs.ResourceExhausted, "too many wrong passwords for this page; try again in a minute"), loginWindow)
	}
	if err := r.ParseForm(); err != nil {
		return nil, errs.Errorf(errs.InvalidArgument, "the form: %v", err)
	}
	ok, err := passhash.Matches(p.access.passwordHash, r.PostForm.Get("password"))
	if err != nil {
		return nil, fmt.Errorf("check the password of page %s: %w", slug, err)
	}
	if !ok {
		s.logins.hit(key, now)
		return s.locked(slug, p, true)
	}
	to := "/p/" + slug
	if next := r.PostForm.Get("next"); next == "/" || next == to || strings.HasPrefix(next, to+"/") {
		to = next
	}
	return &api.Raw{Status: http.StatusSeeOther, Header: http.Header{
		"Location":   {to},
		"Set-Cookie": {s.cookie(r, slug, p.access).String()},
	}}, nil
}

// privatePagesOf reads the access of the private pages that show the
// site.
func (s *Service) privatePagesOf(ctx context.Context, siteID int64) (map[string]access, error) {
	rows, err := s.db.Query(ctx, `SELECT slug, visibility, COALESCE(password_hash, ''), token_hash, secret FROM status_page
		WHERE visibility <> 'public' AND EXISTS (
			SELECT 1 FROM jsonb_array_elements(groups) AS g, jsonb_array_elements(g->'sites') AS site
			WHERE site = to_jsonb($1::bigint))`, siteID)
	if err != nil {
		return nil, fmt.Errorf("find the site's private pages: %w", err)
	}
	defer rows.Close()
	out := map[string]access{}
	for rows.Next() {
		var (
			slug string
			a    access
		)
		if err := rows.Scan(&slug, &a.visibility, &a.passwordHash, &a.tokenHash, &a.secret); err != nil {
			return nil, fmt.Errorf("find the site's private pages: %w", err)
		}
		out[slug] = a
	}
	return out, rows.Err()
}

// badgeAdmitted tells whether the request may see the badges of a site
// on no public page: it has the token or cookie of a private page that
// shows it.
func (s *Service) badgeAdmitted(r *http.Request, siteID int64) (bool, error) {
	pages, err := s.privatePagesOf(r.Context(), siteID)
	if err != nil {
		return false, err
	}
	for slug, a := range pages {
		if s.admits(r, slug, a, nil) {
			return true, nil
		}
	}
	return false, nil
}
