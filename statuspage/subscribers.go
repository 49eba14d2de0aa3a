package statuspage

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/mail"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"uptime/internal/api"
	"uptime/internal/errs"
	"uptime/internal/mailer"
	"uptime/internal/queue"
	"uptime/internal/seal"
	"uptime/internal/text"
)

// Mail is what a page's subscribers are told through.
type Mail struct {
	// Mailer sends the email; nil on a server without --smtp-url, whose
	// pages take no subscribers (and which leaves the sending to those
	// that have one).
	Mailer *mailer.Mailer
	// Box seals subscribers' tokens.
	Box *seal.Box
	// Queue carries the deliveries, at least once each.
	Queue *queue.Queue
	// PublicURL, when set, is where the links in messages lead;
	// otherwise to the server as the visitor asked it to subscribe.
	PublicURL string
	// RetryBackoff is the first wait before a failed message is tried
	// again; zero means 10 seconds.
	RetryBackoff time.Duration
	// AnnounceEvery is how often pages look for maintenance to announce;
	// zero means every minute.
	AnnounceEvery time.Duration
	Log           *slog.Logger
}

// Limits of subscribing.
const (
	// confirmFor is how long a confirmation's link is good for.
	confirmFor = 24 * time.Hour
	// Per client, at most subscribeLimit requests to subscribe in
	// subscribeWindow; per address, a confirmation at most once in
	// confirmEvery on each page and at most confirmsPerHour an hour on
	// all pages together.
	subscribeLimit  = 10
	subscribeWindow = time.Hour
	confirmEvery    = 10 * time.Minute
	confirmsPerHour = 5
	maxEmail        = 254
)

// SendMail gives the service the means to tell subscribers, and adds its
// jobs to the queue: call it before the queue starts.
func (s *Service) SendMail(m Mail) {
	if m.RetryBackoff <= 0 {
		m.RetryBackoff = 10 * time.Second
	}
	if m.AnnounceEvery <= 0 {
		m.AnnounceEvery = time.Minute
	}
	if m.Log == nil {
		m.Log = slog.Default()
	}
	s.mail = m
	s.registerMailWorkers()
}

// Subscriber is an address that asked to hear of a page.
type Subscriber struct {
	ID    int64  `json:"id"`
	Email string `json:"email"`
	// Confirmed tells whether it followed the link in its confirmation:
	// until then it hears nothing else.
	Confirmed   bool       `json:"confirmed"`
	CreatedAt   time.Time  `json:"created_at"`
	ConfirmedAt *time.Time `json:"confirmed_at"`
}

// SubscribersResponse is a page's subscribers.
type SubscribersResponse struct {
	Subscribers []Subscriber `json:"subscribers"`
}

func (s *Service) registerSubscribers(srv *api.Server) {
	srv.Handle("GET /status-page/{slug}/subscriber", s.handleListSubscribers, api.Doc{
		Summary: "A status page's subscribers, confirmed or not", Response: SubscribersResponse{}})
	srv.Handle("DELETE /status-page/{slug}/subscriber/{id}", s.handleDeleteSubscriber, api.Doc{
		Summary: "Remove a subscriber"})
	srv.Handle("POST /p/{slug}/subscribe", s.handleSubscribe, api.Doc{
		Summary: "Subscribe an address (form field email, answered with a page; or {\"email\"} as JSON, answered with JSON) " +
			"to a page's incidents and maintenance: it is sent a link to confirm",
		Response: SubscribeResponse{}, Role: api.Public})
	for _, path := range []string{"confirm", "unsubscribe"} {
		srv.Handle("GET /p/{slug}/"+path, s.handleTokenForm(path), api.Doc{
			Summary: "A form to " + path + " the subscription of the link's token", ContentType: "text/html", Role: api.Public,
			Query: []api.Param{{Name: "token", Type: "string", Description: "from the email"}}})
	}
	srv.Handle("POST /p/{slug}/confirm", s.handleConfirm, api.Doc{
		Summary: "Confirm the subscription of the token (form field token, or ?token=)", ContentType: "text/html", Role: api.Public})
	srv.Handle("POST /p/{slug}/unsubscribe", s.handleUnsubscribe, api.Doc{
		Summary: "End the subscription of the token (?token=), in one click (RFC 8058)", ContentType: "text/html", Role: api.Public})
}

