package account

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"uptime/internal/api"
	"uptime/internal/errs"
	"uptime/site"
)

// tokenPrefix starts every token, so that one is recognised where it
// leaks (a log, a repository) and never mistaken for the API key.
const tokenPrefix = "upt_"

// Token is a token as listed: never its secret.
type Token struct {
	// ID identifies the token, to revoke it.
	ID int64 `json:"id"`
	// Name says what it is for.
	Name string `json:"name"`
	// Role is what it may do: at most its owner's role.
	Role string `json:"role"`
	// Owner is the email of the user it acts for, or "api-key" for one
	// made with the API key.
	Owner string `json:"owner"`
	// CreatedAt is when it was made.
	CreatedAt time.Time `json:"created_at"`
	// LastUsedAt is when a request last carried it, to the minute.
	LastUsedAt *time.Time `json:"last_used_at"`
	// ExpiresAt is when it stops working; null for never.
	ExpiresAt *time.Time `json:"expires_at"`
}

// TokenParams are a token to make.
type TokenParams struct {
	// Name says what it is for, such as "grafana" or "deploy".
	Name string `json:"name"`
	// Role is admin, editor or viewer, at most the maker's.
	Role string `json:"role"`
	// ExpiresIn is how long it works, such as "90d" or "12h"; none for
	// ever.
	ExpiresIn *string `json:"expires_in"`
	// Owner is the id of the user it acts for; by default the caller's
	// own. Its role is at most the owner's.
	Owner *int64 `json:"owner"`
}

// NewToken is a token just made, with its secret, shown this once.
type NewToken struct {
	// ID identifies the token.
	ID int64 `json:"id"`
	// Name says what it is for.
	Name string `json:"name"`
	// Role is what it may do.
	Role string `json:"role"`
	// Token is the secret to send as "Authorization: Bearer <token>".
	Token string `json:"token"`
	// ExpiresAt is when it stops working; null for never.
	ExpiresAt *time.Time `json:"expires_at"`
}

// TokenList is the answer of GET /token.
type TokenList struct {
	// Tokens are every token, newest first.
	Tokens []Token `json:"tokens"`
}

