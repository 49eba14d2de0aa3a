package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nicholas-fedor/shoutrrr/pkg/router"
	"github.com/nicholas-fedor/shoutrrr/pkg/types"
	"github.com/riverqueue/river"

	"uptime/internal/errs"
	"uptime/internal/metrics"
	"uptime/internal/pubsub"
	"uptime/internal/text"
	"uptime/internal/version"
	"uptime/monitor/event"
	"uptime/site"
)

// Subscription is the name of the channels' subscription to transitions.
const Subscription = "notify-channels"

// Subscribe adds the notify-channels subscription to the uptime-transition
// topic: each transition, at least once, becomes one delivery job per
// channel that hears it.
func (s *Service) Subscribe(topic *pubsub.Topic[event.Transition]) {
	topic.Subscribe(Subscription, func(ctx context.Context, ev event.Transition) error {
		return s.Publish(ctx, Event{Event: ev.Kind(), Site: EventSite{ID: ev.Site.ID, URL: text.Redact(ev.Site.URL)},
			Reason: ev.Reason, At: ev.At, Since: ev.Since, Locations: ev.Locations, Location: ev.Location})
	})
}

// Publish enqueues the event for every channel that hears it. A channel's
// job is unique by its channel and event, so a publication repeated after
// a failure part way does not deliver twice.
func (s *Service) Publish(ctx context.Context, ev Event) error {
	// The channels that hear this event, before the site is read: most
	// installations have none, and then an outage of many sites costs the
	// site database nothing.
	type candidate struct {
		id    int64
		tags  []string
		sites []int64
	}
	rows, err := s.db.Query(ctx, `SELECT id, tags, sites FROM channel
		WHERE cardinality(events) = 0 OR $1 = ANY(events) ORDER BY id`, ev.Event)
	if err != nil {
		return fmt.Errorf("find the channels of a %s event: %w", ev.Event, err)
	}
	candidates, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (c candidate, err error) {
		err = r.Scan(&c.id, &c.tags, &c.sites)
		return c, err
	})
	if err != nil || len(candidates) == 0 {
		return err
	}
	var (
		tags []string
		e    *site.Entry
	)
	if ev.Location == "" { // a location's event is about no site
		e, err = s.sites.Entry(ctx, ev.Site.ID)
	}
	switch {
	case ev.Location != "":
	case err == nil:
		tags = e.Tags
		ev.Site.Name = e.Name
	case errs.Is(err, errs.NotFound):
		// Deleted since: channels of every site still hear it.
	default:
		return err
	}
	if ev.Site.Name == "" && ev.Location == "" {
		ev.Site.Name = hostOf(ev.Site.URL)
	}
	for _, c := range candidates {
		hears := len(c.tags) == 0 && len(c.sites) == 0 || slices.Contains(c.sites, ev.Site.ID) ||
			slices.ContainsFunc(c.tags, func(t string) bool { return slices.Contains(tags, t) })
		if !hears {
			continue
		}
		if err := s.q.Insert(ctx, deliveryArgs{ChannelID: c.id, Event: ev}, &river.InsertOpts{
			MaxAttempts: pubsub.MaxAttempts,
			UniqueOpts:  river.UniqueOpts{ByArgs: true},
		}); err != nil {
			return fmt.Errorf("enqueue a delivery to %s: %w", channelName(c.id), err)
		}
	}
	return nil
}

func hostOf(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Host != "" {
		return u.Hostname()
	}
	return raw
}

// deliveryArgs is one event on its way to one channel.
type deliveryArgs struct {
	ChannelID int64 `json:"channel_id"`
	Event     Event `json:"event"`
}

func (deliveryArgs) Kind() string { return "notify-channel-delivery" }

type deliveryWorker struct {
	river.WorkerDefaults[deliveryArgs]
	s *Service

	// Failed deliveries are logged at most once a minute per channel.
	mu       sync.Mutex
	lastWarn map[int64]time.Time
}

func (s *Service) registerWorkers() {
	river.AddWorker(s.q.Workers(), &deliveryWorker{s: s, lastWarn: map[int64]time.Time{}})
}