// messageView is a page that tells a visitor what became of what they
// asked: subscribing, confirming, unsubscribing.
type messageView struct {
	Heading, Text string
	// Action, when set, makes it a form posting Token there, with Button.
	Action, Token, Button string
}

// message answers a visitor with a page saying m.
func (s *Service) message(status int, p *Page, m messageView) (*api.Raw, error) {
	return uncached(status, pageView{Title: p.Title, Path: "/p/" + p.Slug, Message: &m})
}

// subscribable returns the page with the request's slug if it takes
// subscribers.
func (s *Service) subscribable(ctx context.Context, slug string) (*Page, error) {
	p, err := s.Get(ctx, slug)
	if err != nil {
		return nil, err
	}
	if !p.Subscriptions {
		return nil, errs.Errorf(errs.NotFound, "page %s takes no subscribers", slug)
	}
	return p, nil
}

// checkEmail reads an address as given in a form: one bare address.
func checkEmail(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	a, err := mail.ParseAddress(raw)
	at := strings.LastIndexByte(raw, '@')
	if err != nil || a.Name != "" || a.Address != raw || len(raw) > maxEmail || at < 1 || !strings.Contains(raw[at:], ".") {
		return "", errs.Errorf(errs.InvalidArgument, "email must be an address like ann@example.com, got %s", text.Quote(raw))
	}
	return strings.ToLower(raw), nil
}

// SubscribeResponse is what subscribing as JSON answers.
type SubscribeResponse struct {
	// Message says what was done, as the page would.
	Message string `json:"message"`
}

// handleSubscribe serves POST /p/:slug/subscribe: it keeps the address,
// unconfirmed, and sends it a link to confirm, unless it was sent one
// lately. The answer is the same whether the address was known, so that
// it tells no one who subscribed. A form is answered with a page, JSON
// with JSON.
func (s *Service) handleSubscribe(r *http.Request) (any, error) {
	ctx, slug := r.Context(), r.PathValue("slug")
	p, err := s.subscribable(ctx, slug)
	if err != nil {
		return nil, err
	}
	asJSON := isJSON(r)
	if !s.admits(r, slug, p.access, nil) {
		if asJSON {
			return nil, errs.Errorf(errs.Unauthenticated, "page %s is private: give its password or token first", slug)
		}
		return s.locked(slug, p, false)
	}
	now := s.now()
	client := api.ClientAddr(r)
	if s.subscribes.blocked(client, now) {
		return nil, api.Throttled(errs.Errorf(errs.ResourceExhausted, "too many requests to subscribe from here; try again later"), subscribeWindow)
	}
	s.subscribes.hit(client, now)
	given, err := subscribeEmail(r, asJSON)
	if err != nil {
		return nil, err
	}
	email, err := checkEmail(given)
	if err != nil && asJSON {
		return nil, err
	}
	if err != nil {
		return s.message(http.StatusBadRequest, p, messageView{Heading: "Not subscribed", Text: err.Error()})
	}
	base := s.mail.PublicURL
	if base == "" {
		base = requestBase(r)
	}
	if err := s.subscribe(ctx, slug, email, strings.TrimSuffix(base, "/")); err != nil {
		return nil, err
	}
	said := fmt.Sprintf("Unless %s was sent one in the last %d minutes, it is being sent a link to confirm the subscription, good for 24 hours. "+
		"Nothing else is sent to it until it is confirmed.", email, int(confirmEvery.Minutes()))
	if asJSON {
		return SubscribeResponse{Message: said}, nil
	}
	return s.message(http.StatusAccepted, p, messageView{Heading: "Check your inbox", Text: said})
}

// isJSON tells whether the request's body is JSON.
func isJSON(r *http.Request) bool {
	media, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return media == "application/json"
}

