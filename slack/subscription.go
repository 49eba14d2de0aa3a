package slack

import (
	"context"
	"strings"

	"uptime/internal/pubsub"
	"uptime/internal/text"
	"uptime/monitor/event"
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
// password in the URL is hidden.
func Message(ev event.Transition) string {
	kind := ev.Kind()
	punct := "."
	if kind == event.Down {
		punct = "!"
	}
	title := "*" + event.Headline(event.Subject(ev, escape(text.Redact(ev.Site.URL))), kind) + punct + "*"
	if ev.Name != "" && ev.Location == "" {
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
	if detail == "" {
		return title
	}
	return title + "\n" + escape(detail)
}

// escape escapes what Slack's mrkdwn treats as markup.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
