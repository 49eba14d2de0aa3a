package site

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"

	"uptime/internal/api"
	"uptime/internal/errs"
	"uptime/internal/text"
)

// A push site's job reports in at its ping URL, <public URL>/heartbeat/
// <token>. The token, 128 random bits, is the credential: it is shown
// once, when the site is added or its token made anew, and kept only as
// its hash (Settings.TokenHash), which the monitor looks signals up by.

// newToken returns a new token and its hash.
func newToken() (token, hash string) {
	b := make([]byte, 16)
	rand.Read(b)
	token = hex.EncodeToString(b)
	return token, HashToken(token)
}

// HashToken returns the hash a push site keeps of its token.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// SetPublicURL sets where people reach the server, as ping URLs name it;
// without one, a ping URL names the host a request came to.
func (s *Service) SetPublicURL(u string) { s.baseURL = strings.TrimSuffix(u, "/") }

// pingURL is a push site's ping URL with the token, or with it masked
// when token is empty.
func (s *Service) pingURL(r *http.Request, token string) string {
	base := s.baseURL
	if base == "" && r != nil {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	if token == "" {
		token = text.Mask
	}
	return base + "/heartbeat/" + token
}

// shown is an entry as a response shows it: see Entry.Public; a push
// site's ping URL is shown with its token masked.
func (s *Service) shown(r *http.Request, e Entry) Entry {
	e = e.Public()
	if e.Kind == KindPush {
		e.PingURL = s.pingURL(r, "")
	}
	return e
}

// RenewToken gives a push site a new token, which it answers with; the old
// one is refused from then on, on every instance.
func (s *Service) RenewToken(ctx context.Context, id int64) (*Entry, string, error) {
	e, err := s.Entry(ctx, id)
	if err != nil {
		return nil, "", err
	}
	if e.Kind != KindPush {
		return nil, "", errs.Errorf(errs.FailedPrecondition, "site %d is a %s:// site: only push sites have a token", id, e.Kind)
	}
	token, hash := newToken()
	patch, _ := json.Marshal(hash)
	e, err = s.Update(ctx, id, map[string]json.RawMessage{"token_hash": patch})
	if err != nil {
		return nil, "", err
	}
	return e, token, nil
}

// TokenResponse is what POST /site/:siteID/token answers: the site's new
// ping URL, token and all, shown this once.
type TokenResponse struct {
	ID      int64  `json:"id"`
	PingURL string `json:"ping_url"`
}

// handleRenewToken serves POST /site/:siteID/token.
func (s *Service) handleRenewToken(r *http.Request) (any, error) {
	id, err := api.PathID(r, "siteID")
	if err != nil {
		return nil, err
	}
	e, token, err := s.RenewToken(r.Context(), id)
	if err != nil {
		return nil, err
	}
	return TokenResponse{ID: e.ID, PingURL: s.pingURL(r, token)}, nil
}