// subscribeEmail is the address a request to subscribe gives: the form's
// field email, or {"email": "..."} as JSON.
func subscribeEmail(r *http.Request, asJSON bool) (string, error) {
	if asJSON {
		p, _, err := api.DecodeFields[struct {
			Email string `json:"email"`
		}](r, "a subscription", []string{"email"})
		return p.Email, err
	}
	if err := r.ParseForm(); err != nil {
		return "", errs.Errorf(errs.InvalidArgument, "the form: %v", err)
	}
	return r.PostForm.Get("email"), nil
}

// subscribe keeps the address on the page, unconfirmed, and sends it a
// confirmation unless the limits per address hold it back. An address
// confirmed already is left as it is.
func (s *Service) subscribe(ctx context.Context, slug, email, base string) error {
	if s.mail.Box == nil || s.mail.Queue == nil {
		return errs.Errorf(errs.Unavailable, "this server sends no email")
	}
	token, err := newToken()
	if err != nil {
		return err
	}
	var id int64
	err = s.db.QueryRow(ctx, `INSERT INTO page_subscriber (slug, email, token_digest, token_sealed, link_base)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (slug, email) DO UPDATE SET link_base = EXCLUDED.link_base WHERE page_subscriber.confirmed_at IS NULL
		RETURNING id`, slug, email, s.mail.Box.Digest([]byte(token)), s.mail.Box.Seal([]byte(token)), base).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // confirmed already
	}
	if err != nil {
		return fmt.Errorf("keep a subscriber of page %s: %w", slug, err)
	}
	var sent time.Time
	err = s.db.QueryRow(ctx, `UPDATE page_subscriber SET confirm_sent_at = now()
		WHERE id = $1 AND (confirm_sent_at IS NULL OR confirm_sent_at < now() - make_interval(secs => $3))
			AND (SELECT count(*) FROM page_subscriber WHERE email = $2 AND confirm_sent_at > now() - interval '1 hour') < $4
		RETURNING confirm_sent_at`, id, email, confirmEvery.Seconds(), confirmsPerHour).Scan(&sent)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // sent one lately
	}
	if err != nil {
		return fmt.Errorf("claim a confirmation for a subscriber of page %s: %w", slug, err)
	}
	if err := s.enqueueMail(ctx, mailArgs{Subscriber: id, Confirmation: sent.UnixMicro()}); err != nil {
		// Not sent: a later request may try again at once.
		if _, rerr := s.db.Exec(context.WithoutCancel(ctx), `UPDATE page_subscriber SET confirm_sent_at = NULL
			WHERE id = $1 AND confirm_sent_at = $2`, id, sent); rerr != nil {
			s.mail.Log.Warn("could not undo a confirmation not sent", "subscriber_id", id, "err", rerr)
		}
		return fmt.Errorf("send a confirmation: %w", err)
	}
	return nil
}

// newToken is a subscriber's token: 192 random bits, for links.
func newToken() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// handleTokenForm serves GET /p/:slug/confirm and /unsubscribe: a page
// with a button that posts the link's token. A link followed does nothing
// by itself: mail scanners follow links too.
func (s *Service) handleTokenForm(action string) api.Endpoint {
	return func(r *http.Request) (any, error) {
		p, err := s.Get(r.Context(), r.PathValue("slug"))
		if err != nil {
			return nil, err
		}
		m := messageView{Heading: "Confirm your subscription", Text: "Email will tell you of this page's incidents and maintenance.",
			Action: "/p/" + p.Slug + "/" + action, Token: r.URL.Query().Get("token"), Button: "Confirm"}
		if action == "unsubscribe" {
			m.Heading, m.Text, m.Button = "Unsubscribe", "No more email will tell you of this page.", "Unsubscribe"
		}
		return s.message(http.StatusOK, p, m)
	}
}

// formToken is the token a form posted, or the link's.
func formToken(r *http.Request) string {
	if err := r.ParseForm(); err == nil && r.PostForm.Get("token") != "" {
		return r.PostForm.Get("token")
	}
	return r.URL.Query().Get("token")
}

