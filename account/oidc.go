package account

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/jackc/pgx/v5"
	"golang.org/x/oauth2"

	"uptime/internal/api"
	"uptime/internal/errs"
	"uptime/internal/text"
)

// OIDC is how users sign in through an identity provider: the authorization
// code flow with PKCE, its state and nonce checked.
type OIDC struct {
	// Issuer is the provider's URL, as its discovery document names it.
	Issuer string
	// ClientID and ClientSecret are this server's, registered with it.
	ClientID, ClientSecret string
	// Name is the provider's name on the dashboard's button; by default
	// the issuer's host.
	Name string
	// AllowedDomains, when given, are the only email domains let in.
	AllowedDomains []string
	// RoleClaim is the claim holding the user's groups (or one group);
	// Roles maps a group to a role. A user made at their first sign-in
	// gets the highest role their groups map to, else viewer.
	RoleClaim string
	Roles     map[string]string
	// PublicURL is where browsers reach this server, for the redirect
	// back; empty: the request's own host, over http.
	PublicURL string
}

// oidcState is what lives between a sign-in's start and its end.
const oidcCookie = "uptime_oidc"

// oidcLoginLife is how long a browser has to come back from the provider.
const oidcLoginLife = 10 * time.Minute

// provider is the identity provider, discovered on first use (so that a
// provider down at start-up delays sign-ins through it, not the start).
type provider struct {
	mu       sync.Mutex
	p        *oidc.Provider
	verifier *oidc.IDTokenVerifier
}

// UseOIDC lets users sign in through the identity provider. It is meant
// for start-up wiring.
func (s *Service) UseOIDC(o OIDC) {
	if o.Name == "" {
		if u, err := url.Parse(o.Issuer); err == nil {
			o.Name = u.Hostname()
		}
	}
	s.oidc = o
}

func (s *Service) registerOIDC(srv *api.Server) {
	srv.Handle("GET /oidc/login", s.handleOIDCLogin, api.Doc{
		Summary: "Start signing in through the identity provider: redirects to it", ContentType: "text/html", Role: api.Public})
	srv.Handle("GET /oidc/callback", s.handleOIDCCallback, api.Doc{
		Summary:     "Where the identity provider sends the browser back: starts a session and redirects to the dashboard",
		ContentType: "text/html", Role: api.Public})
}

// discover returns the provider and its ID token verifier.
func (s *Service) discover(ctx context.Context) (*oidc.Provider, *oidc.IDTokenVerifier, error) {
	s.oidcProvider.mu.Lock()
	defer s.oidcProvider.mu.Unlock()
	if s.oidcProvider.p != nil {
		return s.oidcProvider.p, s.oidcProvider.verifier, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(ctx, s.oidc.Issuer)
	if err != nil {
		return nil, nil, errs.Errorf(errs.Unavailable, "the identity provider %s does not answer: %s", s.oidc.Name, text.Clip(err.Error()))
	}
	s.oidcProvider.p = p
	s.oidcProvider.verifier = p.Verifier(&oidc.Config{ClientID: s.oidc.ClientID})
	return p, s.oidcProvider.verifier, nil
}

// oauthConfig is the OAuth 2 client of a request: its redirect goes back
// to the host the browser used, unless a public URL is set.
func (s *Service) oauthConfig(r *http.Request, p *oidc.Provider) *oauth2.Config {
	base := strings.TrimRight(s.oidc.PublicURL, "/")
	if base == "" {
		base = "http://" + r.Host
	}
	scopes := []string{oidc.ScopeOpenID, "email", "profile"}
	if s.oidc.RoleClaim != "" {
		scopes = append(scopes, s.oidc.RoleClaim)
	}
	return &oauth2.Config{ClientID: s.oidc.ClientID, ClientSecret: s.oidc.ClientSecret, Endpoint: p.Endpoint(),
		RedirectURL: base + "/oidc/callback", Scopes: scopes}
}

func redirect(to string, cookies ...*http.Cookie) any {
	return api.WithCookie(&api.Raw{Status: http.StatusFound, Header: http.Header{"Location": {to}}}, cookies...)
}

// toSignIn sends the browser back to the dashboard's sign-in, saying why.
func toSignIn(why string) any {
	return redirect("/frontend/#signin-error=" + url.QueryEscape(why))
}

func (s *Service) handleOIDCLogin(r *http.Request) (any, error) {
	if s.oidc.Issuer == "" {
		return nil, errs.Errorf(errs.NotFound, "no identity provider is configured (--oidc-issuer)")
	}
	p, _, err := s.discover(r.Context())
	if err != nil {
		return nil, err
	}
	state, nonce, verifier := randomText(24), randomText(24), oauth2.GenerateVerifier()
	if _, err := s.db.Exec(r.Context(), "DELETE FROM oidc_login WHERE created_at < $1", s.now().Add(-oidcLoginLife)); err != nil {
		return nil, fmt.Errorf("forget old sign-ins: %w", err)
	}
	if _, err := s.db.Exec(r.Context(), "INSERT INTO oidc_login (state, nonce, verifier) VALUES ($1, $2, $3)", state, nonce, verifier); err != nil {
		return nil, fmt.Errorf("start a sign-in: %w", err)
	}
	to := s.oauthConfig(r, p).AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier))
	return redirect(to, &http.Cookie{Name: oidcCookie, Value: state, Path: "/oidc/", HttpOnly: true, Secure: s.secureCookies,
		SameSite: http.SameSiteLaxMode, MaxAge: int(oidcLoginLife / time.Second)}), nil
}

