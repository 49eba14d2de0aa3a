package statuspage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"uptime/internal/mailer"
	"uptime/internal/pubsub"
)

// A page's subscribers hear each written incident, each update of one and
// each maintenance period announced, once each, in order. What they are
// told is written as a notice in the same transaction as what it tells
// of; a notice is then handed to the queue (now, and again by the
// minute's sweep if the process died in between), whose job hands one
// delivery job to each subscriber confirmed before the notice. A delivery
// sends the subscriber's notices not yet sent up to its own, the oldest
// first, each claimed before and recorded after it is sent: a job tried
// again after a crash sends nothing twice, unless the crash fell between
// the mail server's acceptance and the record.

// noticeArgs is a notice on its way to a page's subscribers.
type noticeArgs struct {
	Notice int64 `json:"notice"`
}

func (noticeArgs) Kind() string { return "status-page-notice" }

// mailArgs is one email to one subscriber: a notice's, or, without one,
// the confirmation sent at Confirmation (Unix µs), which a later one
// replaces.
type mailArgs struct {
	Subscriber   int64 `json:"subscriber"`
	Notice       int64 `json:"notice,omitempty"`
	Confirmation int64 `json:"confirmation,omitempty"`
}

func (mailArgs) Kind() string { return "status-page-mail" }

// announceArgs is the minute's look for maintenance to announce, and for
// notices not handed to the queue.
type announceArgs struct{}

func (announceArgs) Kind() string { return "status-page-announce" }

// Notices and unconfirmed subscribers are kept this long.
const (
	keepNotices     = 90 * 24 * time.Hour
	keepUnconfirmed = 7 * 24 * time.Hour
)

func (s *Service) registerMailWorkers() {
	q := s.mail.Queue
	if q == nil {
		return
	}
	river.AddWorker(q.Workers(), &noticeWorker{s: s})
	river.AddWorker(q.Workers(), &mailWorker{s: s})
	river.AddWorker(q.Workers(), &announceWorker{s: s})
	q.Cron(s.mail.AnnounceEvery, announceArgs{})
}