// handleConfirm serves POST /p/:slug/confirm: the token's subscriber,
// sent its confirmation within a day, hears the page from now on.
func (s *Service) handleConfirm(r *http.Request) (any, error) {
	ctx, slug := r.Context(), r.PathValue("slug")
	p, err := s.Get(ctx, slug)
	if err != nil {
		return nil, err
	}
	token := formToken(r)
	if s.mail.Box == nil || token == "" {
		return s.message(http.StatusNotFound, p, messageView{Heading: "Not subscribed", Text: "This link is not valid."})
	}
	tag, err := s.db.Exec(ctx, `UPDATE page_subscriber SET confirmed_at = COALESCE(confirmed_at, now())
		WHERE slug = $1 AND token_digest = $2 AND (confirmed_at IS NOT NULL OR confirm_sent_at > now() - make_interval(secs => $3))`,
		slug, s.mail.Box.Digest([]byte(token)), confirmFor.Seconds())
	if err != nil {
		return nil, fmt.Errorf("confirm a subscriber of page %s: %w", slug, err)
	}
	if tag.RowsAffected() == 0 {
		return s.message(http.StatusNotFound, p, messageView{Heading: "Not subscribed",
			Text: "This link is not valid, or older than 24 hours: subscribe again on the page."})
	}
	return s.message(http.StatusOK, p, messageView{Heading: "Subscribed",
		Text: "You will hear of this page's incidents and maintenance. Each message has a link to unsubscribe."})
}

// handleUnsubscribe serves POST /p/:slug/unsubscribe: the token's
// subscriber hears nothing more. A token not known is no error: it may
// have unsubscribed already.
func (s *Service) handleUnsubscribe(r *http.Request) (any, error) {
	ctx, slug := r.Context(), r.PathValue("slug")
	p, err := s.Get(ctx, slug)
	if err != nil {
		return nil, err
	}
	if token := formToken(r); s.mail.Box != nil && token != "" {
		if _, err := s.db.Exec(ctx, `DELETE FROM page_subscriber WHERE slug = $1 AND token_digest = $2`,
			slug, s.mail.Box.Digest([]byte(token))); err != nil {
			return nil, fmt.Errorf("unsubscribe from page %s: %w", slug, err)
		}
	}
	return s.message(http.StatusOK, p, messageView{Heading: "Unsubscribed", Text: "No more email will tell you of this page."})
}

func (s *Service) handleListSubscribers(r *http.Request) (any, error) {
	ctx, slug := r.Context(), r.PathValue("slug")
	if _, err := s.Get(ctx, slug); err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `SELECT id, email, created_at, confirmed_at FROM page_subscriber WHERE slug = $1 ORDER BY id`, slug)
	if err != nil {
		return nil, fmt.Errorf("list the subscribers of page %s: %w", slug, err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (sub Subscriber, err error) {
		err = row.Scan(&sub.ID, &sub.Email, &sub.CreatedAt, &sub.ConfirmedAt)
		sub.Confirmed = sub.ConfirmedAt != nil
		return sub, err
	})
	if err != nil {
		return nil, fmt.Errorf("list the subscribers of page %s: %w", slug, err)
	}
	return SubscribersResponse{Subscribers: append([]Subscriber{}, list...)}, nil
}

func (s *Service) handleDeleteSubscriber(r *http.Request) (any, error) {
	ctx, slug := r.Context(), r.PathValue("slug")
	id, err := api.PathID(r, "id")
	if err != nil {
		return nil, err
	}
	if _, err := s.Get(ctx, slug); err != nil {
		return nil, err
	}
	tag, err := s.db.Exec(ctx, `DELETE FROM page_subscriber WHERE slug = $1 AND id = $2`, slug, id)
	if err != nil {
		return nil, fmt.Errorf("remove subscriber %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return nil, errs.Errorf(errs.NotFound, "page %s has no subscriber %d", slug, id)
	}
	return nil, nil
}
