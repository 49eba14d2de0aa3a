package slack

import (
	"context"
	"strings"

	"uptime/internal/pubsub"
	"uptime/internal/text"
	"uptime/monitor/event"
	"uptime/site"
)

// Subscription is the name of Slack's subscription to transitions.
const Subscription = "slack-notification"

// Subscribe adds the slack-notification subscription to the
// uptime-transition topic: one message per transition, at least once.
func (s *Service) Subscribe(topic *pubsub.Topic[event.Transition]) {
	topic.Subscribe(Subscription, func(ctx context.Context, ev event.Transition) error {
		return s.Notify(ctx, NotifyParams{Text: Message(ev)})
	})
}

// Message is the tutorial's message for a transition, "*<url> is down!*"
// or "*<url> is back up.*", with a second line saying why the site is down
// or how long it was; alerts are phrased the same way. A site given a name
// goes by it, its URL after: "*Shop is down!* https://shop.example/". A
// password in the URL is hidden. A push site's push:// URL says nothing to
// people: its message is its name and why, on one line, as
// "*nightly-backup is down!* exit code 2: "pg_dump: connection refused"".
func Message(ev event.Transition) string {
	kind := ev.Kind()
	punct := "."
	if kind == event.Down {
		punct = "!"
	}
	subject := escape(text.Redact(ev.Site.URL))
	if site.KindOf(ev.Site.URL) == site.KindPush && ev.Name != "" {
		subject = escape(ev.Name)
	}
	title := "*" + event.Headline(event.Subject(ev, subject), kind) + punct + "*"
	if ev.Name != "" && ev.Location == "" && site.KindOf(ev.Site.URL) != site.KindPush {
		// Named, it goes by its name, its URL after it.
		title = "*" + event.Headline(escape(ev.Name), kind) + punct + "* " + escape(text.Redact(ev.Site.URL))
	}
	detail := ev.Reason
	switch lasted := event.Lasted(kind, ev.Since, ev.At); {
	case kind == event.Reminder && lasted != "":
		detail = strings.TrimSuffix(lasted, ".") + ": " + ev.Reason
	case lasted != "":
		detail = lasted
	}
	if seen := event.SeenFrom(ev.Locations); seen != "" {
		detail += "\n" + seen
	}
	switch {
	case detail == "":
		return title
	case site.KindOf(ev.Site.URL) == site.KindPush && ev.Location == "":
		return title + " " + escape(strings.ReplaceAll(detail, "\n", " "))
	}
	return title + "\n" + escape(detail)
}

// escape escapes what Slack's mrkdwn treats as markup.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