// onceEach are the options of the notices' and emails' jobs: the
// channels' attempts, and one job for the same arguments.
func onceEach() *river.InsertOpts {
	return &river.InsertOpts{MaxAttempts: pubsub.MaxAttempts, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// enqueueMail hands one email to the queue.
func (s *Service) enqueueMail(ctx context.Context, args mailArgs) error {
	return s.mail.Queue.Insert(ctx, args, onceEach())
}

// noteUpdate writes, in tx, the notice of a written incident's update
// (its first is the incident's) if the page takes subscribers.
func (s *Service) noteUpdate(ctx context.Context, tx pgx.Tx, updateID int64) error {
	var (
		slug, pageTitle, title, status, message string
		sites                                   []int64
		first                                   bool
		at                                      time.Time
	)
	err := tx.QueryRow(ctx, `SELECT p.slug, p.title, i.title, u.status, u.message, i.sites, u.created_at,
			NOT EXISTS (SELECT 1 FROM page_incident_update o WHERE o.incident_id = i.id AND o.id < u.id)
		FROM page_incident_update u JOIN page_incident i ON i.id = u.incident_id JOIN status_page p ON p.slug = i.slug
		WHERE u.id = $1 AND p.subscriptions`, updateID).
		Scan(&slug, &pageTitle, &title, &status, &message, &sites, &at, &first)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	line := "**" + statusText(status) + "**"
	if _, byID, err := s.pageSites(ctx, sites); err == nil && len(sites) > 0 {
		line += " · affects " + joinNames(byID, sites)
	}
	line += " · " + at.UTC().Format(mailTime)
	subject := fmt.Sprintf("[%s] %s: %s", pageTitle, title, statusText(status))
	if first {
		subject = fmt.Sprintf("[%s] Incident: %s (%s)", pageTitle, title, statusText(status))
	}
	_, err = tx.Exec(ctx, `INSERT INTO page_notice (slug, key, subject, body) VALUES ($1, $2, $3, $4)
		ON CONFLICT (slug, key) DO NOTHING`, slug, fmt.Sprintf("update:%d", updateID), subject,
		"## "+escapeMarkdown(title)+"\n\n"+line+"\n\n"+message)
	return err
}

// mailTime is how messages give times.
const mailTime = "Mon 2 Jan 2006 15:04 MST"

// escapeMarkdown keeps a title from being read as Markdown.
func escapeMarkdown(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune("\\`*_{}[]()#+-.!<>|~", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// dispatch hands the notices not yet queued to the queue. Called after a
// change that wrote one, and every minute, for those a process that died
// left behind; a notice queued twice is one job.
func (s *Service) dispatch(ctx context.Context) {
	if s.mail.Queue == nil {
		return
	}
	rows, err := s.db.Query(ctx, `SELECT id FROM page_notice WHERE queued_at IS NULL ORDER BY id LIMIT 1000`)
	if err != nil {
		s.mail.Log.Warn("could not read the notices to send; trying again within a minute", "err", err)
		return
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		s.mail.Log.Warn("could not read the notices to send; trying again within a minute", "err", err)
		return
	}
	for _, id := range ids {
		if err := s.mail.Queue.Insert(ctx, noticeArgs{Notice: id}, onceEach()); err != nil {
			s.mail.Log.Warn("could not queue a notice to subscribers; trying again within a minute", "notice_id", id, "err", err)
			return
		}
		if _, err := s.db.Exec(ctx, `UPDATE page_notice SET queued_at = now() WHERE id = $1`, id); err != nil {
			s.mail.Log.Warn("could not mark a notice queued", "notice_id", id, "err", err)
			return
		}
	}
}

// announceWorker writes a notice of each maintenance period a page with
// confirmed subscribers announces, once each, hands waiting notices to
// the queue, and drops old notices and subscribers never confirmed.
type announceWorker struct {
	river.WorkerDefaults[announceArgs]
	s *Service
}

func (w *announceWorker) Timeout(*river.Job[announceArgs]) time.Duration { return time.Minute }

func (w *announceWorker) Work(ctx context.Context, _ *river.Job[announceArgs]) error {
	s := w.s
	if err := s.announce(ctx, s.now()); err != nil {
		return err
	}
	s.dispatch(ctx)
	_, err := s.db.Exec(ctx, `DELETE FROM page_notice WHERE created_at < now() - make_interval(secs => $1)`, keepNotices.Seconds())
	if err == nil {
		_, err = s.db.Exec(ctx, `DELETE FROM page_subscriber WHERE confirmed_at IS NULL AND created_at < now() - make_interval(secs => $1)`,
			keepUnconfirmed.Seconds())
	}
	return err
}

// announce writes the notices of the maintenance the pages with confirmed
// subscribers announce at now.
func (s *Service) announce(ctx context.Context, now time.Time) error {
	rows, err := s.db.Query(ctx, "SELECT "+pageColumns+` FROM status_page p WHERE subscriptions
		AND EXISTS (SELECT 1 FROM page_subscriber WHERE slug = p.slug AND confirmed_at IS NOT NULL)`)
	if err != nil {
		return fmt.Errorf("find the pages with subscribers: %w", err)
	}
	pages, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Page, error) { return scanPage(r) })
	if err != nil {
		return fmt.Errorf("find the pages with subscribers: %w", err)
	}
	for _, p := range pages {
		ids := p.siteIDs()
		if len(ids) == 0 {
			continue
		}
		entries, sites, err := s.pageSites(ctx, ids)
		if err != nil {
			return err
		}
		for _, a := range s.mon.Announced(ctx, entries, now) {
			if len(a.Sites) == 0 {
				continue
			}
			subject := fmt.Sprintf("[%s] %s", p.Title, maintenanceTitle(a))
			state := "Scheduled maintenance"
			if a.Active {
				state = "In progress"
			}
			body := fmt.Sprintf("## %s\n\n**%s** · %s to %s · %s", escapeMarkdown(a.Title), state,
				a.Start.UTC().Format(mailTime), a.End.UTC().Format(mailTime), escapeMarkdown(joinNames(sites, a.Sites)))
			key := fmt.Sprintf("maintenance:%d:%s", a.Window, a.Start.UTC().Format(time.RFC3339))
			if _, err := s.db.Exec(ctx, `INSERT INTO page_notice (slug, key, subject, body) VALUES ($1, $2, $3, $4)
				ON CONFLICT (slug, key) DO NOTHING`, p.Slug, key, subject, body); err != nil {
				return fmt.Errorf("write the notice of maintenance on page %s: %w", p.Slug, err)
			}
		}
	}
	return nil
}

// noticeWorker hands a notice to each subscriber of its page confirmed
// before it was written, and not yet sent it.
type noticeWorker struct {
	river.WorkerDefaults[noticeArgs]
	s *Service
}

func (w *noticeWorker) Timeout(*river.Job[noticeArgs]) time.Duration { return 5 * time.Minute }

func (w *noticeWorker) NextRetry(job *river.Job[noticeArgs]) time.Time {
	return time.Now().Add(pubsub.Backoff(w.s.mail.RetryBackoff, job.Attempt))
}

func (w *noticeWorker) Work(ctx context.Context, job *river.Job[noticeArgs]) error {
	s, id := w.s, job.Args.Notice
	var after int64
	for {
		rows, err := s.db.Query(ctx, `SELECT sub.id FROM page_notice n JOIN page_subscriber sub ON sub.slug = n.slug
			WHERE n.id = $1 AND sub.confirmed_at <= n.created_at AND sub.id > $2
				AND NOT EXISTS (SELECT 1 FROM page_notice_sent WHERE notice_id = n.id AND subscriber_id = sub.id AND sent_at IS NOT NULL)
			ORDER BY sub.id LIMIT 1000`, id, after)
		if err != nil {
			return fmt.Errorf("find the subscribers of notice %d: %w", id, err)
		}
		subs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return fmt.Errorf("find the subscribers of notice %d: %w", id, err)
		}
		if len(subs) == 0 {
			return nil
		}
		jobs := make([]river.InsertManyParams, len(subs))
		for i, sub := range subs {
			jobs[i] = river.InsertManyParams{Args: mailArgs{Subscriber: sub, Notice: id}, InsertOpts: onceEach()}
		}
		if err := s.mail.Queue.InsertMany(ctx, jobs); err != nil {
			return fmt.Errorf("queue notice %d to its subscribers: %w", id, err)
		}
		after = subs[len(subs)-1]
	}
}

// mailWorker sends one email to one subscriber.
type mailWorker struct {
	river.WorkerDefaults[mailArgs]
	s *Service
}

func (w *mailWorker) Timeout(*river.Job[mailArgs]) time.Duration { return pubsub.AckDeadline }

func (w *mailWorker) NextRetry(job *river.Job[mailArgs]) time.Time {
	return time.Now().Add(pubsub.Backoff(w.s.mail.RetryBackoff, job.Attempt))
}

// subscriberRow is a subscriber as a message to it needs it.
type subscriberRow struct {
	slug, email, base, pageTitle string
	token                        string
	confirmed                    bool
	confirmSent                  *time.Time
}

func (w *mailWorker) Work(ctx context.Context, job *river.Job[mailArgs]) error {
	s, a := w.s, job.Args
	var (
		sub    subscriberRow
		sealed []byte
	)
	err := s.db.QueryRow(ctx, `SELECT sub.slug, sub.email, sub.link_base, p.title, sub.token_sealed, sub.confirmed_at IS NOT NULL, sub.confirm_sent_at
		FROM page_subscriber sub JOIN status_page p ON p.slug = sub.slug WHERE sub.id = $1`, a.Subscriber).
		Scan(&sub.slug, &sub.email, &sub.base, &sub.pageTitle, &sealed, &sub.confirmed, &sub.confirmSent)
	if errors.Is(err, pgx.ErrNoRows) {
		return river.JobCancel(fmt.Errorf("subscriber %d is gone", a.Subscriber))
	}
	if err != nil {
		return fmt.Errorf("read subscriber %d: %w", a.Subscriber, err)
	}
	token, err := s.mail.Box.Open(sealed)
	if err != nil {
		return river.JobCancel(fmt.Errorf("open the token of subscriber %d: %w", a.Subscriber, err))
	}
	sub.token = string(token)
	if a.Notice == 0 {
		if sub.confirmed || sub.confirmSent == nil || sub.confirmSent.UnixMicro() != a.Confirmation {
			return nil // confirmed since, or sent a later confirmation
		}
		return w.send(ctx, job, sub, confirmation(sub))
	}
	if !sub.confirmed {
		return nil
	}
	// The subscriber's notices up to this one, the oldest first: one
	// written before this one and not yet sent goes first.
	for {
		var (
			id            int64
			subject, body string
		)
		err := s.db.QueryRow(ctx, `SELECT n.id, n.subject, n.body FROM page_notice n JOIN page_subscriber sub ON sub.slug = n.slug
			WHERE sub.id = $1 AND n.id <= $2 AND sub.confirmed_at <= n.created_at AND NOT EXISTS (
				SELECT 1 FROM page_notice_sent WHERE notice_id = n.id AND subscriber_id = sub.id AND sent_at IS NOT NULL)
			ORDER BY n.id LIMIT 1`, a.Subscriber, a.Notice).Scan(&id, &subject, &body)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read the notices of subscriber %d: %w", a.Subscriber, err)
		}
		var claimed bool
		err = s.db.QueryRow(ctx, `INSERT INTO page_notice_sent (notice_id, subscriber_id) VALUES ($1, $2)
			ON CONFLICT (notice_id, subscriber_id) DO UPDATE SET claimed_at = now()
			WHERE page_notice_sent.sent_at IS NULL AND page_notice_sent.claimed_at < now() - make_interval(secs => $3)
			RETURNING true`, id, a.Subscriber, claimFor.Seconds()).Scan(&claimed)
		if errors.Is(err, pgx.ErrNoRows) {
			return river.JobSnooze(time.Second) // another job is sending it
		}
		if err != nil {
			return fmt.Errorf("claim notice %d for subscriber %d: %w", id, a.Subscriber, err)
		}
		if err := w.send(ctx, job, sub, noticeMessage(sub, subject, body)); err != nil {
			if _, rerr := s.db.Exec(context.WithoutCancel(ctx), `DELETE FROM page_notice_sent
				WHERE notice_id = $1 AND subscriber_id = $2 AND sent_at IS NULL`, id, a.Subscriber); rerr != nil {
				s.mail.Log.Warn("could not let go of a notice not sent", "notice_id", id, "subscriber_id", a.Subscriber, "err", rerr)
			}
			return err
		}
		if _, err := s.db.Exec(ctx, `UPDATE page_notice_sent SET sent_at = now() WHERE notice_id = $1 AND subscriber_id = $2`,
			id, a.Subscriber); err != nil {
			// Sent: once its claim lapses, it may be sent again.
			return fmt.Errorf("record notice %d sent to subscriber %d: %w", id, a.Subscriber, err)
		}
	}
}

