package notify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/nicholas-fedor/shoutrrr/pkg/router"

	"uptime/internal/api"
	"uptime/internal/dbutil"
	"uptime/internal/errs"
	"uptime/internal/text"
)

// Channel is where alerts go, as responses show it: the URL masked, the
// secret never.
type Channel struct {
	// ID names the channel in /channel/:id.
	ID int64 `json:"id"`
	// Name is a label for people, unique.
	Name string `json:"name"`
	// Kind is "webhook" for a plain http(s) URL, else the shoutrrr
	// service its URL names (discord, smtp, ntfy...).
	Kind string `json:"kind"`
	// URL is the channel's URL with everything past its host masked.
	URL string `json:"url"`
	// Signed tells whether webhook requests carry X-Uptime-Signature.
	Signed bool `json:"signed"`
	// Tags, Sites: the sites it hears, by tag or by id; none of either,
	// every site.
	Tags  []string `json:"tags"`
	Sites []int64  `json:"sites"`
	// Events are the events it hears; empty, all of them.
	Events []string `json:"events"`
	// CreatedAt and UpdatedAt are when it was made and last changed.
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// LastDelivery is the result of the last delivery to it, if any.
	LastDelivery *Delivery `json:"last_delivery"`
}

// Delivery is the result of a delivery to a channel.
type Delivery struct {
	At    time.Time `json:"at"`
	Event string    `json:"event"`
	OK    bool      `json:"ok"`
	// Error is what the channel's service answered, secrets masked.
	Error string `json:"error,omitempty"`
}

// ChannelParams are the fields of a channel to create or change; a field
// left out keeps its value (or its default, on creation).
type ChannelParams struct {
	Name   *string   `json:"name,omitempty"`
	URL    *string   `json:"url,omitempty"`
	Secret *string   `json:"secret,omitempty"`
	Tags   *[]string `json:"tags,omitempty"`
	Sites  *[]int64  `json:"sites,omitempty"`
	Events *[]string `json:"events,omitempty"`
}

// ListResponse is every channel.
type ListResponse struct {
	Channels []Channel `json:"channels"`
}

// Limits of a channel.
const (
	maxName   = 100
	maxURL    = 2048
	maxSecret = 256
	maxTags   = 20
	maxSites  = 1000
)

var (
	channelFields = []string{"name", "url", "secret", "tags", "sites", "events"}
)

// decodeChannel reads a request's fields, refusing one it does not know.
// "secret": null (or "") removes a channel's secret.
func decodeChannel(r *http.Request) (ChannelParams, error) {
	p, nulls, err := api.DecodeFields[ChannelParams](r, "a channel", channelFields, "secret")
	if nulls["secret"] {
		p.Secret = new(string)
	}
	return p, err
}

