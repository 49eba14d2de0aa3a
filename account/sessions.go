package account

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"uptime/internal/api"
	"uptime/internal/errs"
	"uptime/internal/text"
)

// Sessions: a cookie, its secret kept as its SHA-256 in the database.
const (
	// CookieName is the session's cookie.
	CookieName = "uptime_session"
	// sessionLife is how long a session lasts after it signs in.
	sessionLife = 30 * 24 * time.Hour
)

// Sign-ins: beyond maxFailures failed ones in a minute for one address or
// from one client, sign-ins from it are refused for a minute.
const (
	maxFailures   = 10
	failureWindow = time.Minute
)

// SignInParams are what the sign-in form sends.
type SignInParams struct {
	// Email is the user's address.
	Email string `json:"email"`
	// Password is their password.
	Password string `json:"password"`
	// Code is, for a user with two-factor sign-in, the code their app
	// shows now, or one of their recovery codes.
	Code string `json:"code"`
}

// Me is who the caller is, for the dashboard.
type Me struct {
	// SignedIn is whether the caller has a session.
	SignedIn bool `json:"signed_in"`
	// User is the session's user.
	User *User `json:"user,omitempty"`
	// Role is what the caller may do: public, viewer, editor or admin.
	Role string `json:"role"`
	// Name names the caller: the user's name or email, a token's name,
	// "api-key", or "anonymous".
	Name string `json:"name"`
	// CSRF is the token a session sends with each change, as X-CSRF-Token.
	CSRF string `json:"csrf,omitempty"`
	// ReadsOpen is whether anyone may read.
	ReadsOpen bool `json:"reads_open"`
	// HasUsers is whether any user exists: the dashboard offers to sign in.
	HasUsers bool `json:"has_users"`
	// OIDC names the identity provider users may sign in with, when there
	// is one: the dashboard offers "Sign in with" it.
	OIDC string `json:"oidc,omitempty"`
}

func (s *Service) registerSessions(srv *api.Server) {
	srv.Handle("POST /signin", s.handleSignIn, api.Doc{
		Summary: "Sign in with an email and a password: sets the session cookie", Request: SignInParams{}, Response: Me{},
		Role: api.Public})
	srv.Handle("POST /signout", s.handleSignOut, api.Doc{
		Summary: "End this session, or with ?everywhere=true every session of its user", Role: api.Public,
		Query: []api.Param{{Name: "everywhere", Type: "boolean", Description: "end every session of the user, on every instance"}}})
	srv.Handle("GET /me", s.handleMe, api.Doc{
		Summary: "Who the caller is, and what they may do", Response: Me{}, Role: api.Public})
}

func (s *Service) handleSignIn(r *http.Request) (any, error) {
	p, _, err := api.DecodeFields[SignInParams](r, "a sign-in", []string{"email", "password", "code"})
	if err != nil {
		return nil, err
	}
	client := api.ClientAddr(r)
	u, secret, csrf, err := s.SignIn(r.Context(), p, client, r.UserAgent())
	entry := api.AuditEntry{Kind: "sign-in", Caller: api.Principal{Name: strings.TrimSpace(p.Email)}, Client: client,
		Method: r.Method, Route: "POST /signin"}
	status := http.StatusOK
	if err != nil {
		entry.Kind, entry.Message, status = "sign-in refused", err.Error(), api.Status(err)
	} else {
		entry.Caller = api.Principal{Name: u.Email, UserID: u.ID, Session: true}
		entry.Object = fmt.Sprintf("user/%d", u.ID)
	}
	if aerr := s.Record(r.Context(), entry, status); aerr != nil {
		return nil, aerr
	}
	if err != nil {
		return nil, err
	}
	return api.WithCookie(&Me{SignedIn: true, User: u, Role: u.Role, Name: cmpName(u), CSRF: csrf, HasUsers: true},
		s.sessionCookie(secret)), nil
}

func (s *Service) handleSignOut(r *http.Request) (any, error) {
	everywhere, err := api.QueryBool(r, "everywhere")
	if err != nil {
		return nil, err
	}
	if c, err := r.Cookie(CookieName); err == nil {
		if err := s.SignOut(r.Context(), c.Value, everywhere); err != nil {
			return nil, err
		}
		if caller := api.Caller(r.Context()); caller.Session {
			msg := "this session"
			if everywhere {
				msg = "every session of the user"
			}
			if err := s.Record(r.Context(), api.AuditEntry{Kind: "sign-out", Caller: caller, Client: api.ClientAddr(r),
				Method: r.Method, Route: "POST /signout", Object: fmt.Sprintf("user/%d", caller.UserID), Message: msg}, http.StatusOK); err != nil {
				return nil, err
			}
		}
	}
	return api.WithCookie(nil, &http.Cookie{Name: CookieName, Value: "", Path: "/", HttpOnly: true, Secure: s.secureCookies,
		SameSite: http.SameSiteLaxMode, MaxAge: -1}), nil
}