// claimFor is how long a delivery's claim on a notice holds: past it, the
// process that claimed it is taken to have died.
const claimFor = 3 * time.Minute

// send sends the job's message, logging a failure.
func (w *mailWorker) send(ctx context.Context, job *river.Job[mailArgs], sub subscriberRow, msg mailer.Message) error {
	s, a := w.s, job.Args
	if s.mail.Mailer == nil {
		// Not a failure of the message: another instance, or this one
		// started again with --smtp-url, sends it.
		s.mail.Log.Warn("an email to a status page's subscriber waits for an instance with --smtp-url", "page", sub.slug,
			"subscriber_id", a.Subscriber)
		return river.JobSnooze(time.Minute)
	}
	err := s.mail.Mailer.Send(ctx, msg)
	if err == nil {
		return nil
	}
	if job.Attempt >= job.MaxAttempts {
		s.mail.Log.Error("email to a subscriber discarded after its last attempt failed", "page", sub.slug,
			"subscriber_id", a.Subscriber, "notice_id", a.Notice, "attempts", job.Attempt, "err", err)
	} else {
		s.mail.Log.Warn("email to a subscriber failed; it will be tried again", "page", sub.slug,
			"subscriber_id", a.Subscriber, "notice_id", a.Notice, "attempt", job.Attempt, "err", err)
	}
	return err
}