func (w *deliveryWorker) Work(ctx context.Context, job *river.Job[deliveryArgs]) error {
	id, ev := job.Args.ChannelID, job.Args.Event
	ch, err := w.s.open(ctx, id)
	if errors.Is(err, errNoChannel) {
		w.s.log.Info("channel deleted: its pending delivery is dropped", "channel_id", id, "event", ev.Event, "site_id", ev.Site.ID)
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	err = w.s.send(ctx, ch, ev)
	w.s.record(ctx, id, ev.Event, err)
	if err == nil {
		return nil
	}
	if job.Attempt >= job.MaxAttempts {
		w.s.log.Error("alert discarded after its last delivery attempt failed", "channel", ch.name, "channel_id", id,
			"event", ev.Event, "site_id", ev.Site.ID, "attempts", job.Attempt, "err", err)
		return err
	}
	w.mu.Lock()
	if time.Since(w.lastWarn[id]) >= time.Minute {
		w.lastWarn[id] = time.Now()
		w.s.log.Warn("delivery to a channel failed; it will be tried again", "channel", ch.name, "channel_id", id,
			"event", ev.Event, "attempt", job.Attempt, "next_try_in", pubsub.Backoff(w.s.opts.RetryBackoff, job.Attempt), "err", err)
	}
	w.mu.Unlock()
	return err
}

// NextRetry is Encore's backoff, as the Slack subscription's.
func (w *deliveryWorker) NextRetry(job *river.Job[deliveryArgs]) time.Time {
	return time.Now().Add(pubsub.Backoff(w.s.opts.RetryBackoff, job.Attempt))
}

// Timeout is Encore's deadline for one delivery.
func (w *deliveryWorker) Timeout(*river.Job[deliveryArgs]) time.Duration { return pubsub.AckDeadline }

// openChannel is a channel with its URL and secret opened, for sending.
type openChannel struct {
	id           int64
	name, kind   string
	url, masked  string
	secret       []byte
	hasSecret    bool
	lastDelivery *time.Time
}

// open reads a channel and opens its sealed URL and secret.
func (s *Service) open(ctx context.Context, id int64) (*openChannel, error) {
	var ch openChannel
	var sealedURL, sealedSecret []byte
	err := s.db.QueryRow(ctx, `SELECT id, name, kind, url_sealed, url_masked, secret_sealed FROM channel WHERE id = $1`, id).
		Scan(&ch.id, &ch.name, &ch.kind, &sealedURL, &ch.masked, &sealedSecret)
	if noRows(err) {
		return nil, errNoChannel
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", channelName(id), err)
	}
	u, err := s.box.Open(sealedURL)
	if err != nil {
		return nil, fmt.Errorf("open the URL of %s: %w", channelName(id), err)
	}
	ch.url = string(u)
	if sealedSecret != nil {
		if ch.secret, err = s.box.Open(sealedSecret); err != nil {
			return nil, fmt.Errorf("open the secret of %s: %w", channelName(id), err)
		}
		ch.hasSecret = true
	}
	return &ch, nil
}

// record notes a delivery's result on its channel, for the dashboard.
func (s *Service) record(ctx context.Context, id int64, event string, err error) {
	result, msg := "ok", ""
	if err != nil {
		result, msg = "error", text.Clip(err.Error())
	}
	metrics.Deliveries.WithLabelValues("channel", result).Inc()
	if _, dbErr := s.db.Exec(context.WithoutCancel(ctx), `UPDATE channel SET last_delivery_at = now(), last_delivery_event = $2,
		last_delivery_ok = $3, last_delivery_error = NULLIF($4, '') WHERE id = $1`, id, event, err == nil, msg); dbErr != nil {
		s.log.Warn("could not record a delivery's result", "channel_id", id, "err", dbErr)
	}
}

// send delivers one event to one channel. Its error never holds the
// channel's URL or secret.
func (s *Service) send(ctx context.Context, ch *openChannel, ev Event) error {
	var err error
	if ch.kind == "webhook" {
		err = s.postWebhook(ctx, ch, ev) // its dialer holds it to the policy
	} else if err = s.reachable(ctx, ch.kind, ch.url); err != nil {
		err = fmt.Errorf("not sent: %w", err)
	} else {
		err = sendShoutrrr(ctx, ch.url, ev)
	}
	if err != nil {
		msg := scrub(err.Error(), ch.url)
		if ch.hasSecret {
			msg = strings.ReplaceAll(msg, string(ch.secret), "•••")
		}
		// Short and redacted: what a service answered is not ours to show.
		return errors.New(text.Cut(text.Redact(msg), maxReason))
	}
	return nil
}

// Signature is the X-Uptime-Signature of a webhook body: "sha256=" and
// the hex HMAC-SHA256 of the body under the channel's secret.
func Signature(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func (s *Service) postWebhook(ctx context.Context, ch *openChannel, ev Event) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ch.url, bytes.NewReader(body))
	if err != nil {
		return errors.New("the webhook URL is not valid")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", version.UserAgent)
	req.Header.Set("X-Uptime-Event", ev.Event)
	if ch.hasSecret {
		req.Header.Set("X-Uptime-Signature", Signature(ch.secret, body))
	}
	resp, err := s.client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // the URL is the secret: keep it out
		}
		return fmt.Errorf("post to the webhook: %w", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 300 {
		// The status alone: the reply's body may hold anything the
		// endpoint knows, and channels are read by anyone.
		return fmt.Errorf("the webhook answered %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	return nil
}

// maxReason is the longest delivery error kept on a channel.
const maxReason = 160

// sendShoutrrr sends the event's text through the service the URL names.
// shoutrrr takes no context: a send that outlasts ctx is left to its own
// time limits and reported as timed out.
func sendShoutrrr(ctx context.Context, rawURL string, ev Event) error {
	done := make(chan error, 1)
	go func() {
		svc, err := (&router.ServiceRouter{}).Locate(rawURL)
		if err != nil {
			done <- err
			return
		}
		params := types.Params{"title": Title(ev)}
		done <- svc.Send(Text(ev), &params)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("no answer in time: %w", ctx.Err())
	}
}

// Title is an event's one-line summary.
func Title(ev Event) string {
	if ev.Event == "test" {
		return "Uptime test message"
	}
	return event.Headline(event.Subject(event.Transition{Location: ev.Location}, ev.Site.Name), ev.Event)
}

// Text is an event as a message for people: its title, the site's URL,
// and why or for how long.
func Text(ev Event) string {
	if ev.Event == "test" {
		return "This is a test message from Uptime: this channel works."
	}
	lines := []string{Title(ev)}
	if ev.Site.URL != "" && site.KindOf(ev.Site.URL) != site.KindPush {
		lines = append(lines, ev.Site.URL) // a push:// URL says nothing to people
	}
	if ev.Reason != "" {
		lines = append(lines, ev.Reason)
	}
	if seen := event.SeenFrom(ev.Locations); seen != "" {
		lines = append(lines, seen)
	}
	if lasted := event.Lasted(ev.Event, ev.Since, ev.At); lasted != "" {
		lines = append(lines, lasted)
	}
	return strings.Join(lines, "\n")
}

// Test sends a test message to a channel now, and answers its service's
// error if it fails.
func (s *Service) Test(ctx context.Context, id int64) error {
	ch, err := s.open(ctx, id)
	if errors.Is(err, errNoChannel) {
		return errs.Errorf(errs.NotFound, "no channel has the id %d", id)
	}
	if err != nil {
		return err
	}
	ev := Event{Event: "test", Site: EventSite{Name: "Uptime"}, Reason: "a test message", At: time.Now().UTC()}
	ctx, cancel := context.WithTimeout(ctx, pubsub.AckDeadline)
	defer cancel()
	err = s.send(ctx, ch, ev)
	s.record(ctx, id, ev.Event, err)
	if err != nil {
		return errs.Errorf(errs.Unavailable, "the channel's service refused the test message: %s", text.Clip(err.Error()))
	}
	return nil
}
