package api

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"uptime/internal/errs"
	"uptime/internal/text"
)

// A Role is what a caller may do. Each is allowed everything the ones
// below it are.
type Role int

const (
	// Public is what anyone may do: the public status pages, the ping
	// URLs of push sites, the health probes, the dashboard's files.
	Public Role = iota + 1
	// Viewer reads.
	Viewer
	// Editor changes sites, channels, maintenance, status pages and checks.
	Editor
	// Admin also manages users, tokens and the audit log, and exports the
	// sites' credentials.
	Admin
)

// The zero Role, in a Doc, means the default: Viewer for a read, Editor
// for a change.

// Roles are the roles a user or token may have, by name.
var Roles = []Role{Viewer, Editor, Admin}

// String is the role's name, as the API writes it.
func (r Role) String() string {
	switch r {
	case Public:
		return "public"
	case Viewer:
		return "viewer"
	case Editor:
		return "editor"
	case Admin:
		return "admin"
	}
	return fmt.Sprintf("role(%d)", int(r))
}

// ParseRole reads a role's name: admin, editor or viewer.
func ParseRole(name string) (Role, error) {
	for _, r := range Roles {
		if r.String() == name {
			return r, nil
		}
	}
	return 0, fmt.Errorf("unknown role %q: use admin, editor or viewer", name)
}

// A Principal is who made a request: a user, a token, the API key, or
// nobody known (an anonymous caller where what it asks is open).
type Principal struct {
	// Role is what the caller may do.
	Role Role
	// Name names the caller in logs and the audit: a token's name, a
	// user's email, "api-key", or "anonymous".
	Name string
	// UserID is the user the caller is, or owns the token: 0 for none.
	UserID int64
	// TokenID is the token the caller sent: 0 for none.
	TokenID int64
	// Session is set for a user signed in to the dashboard: their cookie
	// is the credential, and each change must carry CSRF.
	Session bool
	// CSRF is the session's token, sent back as X-CSRF-Token.
	CSRF string
}

// Anonymous is a caller that sent no credentials.
var Anonymous = Principal{Role: Public, Name: "anonymous"}

// ErrBadCredentials is what an Authenticator answers for a token it does
// not know, one expired or revoked, or one of a disabled user.
var ErrBadCredentials = errors.New("unknown, expired or revoked token")

// An Authenticator knows the callers beyond the API key: the users and
// their tokens.
type Authenticator interface {
	// Token returns who a bearer token is, or ErrBadCredentials.
	Token(ctx context.Context, token string) (Principal, error)
	// Session returns who a session cookie's value is, or
	// ErrBadCredentials.
	Session(ctx context.Context, secret string) (Principal, error)
	// HasUsers reports whether any user exists: then changes need a
	// credential, as with an API key.
	HasUsers(ctx context.Context) (bool, error)
}

// SessionCookie is the name of the dashboard's session cookie.
const SessionCookie = "uptime_session"

// Reads says who may read: ReadsOpen lets anyone read, ReadsPrivate only
// a viewer or above; ReadsAuto is open while the server listens on
// loopback and has no users, private otherwise.
type Reads int

const (
	ReadsAuto Reads = iota
	ReadsOpen
	ReadsPrivate
)

// ParseReads reads --reads: open, private, or "" for the automatic choice.
func ParseReads(s string) (Reads, error) {
	switch s {
	case "", "auto":
		return ReadsAuto, nil
	case "open":
		return ReadsOpen, nil
	case "private":
		return ReadsPrivate, nil
	}
	return 0, fmt.Errorf("--reads %q: use open or private", s)
}

// Authenticate sets who may call beside the API key, and who may read.
// Loopback says whether the server listens on loopback only, for
// ReadsAuto. It is meant for start-up wiring.
func (s *Server) Authenticate(a Authenticator, reads Reads, loopback bool) {
	s.auth, s.readsMode, s.loopback = a, reads, loopback
}

// MetricsPublic lets anyone read /metrics even when reads are private.
// It is meant for start-up wiring.
func (s *Server) MetricsPublic(public bool) { s.metricsPublic = public }

type principalKey struct{}

// Caller returns who made the request whose context this is.
func Caller(ctx context.Context) Principal {
	if p, ok := ctx.Value(principalKey{}).(Principal); ok {
		return p
	}
	return Anonymous
}