// link is the address of one of the subscriber's page's paths, with its
// token.
func (sub subscriberRow) link(path string) string {
	return sub.base + "/p/" + sub.slug + path + "?token=" + url.QueryEscape(sub.token)
}

// unsubscribeHeader is the header of every message: one click ends the
// subscription (RFC 8058).
func (sub subscriberRow) unsubscribeHeader() map[string]string {
	return map[string]string{
		"List-Unsubscribe":      "<" + sub.link("/unsubscribe") + ">",
		"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
		"List-Id":               fmt.Sprintf("%s <%s.status-page>", strings.ReplaceAll(sub.pageTitle, `"`, ""), sub.slug),
		"Auto-Submitted":        "auto-generated",
	}
}

// confirmation is the message asking the subscriber to confirm.
func confirmation(sub subscriberRow) mailer.Message {
	confirm := sub.link("/confirm")
	text := fmt.Sprintf("Someone, probably you, asked to hear by email of the incidents and maintenance of %s.\n\n"+
		"To confirm, follow this link within 24 hours:\n%s\n\nIf it was not you, do nothing: nothing more will be sent.\n",
		sub.pageTitle, confirm)
	body := fmt.Sprintf("Someone, probably you, asked to hear by email of the incidents and maintenance of %s.\n\n"+
		"[Confirm the subscription](%s) within 24 hours.\n\nIf it was not you, do nothing: nothing more will be sent.\n",
		escapeMarkdown(sub.pageTitle), confirm)
	return mailer.Message{To: sub.email, Subject: "Confirm your subscription to " + sub.pageTitle,
		Text: text + footerText(sub), HTML: mailHTML(sub, body), Header: sub.unsubscribeHeader()}
}

