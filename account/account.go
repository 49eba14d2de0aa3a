// Package account is the service that knows who may do what: the users,
// each with a role (admin, editor or viewer), and the API tokens they
// make, each with a role no higher than its owner's. The API server asks
// it who a bearer token is (see Service.Token); every instance reads the
// same database, so a token revoked on one is refused by all within a
// second.
package account

import (
	"embed"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"uptime/internal/api"
	"uptime/internal/seal"
)

// Migrations are the account database's schema.
//
//go:embed migrations/*.sql
var Migrations embed.FS

// fresh is how long an instance trusts what it read of a token or of
// whether users exist before reading it again: a token revoked, expired,
// or whose owner was disabled, is refused by every instance within it.
const fresh = 500 * time.Millisecond

// Service manages users and tokens over the account database.
type Service struct {
	db  *pgxpool.Pool
	log *slog.Logger
	now func() time.Time

	// secureCookies marks the session cookie Secure: the server is
	// reached over https.
	secureCookies bool
	// box seals the TOTP secrets.
	box *seal.Box
	// oidc is the identity provider, if any (see UseOIDC).
	oidc         OIDC
	oidcProvider provider
	// auditRetention is how long audit rows are kept; auditPrunedAt,
	// when old ones were last deleted (under users' lock).
	auditRetention time.Duration
	auditPrunedAt  time.Time

	tokens tokenCache
	users  struct {
		sync.Mutex
		known   bool
		any     bool
		readAt  time.Time
		reading bool
	}
}

// New returns the service over its database.
func New(db *pgxpool.Pool, log *slog.Logger) *Service {
	return &Service{db: db, log: log, now: time.Now, tokens: tokenCache{entries: map[[32]byte]cachedToken{}}}
}

// SealWith seals the users' TOTP secrets with the box. It is meant for
// start-up wiring.
func (s *Service) SealWith(box *seal.Box) { s.box = box }

// SecureCookies marks the session cookie Secure, for a server reached
// over https (its --public-url). It is meant for start-up wiring.
func (s *Service) SecureCookies(secure bool) { s.secureCookies = secure }

// Register serves the users and tokens API: every route is an admin's.
func (s *Service) Register(srv *api.Server) {
	admin := func(d api.Doc) api.Doc { d.Role = api.Admin; return d }
	srv.Handle("POST /user", s.handleAddUser, admin(api.Doc{
		Summary: "Add a user", Request: UserParams{}, Response: User{}}))
	srv.Handle("GET /user", s.handleListUsers, admin(api.Doc{
		Summary: "Every user", Response: UserList{}}))
	srv.Handle("GET /user/{id}", s.handleGetUser, admin(api.Doc{
		Summary: "A user", Response: User{}}))
	srv.Handle("PATCH /user/{id}", s.handleUpdateUser, admin(api.Doc{
		Summary: "Change the fields given of a user: name, email, role, password, disabled", Request: UserParams{}, Response: User{}}))
	srv.Handle("DELETE /user/{id}", s.handleDeleteUser, admin(api.Doc{
		Summary: "Delete a user and their tokens"}))
	srv.Handle("POST /token", s.handleAddToken, admin(api.Doc{
		Summary: "Make an API token: its secret is in this answer only", Request: TokenParams{}, Response: NewToken{}}))
	srv.Handle("GET /token", s.handleListTokens, admin(api.Doc{
		Summary: "Every token, without its secret", Response: TokenList{}}))
	srv.Handle("DELETE /token/{id}", s.handleRevokeToken, admin(api.Doc{
		Summary: "Revoke a token: every instance refuses it within a second"}))
	s.registerSessions(srv)
	s.registerTOTP(srv)
	s.registerOIDC(srv)
	srv.Handle("GET /audit", s.handleAudit, admin(api.Doc{
		Summary:  "The audit log, newest first: every change, sign-in and refused credential, with who, from where, and the object before and after",
		Response: AuditPage{}, Query: []api.Param{
			{Name: "actor", Type: "string", Description: "only this actor's: an email, a token's name, api-key"},
			{Name: "object", Type: "string", Description: "only about this object, as site/5"},
			{Name: "before", Type: "integer", Description: "rows before this id: the previous page's next"},
			{Name: "limit", Type: "integer", Description: "how many, 1 to 1000 (100)"},
		}}))
}

func (s *Service) handleAddUser(r *http.Request) (any, error) {
	p, err := decodeUser(r)
	if err != nil {
		return nil, err
	}
	return s.AddUser(r.Context(), p)
}

func (s *Service) handleListUsers(r *http.Request) (any, error) {
	users, err := s.Users(r.Context())
	if err != nil {
		return nil, err
	}
	return UserList{Users: users}, nil
}

func (s *Service) handleGetUser(r *http.Request) (any, error) {
	id, err := api.PathID(r, "id")
	if err != nil {
		return nil, err
	}
	return s.User(r.Context(), id)
}

func (s *Service) handleUpdateUser(r *http.Request) (any, error) {
	id, err := api.PathID(r, "id")
	if err != nil {
		return nil, err
	}
	p, err := decodeUser(r)
	if err != nil {
		return nil, err
	}
	return s.UpdateUser(r.Context(), id, p)
}

func (s *Service) handleDeleteUser(r *http.Request) (any, error) {
	id, err := api.PathID(r, "id")
	if err != nil {
		return nil, err
	}
	return nil, s.DeleteUser(r.Context(), id)
}

func (s *Service) handleAddToken(r *http.Request) (any, error) {
	p, _, err := api.DecodeFields[TokenParams](r, "a token", []string{"name", "role", "expires_in", "owner"})
	if err != nil {
		return nil, err
	}
	return s.AddToken(r.Context(), api.Caller(r.Context()), p)
}

func (s *Service) handleListTokens(r *http.Request) (any, error) {
	tokens, err := s.Tokens(r.Context())
	if err != nil {
		return nil, err
	}
	return TokenList{Tokens: tokens}, nil
}

func (s *Service) handleRevokeToken(r *http.Request) (any, error) {
	id, err := api.PathID(r, "id")
	if err != nil {
		return nil, err
	}
	return nil, s.RevokeToken(r.Context(), id)
}
