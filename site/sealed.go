package site

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"uptime/internal/errs"
	"uptime/internal/seal"
	"uptime/internal/text"
)

// A site's credentials (its URL's user information and secret-looking
// query values, its headers' values, its body, what a tcp or tls check
// sends) are kept sealed with the
// instances' secret key wherever a database holds them, as channels'
// URLs are: the site database and the monitor's copy keep each site's URL
// and settings as open reads show them, and the rest in one sealed value,
// so that a copy of a database alone holds no site's password.

// credentials are what of a site a read never shows, sealed together.
type credentials struct {
	// URL is the site's URL whole, where the URL as shown hides some of
	// it; empty otherwise.
	URL string `json:"url,omitempty"`
	// Headers are the headers with their values.
	Headers map[string]string `json:"headers,omitempty"`
	// Body is the body of a POST check.
	Body *string `json:"body,omitempty"`
	// Send is what a tcp or tls check sends.
	Send *string `json:"send,omitempty"`
}

// Sealed is a site as a database keeps it.
type Sealed struct {
	// URL is the URL as open reads show it, its credentials hidden.
	URL string
	// Settings are the settings the site was given, as JSON, with its
	// headers' values and its body hidden as open reads show them.
	Settings string
	// Secrets are the credentials, sealed; nil for a site with none.
	Secrets []byte
}

// Seal splits a site's URL and the settings it was given into what a
// database may keep in the open and the sealed rest.
func Seal(box *seal.Box, rawURL string, st Settings) Sealed {
	v := Sealed{URL: text.Redact(rawURL), Settings: st.Public().json()}
	var c credentials
	if v.URL != rawURL {
		c.URL = rawURL
	}
	if len(st.Headers) > 0 {
		c.Headers = st.Headers
	}
	if st.Body != nil && *st.Body != "" {
		c.Body = st.Body
	}
	if st.Send != nil && *st.Send != "" {
		c.Send = st.Send
	}
	if c.URL != "" || c.Headers != nil || c.Body != nil || c.Send != nil {
		b, err := json.Marshal(c)
		if err != nil {
			panic(err) // strings always marshal
		}
		v.Secrets = box.Seal(b)
	}
	return v
}

// Open puts the site back together: its URL and the settings it was
// given, credentials included.
func (v Sealed) Open(box *seal.Box) (string, Settings, error) {
	var st Settings
	if err := json.Unmarshal([]byte(v.Settings), &st); err != nil {
		return "", st, fmt.Errorf("settings: %w", err)
	}
	if v.Secrets == nil {
		return v.URL, st, nil
	}
	plain, err := box.Open(v.Secrets)
	if err != nil {
		return "", st, fmt.Errorf("open the credentials: %w", err)
	}
	var c credentials
	if err := json.Unmarshal(plain, &c); err != nil {
		return "", st, fmt.Errorf("open the credentials: %w", err)
	}
	rawURL := v.URL
	if c.URL != "" {
		rawURL = c.URL
	}
	st.Headers, st.Body, st.Send = c.Headers, c.Body, c.Send
	return rawURL, st, nil
}

// SealedWhat names, in messages, what a database holding sealed sites
// holds.
func SealedWhat(database string) string {
	return "the sites' credentials in the " + database + " database"
}

// uniqueURL is what keeps a site's URL unique, and finds a site by it,
// where the column of its URL shows it with its credentials hidden: the
// URL itself when it hides nothing, else a keyed hash of it (see
// seal.Box.Digest), so that two sites may differ by their passwords alone
// and a copy of the database is no help in guessing them.
func (s *Service) uniqueURL(rawURL string) string {
	if text.Redact(rawURL) == rawURL {
		return rawURL
	}
	return s.box.Digest([]byte(rawURL))
}

// sealRow returns the row of a site with the URL and the settings given,
// its credentials sealed.
func (s *Service) sealRow(id int64, rawURL string, st Settings, version int64) *row {
	v := Seal(s.box, rawURL, st)
	unique := s.uniqueURL(rawURL)
	return &row{ID: id, URL: v.URL, Settings: v.Settings, Sealed: v.Secrets, UniqueURL: &unique, Version: version,
		Search: searchText(rawURL, st)}
}

// open returns the site's URL and the settings it was given, credentials
// included.
func (s *Service) open(r *row) (string, Settings, error) {
	u, st, err := Sealed{URL: r.URL, Settings: r.Settings, Secrets: r.Sealed}.Open(s.box)
	if err != nil {
		return "", st, fmt.Errorf("site %d: %w", r.ID, err)
	}
	return u, st, nil
}

// entry returns the site of the row, credentials included, with its
// defaults filled in.
func (s *Service) entry(r *row) (*Entry, error) {
	u, st, err := s.open(r)
	if err != nil {
		return nil, err
	}
	return &Entry{Site: Site{ID: r.ID, URL: u}, Config: st.Config(u, s.defaults), Given: st, Version: r.Version}, nil
}

// publicEntry returns the site of the row for Entry.Public, which shows
// what the row keeps in the open but for a body's length: the credentials
// are opened only for that.
func (s *Service) publicEntry(r *row) (*Entry, error) {
	shown := *r
	shown.Sealed = nil
	e, err := s.entry(&shown)
	if err != nil || e.Given.Body == nil {
		return e, err
	}
	return s.entry(r)
}

// record is a site's row as a statement takes it in a JSON list.
type record struct {
	ID       int64           `json:"id,omitempty"`
	URL      string          `json:"url,omitempty"`
	Settings json.RawMessage `json:"settings"`
	Sealed   []byte          `json:"sealed"` // base64, as encoding/json writes bytes
	Unique   string          `json:"unique,omitempty"`
	Search   string          `json:"search"`
}

func (r *row) record() record {
	return record{ID: r.ID, URL: r.URL, Settings: json.RawMessage(r.Settings), Sealed: r.Sealed, Unique: *r.UniqueURL,
		Search: *r.Search}
}

// claimKey makes sure, before sealed is written, that the site database's
// credentials are sealed with one key: the first instance to seal any
// leaves a probe sealed with its key, and an instance holding another key
// refuses to seal, saying how to give it the right one. Once this
// process's key is known to be the database's, it is not asked again;
// nothing sealed (a site without credentials) asks nothing.
func (s *Service) claimKey(ctx context.Context, sealed []byte) error {
	if sealed == nil || s.keyClaimed.Load() {
		return nil
	}
	if err := s.db.WithContext(ctx).Exec(`INSERT INTO sealing_key (id, probe) VALUES (1, ?) ON CONFLICT (id) DO NOTHING`,
		s.box.Probe()).Error; err != nil {
		return fmt.Errorf("claim the secret key: %w", err)
	}
	if err := s.CheckKey(ctx); err != nil {
		return errs.Errorf(errs.FailedPrecondition, "%s", err.Error())
	}
	s.keyClaimed.Store(true)
	return nil
}

// CheckKey makes sure this instance's key opens the credentials the site
// database holds; before any was sealed, any key will do.
func (s *Service) CheckKey(ctx context.Context) error {
	var probe []byte
	err := s.db.WithContext(ctx).Raw(`SELECT probe FROM sealing_key WHERE id = 1`).Row().Scan(&probe)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check the secret key: %w", err)
	}
	return s.box.CheckProbe(probe, SealedWhat("site"))
}