// WithCaller returns a context that names the caller, for code that acts
// for one outside a request.
func WithCaller(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// MayRead reports whether the request's caller may read what is not
// public: a viewer or above, or anyone while reads are open. A public
// endpoint that serves more than what is public on purpose (a badge of a
// site on no public page) asks it.
func MayRead(r *http.Request) bool {
	return Caller(r.Context()).Role >= Viewer || AnyoneReads(r)
}

// AnyoneReads reports whether anyone may read now.
func AnyoneReads(r *http.Request) bool {
	readsOpen, _ := r.Context().Value(readsOpenKey{}).(func(context.Context) (bool, error))
	if readsOpen == nil {
		return false
	}
	open, err := readsOpen(r.Context())
	return err == nil && open
}

type readsOpenKey struct{}

// required is the role a request's route needs: the one its registration
// gave, else Viewer for a read and Editor for a change.
func (s *Server) required(r *http.Request) Role {
	var role Role
	matched := false
	for _, p := range s.prefixes {
		if strings.HasPrefix(r.URL.Path, p.prefix) {
			role, matched = p.role, true
			break
		}
	}
	if !matched {
		if _, pattern := s.mux.Handler(r); pattern != "" {
			role = s.roles[pattern]
		}
	}
	if role == 0 {
		role = roleOf(r.Method, nil)
	}
	if role == Viewer && s.metricsPublic && r.URL.Path == "/metrics" {
		return Public
	}
	return role
}

// roleOf is the role a route of the method needs, given its Doc.
func roleOf(method string, d *Doc) Role {
	if d != nil && d.Role != 0 {
		return d.Role
	}
	if method == "" || method == http.MethodGet || method == http.MethodHead {
		return Viewer
	}
	return Editor
}

// readsOpen reports whether anyone may read now.
func (s *Server) readsOpen(ctx context.Context) (bool, error) {
	switch s.readsMode {
	case ReadsOpen:
		return true, nil
	case ReadsPrivate:
		return false, nil
	}
	if !s.loopback {
		return false, nil
	}
	if s.auth == nil {
		return true, nil
	}
	users, err := s.auth.HasUsers(ctx)
	return !users, err
}

// enforced reports whether changes need a credential: with an API key
// set, reads private by choice, or once a user exists.
func (s *Server) enforced(ctx context.Context) (bool, error) {
	if s.keyHash != nil || s.readsMode == ReadsPrivate {
		return true, nil
	}
	if s.auth == nil {
		return false, nil
	}
	return s.auth.HasUsers(ctx)
}

// bearer returns the request's bearer token, if it sent one.
func bearer(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(token), true
}

// principal returns who the request says it is: the API key is an admin,
// a token is who the Authenticator says, and no credential is Anonymous.
func (s *Server) principal(r *http.Request) (Principal, error) {
	token, ok := bearer(r)
	if !ok {
		if r.Header.Get("Authorization") != "" {
			return Anonymous, ErrBadCredentials
		}
		if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" && s.auth != nil {
			return s.auth.Session(r.Context(), c.Value)
		}
		return Anonymous, nil
	}
	if s.validKey(token) {
		return Principal{Role: Admin, Name: "api-key"}, nil
	}
	if s.auth == nil {
		return Anonymous, ErrBadCredentials
	}
	return s.auth.Token(r.Context(), token)
}