// AddToken makes a token for the caller: their user's, or the API key's.
func (s *Service) AddToken(ctx context.Context, caller api.Principal, p TokenParams) (*NewToken, error) {
	if err := api.CheckText("name", p.Name, 1, 100, false); err != nil {
		return nil, err
	}
	role, err := api.ParseRole(p.Role)
	if err != nil {
		return nil, errs.Errorf(errs.InvalidArgument, "%v", err)
	}
	if role > caller.Role && caller.Role > api.Public {
		return nil, errs.Errorf(errs.PermissionDenied, "a token's role is at most its owner's: %s has %s, not %s",
			caller.Name, caller.Role, role)
	}
	var owner *int64
	madeBy := caller.Name
	if caller.UserID != 0 {
		owner, madeBy = &caller.UserID, ""
	}
	if p.Owner != nil {
		u, err := s.User(ctx, *p.Owner)
		if errs.Is(err, errs.NotFound) {
			return nil, errs.Errorf(errs.InvalidArgument, "owner: no user has the id %d", *p.Owner)
		} else if err != nil {
			return nil, err
		}
		if u.Disabled {
			return nil, errs.Errorf(errs.InvalidArgument, "owner: %s is disabled", u.Email)
		}
		if r, _ := api.ParseRole(u.Role); role > r {
			return nil, errs.Errorf(errs.InvalidArgument, "role: a token's role is at most its owner's: %s has %s, not %s",
				u.Email, u.Role, role)
		}
		owner, madeBy = &u.ID, ""
	}
	var expires *time.Time
	if p.ExpiresIn != nil {
		d, err := site.ParseDuration(*p.ExpiresIn)
		if err != nil || d <= 0 {
			return nil, errs.Errorf(errs.InvalidArgument, "expires_in must be a duration such as \"90d\" or \"12h\", got %q", *p.ExpiresIn)
		}
		at := s.now().Add(d).Truncate(time.Second)
		expires = &at
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	token := tokenPrefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret))
	sum := sha256.Sum256([]byte(token))
	t := &NewToken{Name: p.Name, Role: role.String(), Token: token, ExpiresAt: expires}
	err = s.db.QueryRow(ctx, `INSERT INTO token (name, role, owner_id, made_by, hash, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, p.Name, t.Role, owner, madeBy, sum[:], expires).Scan(&t.ID)
	if err != nil {
		return nil, fmt.Errorf("add token: %w", err)
	}
	return t, nil
}

// Tokens returns every token, newest first, without their secrets.
func (s *Service) Tokens(ctx context.Context) ([]Token, error) {
	rows, err := s.db.Query(ctx, `SELECT t.id, t.name, t.role, coalesce(u.email, t.made_by), t.created_at, t.last_used_at,
		t.expires_at FROM token t LEFT JOIN users u ON u.id = t.owner_id ORDER BY t.id DESC`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	tokens, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Token, error) {
		var t Token
		err := row.Scan(&t.ID, &t.Name, &t.Role, &t.Owner, &t.CreatedAt, &t.LastUsedAt, &t.ExpiresAt)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return tokens, nil
}

// RevokeToken deletes a token: this instance refuses it at once, the
// others within a second.
func (s *Service) RevokeToken(ctx context.Context, id int64) error {
	tag, err := s.db.Exec(ctx, "DELETE FROM token WHERE id = $1", id)
	if err != nil {
		return fmt.Errorf("revoke token %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return errs.Errorf(errs.NotFound, "no token has the id %d", id)
	}
	s.tokens.forgetAll()
	return nil
}

// Token returns who a bearer token is: its name, and the lower of its
// role and its owner's. A token unknown, expired, revoked, or whose owner
// is disabled is api.ErrBadCredentials. What is read is trusted for half
// a second, so that a request costs no query; a token's last use is
// written at most once a minute.
func (s *Service) Token(ctx context.Context, token string) (api.Principal, error) {
	if !strings.HasPrefix(token, tokenPrefix) {
		return api.Anonymous, api.ErrBadCredentials
	}
	sum := sha256.Sum256([]byte(token))
	now := s.now()
	if c, ok := s.tokens.get(sum); ok && now.Sub(c.readAt) < fresh {
		return c.valid(now)
	}
	var (
		c                cachedToken
		role             string
		expires, used    *time.Time
		ownerRole, email *string
		disabled         *bool
		owner            *int64
	)
	err := s.db.QueryRow(ctx, `SELECT t.id, t.name, t.role, t.expires_at, t.last_used_at, u.id, u.role, u.disabled, u.email
		FROM token t LEFT JOIN users u ON u.id = t.owner_id WHERE t.hash = $1`, sum[:]).
		Scan(&c.p.TokenID, &c.p.Name, &role, &expires, &used, &owner, &ownerRole, &disabled, &email)
	if errors.Is(err, pgx.ErrNoRows) {
		s.tokens.forget(sum)
		return api.Anonymous, api.ErrBadCredentials
	}
	if err != nil {
		return api.Anonymous, fmt.Errorf("read token: %w", err)
	}
	c.readAt, c.expires = now, expires
	c.p.Role, _ = api.ParseRole(role)
	if owner != nil {
		c.p.UserID = *owner
		c.disabled = *disabled
		if r, _ := api.ParseRole(*ownerRole); r < c.p.Role {
			c.p.Role = r
		}
	}
	s.tokens.put(sum, c)
	p, err := c.valid(now)
	if err == nil && (used == nil || now.Sub(*used) >= time.Minute) {
		if _, err := s.db.Exec(ctx, "UPDATE token SET last_used_at = $2 WHERE id = $1", c.p.TokenID, now); err != nil {
			s.log.Warn("could not note a token's use", "token", c.p.Name, "err", err)
		}
		if owner != nil {
			if _, err := s.db.Exec(ctx, "UPDATE users SET last_seen_at = $2 WHERE id = $1", *owner, now); err != nil {
				s.log.Warn("could not note a user's use of a token", "token", c.p.Name, "err", err)
			}
		}
	}
	return p, err
}

// cachedToken is what an instance read of a token.
type cachedToken struct {
	p        api.Principal
	expires  *time.Time
	disabled bool // its owner is
	readAt   time.Time
}

// valid returns the token's caller, unless it expired or its owner is
// disabled.
func (c cachedToken) valid(now time.Time) (api.Principal, error) {
	if c.disabled || c.expires != nil && !now.Before(*c.expires) {
		return api.Anonymous, api.ErrBadCredentials
	}
	return c.p, nil
}

// tokenCache holds the tokens read lately, by their SHA-256.
type tokenCache struct {
	mu      sync.Mutex
	entries map[[32]byte]cachedToken
}

// maxCached bounds the tokens remembered; beyond it the cache starts over.
const maxCached = 10_000

func (c *tokenCache) get(sum [32]byte) (cachedToken, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.entries[sum]
	return t, ok
}

func (c *tokenCache) put(sum [32]byte, t cachedToken) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= maxCached {
		clear(c.entries)
	}
	c.entries[sum] = t
}

func (c *tokenCache) forget(sum [32]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, sum)
}

// forgetAll drops every token read, after a change that may touch many
// (a user disabled, demoted or deleted, a token revoked).
func (c *tokenCache) forgetAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.entries)
}