// noticeMessage is a notice as a message to the subscriber.
func noticeMessage(sub subscriberRow, subject, body string) mailer.Message {
	return mailer.Message{To: sub.email, Subject: subject, Text: body + "\n" + footerText(sub),
		HTML: mailHTML(sub, body), Header: sub.unsubscribeHeader()}
}

func footerText(sub subscriberRow) string {
	return fmt.Sprintf("\n--\n%s: %s/p/%s\nUnsubscribe: %s\n", sub.pageTitle, sub.base, sub.slug, sub.link("/unsubscribe"))
}

var mailTemplate = template.Must(template.New("mail").Parse(`<!doctype html>
<html><body style="font: 15px/1.5 system-ui, sans-serif; max-width: 40rem">
{{.Body}}
<hr>
<p style="color: #6b7280; font-size: 13px"><a href="{{.Page}}">{{.Title}}</a> · <a href="{{.Unsubscribe}}">Unsubscribe</a></p>
</body></html>`))

// mailHTML is a message's HTML: its Markdown rendered safe, and the links
// to the page and to unsubscribe.
func mailHTML(sub subscriberRow, body string) string {
	var b bytes.Buffer
	err := mailTemplate.Execute(&b, map[string]any{"Body": renderMarkdown(body), "Title": sub.pageTitle,
		"Page": sub.base + "/p/" + sub.slug, "Unsubscribe": sub.link("/unsubscribe")})
	if err != nil {
		return ""
	}
	return b.String()
}