func (s *Service) handleMe(r *http.Request) (any, error) {
	caller := api.Caller(r.Context())
	users, err := s.HasUsers(r.Context())
	if err != nil {
		return nil, err
	}
	me := &Me{Role: caller.Role.String(), Name: caller.Name, ReadsOpen: api.AnyoneReads(r), HasUsers: users, OIDC: s.oidc.Name}
	if caller.Session {
		u, err := s.User(r.Context(), caller.UserID)
		if err != nil {
			return nil, err
		}
		me.SignedIn, me.User, me.CSRF = true, u, caller.CSRF
	}
	return me, nil
}

func cmpName(u *User) string {
	if u.Name != "" {
		return u.Name
	}
	return u.Email
}

// SignIn checks an email and password and starts a session: it returns
// the user, the cookie's secret and the session's CSRF token. A wrong
// address or password is one error, so that neither is told apart;
// beyond maxFailures in a minute for the address or from the client, 429.
func (s *Service) SignIn(ctx context.Context, p SignInParams, client, userAgent string) (*User, string, string, error) {
	if blocked, err := s.signInBlocked(ctx, p.Email, client); err != nil {
		return nil, "", "", err
	} else if blocked {
		return nil, "", "", api.Throttled(errs.Errorf(errs.ResourceExhausted,
			"too many failed sign-ins for this address or from %s; try again in a minute", client), failureWindow)
	}
	var (
		u    *User
		hash *string
	)
	row := s.db.QueryRow(ctx, "SELECT "+userColumns+", password_hash FROM users WHERE lower(email) = lower($1)", strings.TrimSpace(p.Email))
	u = &User{}
	err := row.Scan(&u.ID, &u.Email, &u.Name, &u.Role, &u.CreatedAt, &u.LastSeenAt, &u.Disabled, &u.HasPassword, &u.TOTP, &hash)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, "", "", fmt.Errorf("sign in: %w", err)
	}
	ok := false
	if err == nil && hash != nil {
		if ok, err = passwordMatches(*hash, p.Password); err != nil {
			return nil, "", "", fmt.Errorf("sign in: %w", err)
		}
	} else {
		// As long as a real check, so that the time taken does not say
		// whether the address is a user's.
		passwordMatches(dummyHash, p.Password)
	}
	codeWrong := false
	if ok && !u.Disabled && u.TOTP {
		if strings.TrimSpace(p.Code) == "" {
			// The password was right: not a failure, the second step.
			e := errs.Errorf(errs.Unauthenticated, "a code from the authenticator app (or a recovery code) is needed")
			e.Details = map[string]bool{"totp_required": true}
			return nil, "", "", e
		}
		if ok, err = s.secondFactor(ctx, u.ID, p.Code); err != nil {
			return nil, "", "", err
		}
		codeWrong = !ok
	}
	if !ok || u.Disabled {
		if _, err := s.db.Exec(ctx, `INSERT INTO signin_failure (email, client) VALUES ($1, $2)`, strings.TrimSpace(p.Email), client); err != nil {
			return nil, "", "", fmt.Errorf("note a failed sign-in: %w", err)
		}
		s.log.Info("refused a sign-in", "email", text.Clip(p.Email), "client", client)
		if ok && u.Disabled {
			return nil, "", "", errs.Errorf(errs.PermissionDenied, "this user is disabled: an admin can enable them")
		}
		if codeWrong {
			e := errs.Errorf(errs.Unauthenticated, "the code is wrong, or a recovery code already used")
			e.Details = map[string]bool{"totp_required": true}
			return nil, "", "", e
		}
		return nil, "", "", errs.Errorf(errs.Unauthenticated, "the email or the password is wrong")
	}
	secret, csrf, err := s.startSession(ctx, u, client, userAgent)
	return u, secret, csrf, err
}

// startSession starts a session for a user who signed in, and returns its
// cookie's secret and its CSRF token.
func (s *Service) startSession(ctx context.Context, u *User, client, userAgent string) (secret, csrf string, err error) {
	secret, csrf = randomText(32), randomText(24)
	sum := sha256.Sum256([]byte(secret))
	now := s.now()
	if _, err := s.db.Exec(ctx, `INSERT INTO user_session (hash, user_id, csrf, expires_at, client, user_agent)
		VALUES ($1, $2, $3, $4, $5, $6)`, sum[:], u.ID, csrf, now.Add(sessionLife), client, text.Clip(userAgent)); err != nil {
		return "", "", fmt.Errorf("start a session: %w", err)
	}
	if _, err := s.db.Exec(ctx, "UPDATE users SET last_seen_at = $2 WHERE id = $1", u.ID, now); err != nil {
		return "", "", fmt.Errorf("note a sign-in: %w", err)
	}
	u.LastSeenAt = &now
	return secret, csrf, nil
}