func (s *Service) handleOIDCCallback(r *http.Request) (any, error) {
	if s.oidc.Issuer == "" {
		return nil, errs.Errorf(errs.NotFound, "no identity provider is configured (--oidc-issuer)")
	}
	q := r.URL.Query()
	client := api.ClientAddr(r)
	refuse := func(email, why string) (any, error) {
		if err := s.Record(r.Context(), api.AuditEntry{Kind: "sign-in refused", Caller: api.Principal{Name: email}, Client: client,
			Method: r.Method, Route: "GET /oidc/callback", Message: why}, http.StatusFound); err != nil {
			return nil, err
		}
		return toSignIn(why), nil
	}
	if e := q.Get("error"); e != "" {
		return refuse("", fmt.Sprintf("%s said no: %s", s.oidc.Name, text.Clip(cmpOr(q.Get("error_description"), e))))
	}
	cookie, err := r.Cookie(oidcCookie)
	state := q.Get("state")
	if err != nil || state == "" || cookie.Value != state {
		return refuse("", "the sign-in did not start in this browser, or took too long: try again")
	}
	var nonce, verifier string
	err = s.db.QueryRow(r.Context(), "DELETE FROM oidc_login WHERE state = $1 AND created_at >= $2 RETURNING nonce, verifier",
		state, s.now().Add(-oidcLoginLife)).Scan(&nonce, &verifier)
	if errors.Is(err, pgx.ErrNoRows) {
		return refuse("", "the sign-in was already used, or took too long: try again")
	} else if err != nil {
		return nil, fmt.Errorf("finish a sign-in: %w", err)
	}
	p, idVerifier, err := s.discover(r.Context())
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	token, err := s.oauthConfig(r, p).Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		return refuse("", fmt.Sprintf("%s did not take the sign-in's code: %s", s.oidc.Name, text.Clip(err.Error())))
	}
	raw, _ := token.Extra("id_token").(string)
	idToken, err := idVerifier.Verify(ctx, raw)
	if err != nil {
		return refuse("", fmt.Sprintf("%s's ID token does not verify: %s", s.oidc.Name, text.Clip(err.Error())))
	}
	if subtleDiffers(idToken.Nonce, nonce) {
		return refuse("", "the ID token is not this sign-in's (its nonce differs)")
	}
	var claims map[string]any
	if err := idToken.Claims(&claims); err != nil {
		return nil, fmt.Errorf("read the ID token's claims: %w", err)
	}
	email, _ := claims["email"].(string)
	if email == "" {
		return refuse("", fmt.Sprintf("%s gave no email address: allow the email scope", s.oidc.Name))
	}
	if verified, ok := claims["email_verified"].(bool); ok && !verified {
		return refuse(email, "the email address is not verified with "+s.oidc.Name)
	}
	if len(s.oidc.AllowedDomains) > 0 {
		_, domain, _ := strings.Cut(strings.ToLower(email), "@")
		if !slices.Contains(s.oidc.AllowedDomains, domain) {
			return refuse(email, fmt.Sprintf("addresses at %s may not sign in here", domain))
		}
	}
	u, err := s.UserByEmail(r.Context(), email)
	if errs.Is(err, errs.NotFound) {
		role := s.roleOf(claims)
		name := cmpOr(stringClaim(claims, "name"), stringClaim(claims, "preferred_username"))
		u, err = s.AddUser(r.Context(), UserParams{Email: &email, Name: &name, Role: &role})
		if errs.Is(err, errs.AlreadyExists) { // made meanwhile by another sign-in
			u, err = s.UserByEmail(r.Context(), email)
		}
	}
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		return refuse(email, "this user is disabled: an admin can enable them")
	}
	secret, _, err := s.startSession(r.Context(), u, client, r.UserAgent())
	if err != nil {
		return nil, err
	}
	if err := s.Record(r.Context(), api.AuditEntry{Kind: "sign-in", Caller: api.Principal{Name: u.Email, UserID: u.ID, Session: true},
		Client: client, Method: r.Method, Route: "GET /oidc/callback", Object: fmt.Sprintf("user/%d", u.ID),
		Message: "through " + s.oidc.Name}, http.StatusFound); err != nil {
		return nil, err
	}
	return redirect("/frontend/", s.sessionCookie(secret),
		&http.Cookie{Name: oidcCookie, Value: "", Path: "/oidc/", HttpOnly: true, Secure: s.secureCookies, MaxAge: -1}), nil
}

// roleOf is the highest role the claims' groups map to, else viewer.
func (s *Service) roleOf(claims map[string]any) string {
	var groups []string
	switch v := claims[s.oidc.RoleClaim].(type) {
	case string:
		groups = []string{v}
	case []any:
		for _, g := range v {
			if g, ok := g.(string); ok {
				groups = append(groups, g)
			}
		}
	}
	best := api.Viewer
	for _, g := range groups {
		if r, err := api.ParseRole(s.oidc.Roles[g]); err == nil && r > best {
			best = r
		}
	}
	return best.String()
}

func stringClaim(claims map[string]any, name string) string {
	v, _ := claims[name].(string)
	return v
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// subtleDiffers reports whether two strings differ, in constant time.
func subtleDiffers(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) != 1
}