// kindOf returns a channel URL's kind: webhook for http(s), else the
// shoutrrr service it names, after checking that shoutrrr can read it.
// Its errors never quote the URL.
func kindOf(raw string) (string, error) {
	if strings.TrimSpace(raw) == "" {
		return "", errs.Errorf(errs.InvalidArgument, "url is required")
	}
	if len(raw) > maxURL {
		return "", errs.Errorf(errs.InvalidArgument, "url is at most %d characters", maxURL)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return "", errs.Errorf(errs.InvalidArgument, "url is not a URL: give http(s):// for a webhook, or a service's URL as discord://, smtp://, ntfy://")
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme == "http" || scheme == "https" {
		if u.Host == "" {
			return "", errs.Errorf(errs.InvalidArgument, "url: a webhook URL needs a host")
		}
		return "webhook", nil
	}
	name, _, _ := strings.Cut(scheme, "+")
	if !slices.Contains(Services(), name) {
		return "", errs.Errorf(errs.InvalidArgument, "url: unknown service %s; give http(s):// for a webhook, or one of %s",
			text.Quote(name+"://"), strings.Join(Services(), ", "))
	}
	// Matrix logs in as it reads its URL: that is a delivery, not a check
	// of the URL, so its URL is only parsed here.
	if name == "matrix" {
		if u.Host == "" {
			return "", errs.Errorf(errs.InvalidArgument, "url: a matrix URL needs a host, as matrix://user:password@host")
		}
		return name, nil
	}
	if _, err := (&router.ServiceRouter{}).Locate(raw); err != nil {
		return "", errs.Errorf(errs.InvalidArgument, "url: %s cannot read it: %s", name, scrub(err.Error(), raw))
	}
	return name, nil
}

// hostedAt are the services whose URL names the server they connect to
// (a self-hosted one, or any endpoint), as the generic webhook does; the
// others connect to their vendor's fixed host, whatever the URL's host
// part holds (a token, a webhook's id).
var hostedAt = []string{"generic", "gotify", "matrix", "mattermost", "ntfy", "opsgenie", "rocketchat", "signal", "smtp", "zulip", "bark", "apprise"}

// reachable applies the target policy to where a channel connects: a
// webhook's host, or a self-hosted service's, resolved now. A webhook is
// held to the policy at each connection too (its dialer's Control); a
// service connects through shoutrrr's own clients, so it is checked here,
// at creation and before each delivery.
func (s *Service) reachable(ctx context.Context, kind, raw string) error {
	if s.opts.Targets == nil || kind != "webhook" && !slices.Contains(hostedAt, kind) {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	port, _ := strconv.ParseUint(u.Port(), 10, 16)
	if port == 0 {
		port = 443 // what the policy knows of ports is this instance's own
		if strings.EqualFold(u.Scheme, "http") {
			port = 80
		}
	}
	err = s.opts.Targets.CheckResolved(ctx, u.Hostname(), uint16(port))
	if dnsErr := (*net.DNSError)(nil); errors.As(err, &dnsErr) {
		return nil // nothing to refuse: a name that does not resolve reaches nothing
	}
	return err
}

// Services are the shoutrrr services a channel URL may name.
func Services() []string {
	var out []string
	for _, s := range (&router.ServiceRouter{}).ListServices() {
		if s != "logger" { // writes to this program's own log: not a channel
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// MaskURL shows a channel URL's scheme and host, and hides the rest, where
// tokens and passwords live: what responses show of it.
func MaskURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return "•••"
	}
	host := u.Host
	if u.User != nil && host == "" {
		host = "•••"
	}
	out := u.Scheme + "://" + host
	if u.User != nil && u.Host != "" {
		out = u.Scheme + "://•••@" + host
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Opaque != "" || u.Fragment != "" {
		out += "/•••"
	}
	return out
}

// scrub hides, in a message, the URL and every part of it that may be a
// secret: its user, password, path segments and query values.
func scrub(msg, raw string) string {
	if raw == "" {
		return msg
	}
	parts := []string{raw}
	if u, err := url.Parse(raw); err == nil {
		if u.User != nil {
			parts = append(parts, u.User.Username())
			if pw, ok := u.User.Password(); ok {
				parts = append(parts, pw, url.QueryEscape(pw))
			}
		}
		for seg := range strings.SplitSeq(u.Path, "/") {
			parts = append(parts, seg)
		}
		for _, vs := range u.Query() {
			parts = append(parts, vs...)
		}
		parts = append(parts, u.Opaque, u.RawQuery)
	}
	// Longest first, so that a part inside another is not left half shown.
	slices.SortFunc(parts, func(a, b string) int { return len(b) - len(a) })
	for _, p := range parts {
		if len(p) >= 4 {
			msg = strings.ReplaceAll(msg, p, "•••")
		}
	}
	return msg
}

// check validates the fields given: their form, that each site exists
// and that each tag is one some site has.
func (s *Service) check(ctx context.Context, p ChannelParams) (kind string, err error) {
	if p.Name != nil {
		if err := api.CheckText("name", *p.Name, 1, maxName, false); err != nil {
			return "", err
		}
	}
	if p.URL != nil {
		if kind, err = kindOf(*p.URL); err != nil {
			return "", err
		}
		if err := s.reachable(ctx, kind, *p.URL); err != nil {
			return "", errs.Errorf(errs.InvalidArgument, "url: %s (a channel connects where checks may; see --allow-targets)",
				scrub(err.Error(), *p.URL))
		}
	}
	if p.Secret != nil && utf8.RuneCountInString(*p.Secret) > maxSecret {
		return "", errs.Errorf(errs.InvalidArgument, "secret is at most %d characters", maxSecret)
	}
	if p.Events != nil {
		for i, e := range *p.Events {
			if !slices.Contains(Events, e) {
				return "", errs.Errorf(errs.InvalidArgument, "events[%d]: unknown event %s; events are %s",
					i, text.Quote(e), strings.Join(Events, ", "))
			}
		}
	}
	if p.Tags != nil {
		tags := *p.Tags
		if len(tags) > maxTags {
			return "", errs.Errorf(errs.InvalidArgument, "tags: at most %d, got %d", maxTags, len(tags))
		}
		known, err := s.sites.Tags(ctx)
		if err != nil {
			return "", err
		}
		for i, t := range tags {
			if !slices.Contains(known, t) {
				return "", errs.Errorf(errs.InvalidArgument, "tags[%d]: no site has the tag %s", i, text.Quote(t))
			}
		}
	}
	if p.Sites != nil {
		ids := *p.Sites
		if len(ids) > maxSites {
			return "", errs.Errorf(errs.InvalidArgument, "sites: at most %d, got %d", maxSites, len(ids))
		}
		for i, id := range ids {
			if id < 1 {
				return "", errs.Errorf(errs.InvalidArgument, "sites[%d]: %d is not a site id", i, id)
			}
		}
		found, err := s.sites.Entries(ctx, ids)
		if err != nil {
			return "", err
		}
		known := map[int64]bool{}
		for _, e := range found {
			known[e.ID] = true
		}
		for i, id := range ids {
			if !known[id] {
				return "", errs.Errorf(errs.InvalidArgument, "sites[%d]: no site has the id %d", i, id)
			}
		}
	}
	return kind, nil
}

const channelColumns = `id, name, kind, url_masked, secret_sealed IS NOT NULL, tags, sites, events, created_at, updated_at,
	last_delivery_at, COALESCE(last_delivery_event, ''), COALESCE(last_delivery_ok, false), COALESCE(last_delivery_error, '')`

func scanChannel(row pgx.Row) (*Channel, error) {
	var c Channel
	var sites []int64
	var at *time.Time
	var d Delivery
	if err := row.Scan(&c.ID, &c.Name, &c.Kind, &c.URL, &c.Signed, &c.Tags, &sites, &c.Events, &c.CreatedAt, &c.UpdatedAt,
		&at, &d.Event, &d.OK, &d.Error); err != nil {
		return nil, err
	}
	c.Sites = sites
	if at != nil {
		d.At = *at
		c.LastDelivery = &d
	}
	return &c, nil
}

// Create adds a channel.
func (s *Service) Create(ctx context.Context, p ChannelParams) (*Channel, error) {
	if p.Name == nil {
		return nil, errs.Errorf(errs.InvalidArgument, "name is required")
	}
	if p.URL == nil {
		return nil, errs.Errorf(errs.InvalidArgument, "url is required")
	}
	kind, err := s.check(ctx, p)
	if err != nil {
		return nil, err
	}
	if p.Secret != nil && *p.Secret != "" && kind != "webhook" {
		return nil, errs.Errorf(errs.InvalidArgument, "secret signs webhook requests; a %s channel has none", kind)
	}
	var secret []byte
	if p.Secret != nil && *p.Secret != "" {
		secret = s.box.Seal([]byte(*p.Secret))
	}
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx)
	if err := s.claimKey(ctx, tx); err != nil {
		return nil, err
	}
	c, err := scanChannel(tx.QueryRow(ctx, `INSERT INTO channel (name, kind, url_sealed, url_masked, secret_sealed, tags, sites, events)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING `+channelColumns,
		*p.Name, kind, s.box.Seal([]byte(*p.URL)), MaskURL(*p.URL), secret, api.OrEmpty(p.Tags), api.OrEmpty(p.Sites), api.OrEmpty(p.Events)))
	if err != nil {
		return nil, dbError(err, *p.Name)
	}
	return c, tx.Commit(ctx)
}

// Update changes the fields given of a channel.
func (s *Service) Update(ctx context.Context, id int64, p ChannelParams) (*Channel, error) {
	kind, err := s.check(ctx, p)
	if err != nil {
		return nil, err
	}
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx)
	if err := s.claimKey(ctx, tx); err != nil {
		return nil, err
	}
	var curKind string
	if err := tx.QueryRow(ctx, `SELECT kind FROM channel WHERE id = $1 FOR UPDATE`, id).Scan(&curKind); noRows(err) {
		return nil, errs.Errorf(errs.NotFound, "no channel has the id %d", id)
	} else if err != nil {
		return nil, err
	}
	if kind == "" {
		kind = curKind
	}
	set := []string{"updated_at = now()"}
	args := []any{id}
	add := func(col string, v any) {
		args = append(args, v)
		set = append(set, col+" = $"+strconv.Itoa(len(args)))
	}
	if p.Name != nil {
		add("name", *p.Name)
	}
	if p.URL != nil {
		add("kind", kind)
		add("url_sealed", s.box.Seal([]byte(*p.URL)))
		add("url_masked", MaskURL(*p.URL))
		if kind != "webhook" && p.Secret == nil {
			set = append(set, "secret_sealed = NULL") // a secret signs webhooks only
		}
	}
	if p.Secret != nil {
		if *p.Secret == "" {
			set = append(set, "secret_sealed = NULL")
		} else if kind != "webhook" {
			return nil, errs.Errorf(errs.InvalidArgument, "secret signs webhook requests; a %s channel has none", kind)
		} else {
			add("secret_sealed", s.box.Seal([]byte(*p.Secret)))
		}
	}
	if p.Tags != nil {
		add("tags", *p.Tags)
	}
	if p.Sites != nil {
		add("sites", *p.Sites)
	}
	if p.Events != nil {
		add("events", *p.Events)
	}
	c, err := scanChannel(tx.QueryRow(ctx, `UPDATE channel SET `+strings.Join(set, ", ")+` WHERE id = $1 RETURNING `+channelColumns, args...))
	if err != nil {
		name := ""
		if p.Name != nil {
			name = *p.Name
		}
		return nil, dbError(err, name)
	}
	return c, tx.Commit(ctx)
}

// Get returns a channel.
func (s *Service) Get(ctx context.Context, id int64) (*Channel, error) {
	c, err := scanChannel(s.db.QueryRow(ctx, `SELECT `+channelColumns+` FROM channel WHERE id = $1`, id))
	if noRows(err) {
		return nil, errs.Errorf(errs.NotFound, "no channel has the id %d", id)
	}
	return c, err
}

// List returns every channel, by id.
func (s *Service) List(ctx context.Context) (*ListResponse, error) {
	rows, err := s.db.Query(ctx, `SELECT `+channelColumns+` FROM channel ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := &ListResponse{Channels: []Channel{}}
	for rows.Next() {
		c, err := scanChannel(rows)
		if err != nil {
			return nil, err
		}
		out.Channels = append(out.Channels, *c)
	}
	return out, rows.Err()
}

// Delete removes a channel; its pending deliveries are dropped when they
// come up.
func (s *Service) Delete(ctx context.Context, id int64) error {
	tag, err := s.db.Exec(ctx, `DELETE FROM channel WHERE id = $1`, id)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return errs.Errorf(errs.NotFound, "no channel has the id %d", id)
	}
	return nil
}

// dbError turns a duplicate name into a conflict.
func dbError(err error, name string) error {
	if dbutil.Duplicate(err) {
		return errs.Errorf(errs.AlreadyExists, "a channel named %s exists already", text.Quote(name))
	}
	return err
}

// Register adds the service's endpoints to srv.
func (s *Service) Register(srv *api.Server) {
	srv.Handle("POST /channel", func(r *http.Request) (any, error) {
		p, err := decodeChannel(r)
		if err != nil {
			return nil, err
		}
		return s.Create(r.Context(), p)
	}, api.Doc{Summary: "Add a channel alerts go to", Request: ChannelParams{}, Response: Channel{}})
	srv.Handle("GET /channel", func(r *http.Request) (any, error) {
		return s.List(r.Context())
	}, api.Doc{Summary: "Every channel, URLs masked", Response: ListResponse{}})
	srv.Handle("GET /channel/{id}", func(r *http.Request) (any, error) {
		id, err := api.PathID(r, "id")
		if err != nil {
			return nil, err
		}
		return s.Get(r.Context(), id)
	}, api.Doc{Summary: "A channel, its URL masked, with its last delivery", Response: Channel{}})
	srv.Handle("PATCH /channel/{id}", func(r *http.Request) (any, error) {
		id, err := api.PathID(r, "id")
		if err != nil {
			return nil, err
		}
		p, err := decodeChannel(r)
		if err != nil {
			return nil, err
		}
		return s.Update(r.Context(), id, p)
	}, api.Doc{Summary: "Change the fields given of a channel", Request: ChannelParams{}, Response: Channel{}})
	srv.Handle("DELETE /channel/{id}", func(r *http.Request) (any, error) {
		id, err := api.PathID(r, "id")
		if err != nil {
			return nil, err
		}
		return nil, s.Delete(r.Context(), id)
	}, api.Doc{Summary: "Delete a channel; deliveries pending to it are dropped"})
	srv.Handle("POST /channel/{id}/test", func(r *http.Request) (any, error) {
		id, err := api.PathID(r, "id")
		if err != nil {
			return nil, err
		}
		return nil, s.Test(r.Context(), id)
	}, api.Doc{Summary: "Send a test message to a channel now: 200 once its service accepted it, else the service's error"})
}

// channelName names a channel in log lines.
func channelName(id int64) string { return fmt.Sprintf("channel %d", id) }