// sessionCookie is the cookie of a session just started.
func (s *Service) sessionCookie(secret string) *http.Cookie {
	return &http.Cookie{Name: CookieName, Value: secret, Path: "/", HttpOnly: true, Secure: s.secureCookies,
		SameSite: http.SameSiteLaxMode, MaxAge: int(sessionLife / time.Second)}
}

// dummyHash is checked against when there is no user, to take as long.
var dummyHash, _ = hashPassword("no user has this password, it is only hashed")

// signInBlocked reports whether the address or the client failed to sign
// in maxFailures times in the last minute, and forgets older failures.
func (s *Service) signInBlocked(ctx context.Context, email, client string) (bool, error) {
	var byEmail, byClient int
	err := s.db.QueryRow(ctx, `SELECT
		count(*) FILTER (WHERE lower(email) = lower($1)), count(*) FILTER (WHERE client = $2)
		FROM signin_failure WHERE at > $3 AND (lower(email) = lower($1) OR client = $2)`,
		strings.TrimSpace(email), client, s.now().Add(-failureWindow)).Scan(&byEmail, &byClient)
	if err != nil {
		return false, fmt.Errorf("count failed sign-ins: %w", err)
	}
	if _, err := s.db.Exec(ctx, "DELETE FROM signin_failure WHERE at < $1", s.now().Add(-time.Hour)); err != nil {
		return false, fmt.Errorf("forget old failed sign-ins: %w", err)
	}
	return byEmail >= maxFailures || byClient >= maxFailures, nil
}

// SignOut ends the session whose cookie holds secret, or with everywhere
// every session of its user; every instance refuses them within a second.
func (s *Service) SignOut(ctx context.Context, secret string, everywhere bool) error {
	sum := sha256.Sum256([]byte(secret))
	q := "DELETE FROM user_session WHERE hash = $1"
	if everywhere {
		q = "DELETE FROM user_session WHERE user_id = (SELECT user_id FROM user_session WHERE hash = $1)"
	}
	if _, err := s.db.Exec(ctx, q, sum[:]); err != nil {
		return fmt.Errorf("sign out: %w", err)
	}
	s.tokens.forgetAll()
	return nil
}

// Session returns who a session cookie is, as Token does for a token: the
// user's role, unless the session ended, expired, or the user is disabled.
func (s *Service) Session(ctx context.Context, secret string) (api.Principal, error) {
	sum := sha256.Sum256([]byte("session:" + secret))
	now := s.now()
	if c, ok := s.tokens.get(sum); ok && now.Sub(c.readAt) < fresh {
		return c.valid(now)
	}
	hash := sha256.Sum256([]byte(secret))
	var (
		c        cachedToken
		role     string
		expires  time.Time
		seen     time.Time
		disabled bool
		email    string
		name     string
	)
	err := s.db.QueryRow(ctx, `SELECT s.user_id, s.csrf, s.expires_at, s.last_seen_at, u.role, u.disabled, u.email, u.name
		FROM user_session s JOIN users u ON u.id = s.user_id WHERE s.hash = $1`, hash[:]).
		Scan(&c.p.UserID, &c.p.CSRF, &expires, &seen, &role, &disabled, &email, &name)
	if errors.Is(err, pgx.ErrNoRows) {
		s.tokens.forget(sum)
		return api.Anonymous, api.ErrBadCredentials
	}
	if err != nil {
		return api.Anonymous, fmt.Errorf("read session: %w", err)
	}
	c.readAt, c.expires, c.disabled, c.p.Session = now, &expires, disabled, true
	c.p.Role, _ = api.ParseRole(role)
	c.p.Name = email
	s.tokens.put(sum, c)
	p, err := c.valid(now)
	if err == nil && now.Sub(seen) >= time.Minute {
		if _, err := s.db.Exec(ctx, "UPDATE user_session SET last_seen_at = $2 WHERE hash = $1", hash[:], now); err != nil {
			s.log.Warn("could not note a session's use", "user", email, "err", err)
		}
		if _, err := s.db.Exec(ctx, "UPDATE users SET last_seen_at = $2 WHERE id = $1", c.p.UserID, now); err != nil {
			s.log.Warn("could not note a user's use of a session", "user", email, "err", err)
		}
	}
	return p, err
}

// randomText returns n random bytes as URL-safe base64.
func randomText(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