// admit decides whether the request's caller may call its route, and
// answers it when not: 429 for a client that sent too many wrong
// credentials, 401 for a wrong or missing one, 403 for a role too low,
// 503 when the users cannot be read. It returns the role the route needs,
// and the request carrying the caller (see Caller).
func (s *Server) admit(w http.ResponseWriter, r *http.Request) (*http.Request, Role, bool) {
	need := s.required(r)
	client := ClientAddr(r)
	if need > Public {
		if left, blocked := s.keys.blocked(client); blocked {
			RespondError(w, r, s.log, &httpError{
				err:    errs.Errorf(errs.ResourceExhausted, "too many wrong API keys or tokens from %s; retry in %s", client, left.Round(time.Second)),
				header: http.Header{"Retry-After": {strconv.Itoa(int(left.Seconds()) + 1)}}})
			return r, need, false
		}
	}
	p, err := s.principal(r)
	if errors.Is(err, ErrBadCredentials) {
		// What anyone may call does not care what was sent: a public
		// route, a read while reads are open, a change on a server with
		// no key and no user (a key left in a browser from another
		// server). Nor is a session that ended a wrong credential: its
		// browser is anonymous again, and signs in.
		anyone, aerr := s.anyoneMay(r.Context(), need)
		if aerr != nil {
			s.unavailable(w, r, aerr)
			return r, need, false
		}
		if anyone || r.Header.Get("Authorization") == "" {
			p, err = Anonymous, nil
		}
	}
	if errors.Is(err, ErrBadCredentials) {
		s.keys.failed(r, client)
		if s.auditor != nil {
			if err := s.auditor.Record(r.Context(), AuditEntry{Kind: "credential refused", Caller: Anonymous, Client: client,
				Method: r.Method, Route: s.route(r), Object: objectOf(r), Message: "unknown, expired or revoked key or token"},
				http.StatusUnauthorized); err != nil {
				s.log.Warn("could not write a refused credential to the audit log", "err", err)
			}
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="uptime", error="invalid_token"`)
		RespondError(w, r, s.log, errs.Errorf(errs.Unauthenticated, "the API key or token sent is not known, or has expired or been revoked"))
		return r, need, false
	}
	if err != nil {
		s.unavailable(w, r, err)
		return r, need, false
	}
	ctx := context.WithValue(WithCaller(r.Context(), p), readsOpenKey{}, s.readsOpen)
	r = r.WithContext(ctx)
	if p.Session && need > Public && r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodOptions &&
		subtle.ConstantTimeCompare([]byte(r.Header.Get("X-CSRF-Token")), []byte(p.CSRF)) != 1 {
		RespondError(w, r, s.log, errs.Errorf(errs.PermissionDenied, "a change from a signed-in session must carry its "+
			"X-CSRF-Token (GET /me gives it); sign in again if the page is old"))
		return r, need, false
	}
	if p.Role >= need {
		return r, need, true
	}
	if p.Role > Public {
		RespondError(w, r, s.log, errs.Errorf(errs.PermissionDenied, "this needs the %s role; %s has %s", need, text.Quote(p.Name), p.Role))
		return r, need, false
	}
	anyone, err := s.anyoneMay(ctx, need)
	if err != nil {
		s.unavailable(w, r, err)
		return r, need, false
	}
	if anyone {
		// No key and no user: changes are open to whoever reaches this
		// loopback server, from where the browser says it may.
		if need > Viewer && !s.originAllowed(r) {
			RespondError(w, r, s.log, errs.Errorf(errs.PermissionDenied, "requests that change something or fetch URLs are not "+
				"accepted from the origin %s; add it with --cors-origins, or set an API key and send it", text.Quote(r.Header.Get("Origin"))))
			return r, need, false
		}
		return r, need, true
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="uptime"`)
	if need == Viewer {
		RespondError(w, r, s.log, errs.Errorf(errs.Unauthenticated, "reads on this server are private: send a token with the "+
			"viewer role or above in the header \"Authorization: Bearer <token>\""))
	} else {
		RespondError(w, r, s.log, errs.Errorf(errs.Unauthenticated, "this request needs the API key or a token with the %s role: "+
			"send the header \"Authorization: Bearer <token>\"", need))
	}
	return r, need, false
}

// anyoneMay reports whether a caller with no credential may call a route
// that needs the role: anything public; a read while reads are open; a
// change on a server with no key and no user.
func (s *Server) anyoneMay(ctx context.Context, need Role) (bool, error) {
	switch {
	case need == Public:
		return true, nil
	case need == Viewer:
		return s.readsOpen(ctx)
	}
	enforced, err := s.enforced(ctx)
	return !enforced, err
}

// unavailable answers a request whose caller could not be known because
// the database did not answer.
func (s *Server) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	if databaseUnreachable(err) {
		s.DatabaseDown.Raise(text.Redact(err.Error()), "method", r.Method, "path", logPath(r))
		writeError(w, errs.Errorf(errs.Unavailable, "the database is unavailable; try again shortly"), nil, 0)
		return
	}
	RespondError(w, r, s.log, fmt.Errorf("authenticate: %w", err))
}

// cors answers what a browser on another origin may do: anyone may call
// what is public (Access-Control-Allow-Origin: *), including the reads
// while they are open; the origins given with AllowOrigins may call the
// rest with a token. It reports whether the request was a preflight and
// has been answered.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	h := w.Header()
	h.Add("Vary", "Origin")
	preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
	asked := r
	if preflight {
		asked = r.Clone(r.Context())
		asked.Method = r.Header.Get("Access-Control-Request-Method")
	}
	need := s.required(asked)
	open := need == Public
	if need == Viewer {
		open, _ = s.readsOpen(r.Context())
	}
	switch {
	case open:
		h.Set("Access-Control-Allow-Origin", "*")
	case slices.Contains(s.origins, strings.ToLower(origin)):
		h.Set("Access-Control-Allow-Origin", origin)
	}
	if !preflight {
		return false
	}
	h.Add("Vary", "Access-Control-Request-Method")
	h.Add("Vary", "Access-Control-Request-Headers")
	h.Set("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")
	if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
		h.Set("Access-Control-Allow-Headers", req)
	}
	h.Set("Access-Control-Max-Age", "7200")
	w.WriteHeader(http.StatusNoContent)
	return true
}
