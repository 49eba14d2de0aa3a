package slack

import (
	"context"
	"fmt"
	"strings"

	"uptime/internal/api"
	"uptime/internal/human"
	"uptime/internal/pubsub"
	"uptime/monitor"
)

// Subscribe adds the slack-notification subscription to the
// uptime-transition topic: one message per transition, at least once.
func (s *Service) Subscribe(topic *pubsub.Topic[monitor.TransitionEvent]) {
	topic.Subscribe("slack-notification", func(ctx context.Context, ev monitor.TransitionEvent) error {
		return s.Notify(ctx, NotifyParams{Text: Message(ev)})
	})
}

// Message is the tutorial's message for a transition, "*<url> is down!*"
// or "*<url> is back up.*", with a second line saying why the site is down
// or how long it was; alerts are phrased the same way. A password in the
// URL is hidden.
func Message(ev monitor.TransitionEvent) string {
	u := escape(api.Redact(ev.Site.URL))
	var title, detail string
	switch ev.Kind() {
	case monitor.EventDown:
		title, detail = fmt.Sprintf("*%s is down!*", u), ev.Reason
	case monitor.EventUp:
		title = fmt.Sprintf("*%s is back up.*", u)
		if ev.Since != nil && ev.At.After(*ev.Since) {
			detail = "It was down for " + human.Duration(ev.At.Sub(*ev.Since)) + "."
		}
	case monitor.EventReminder:
		title, detail = fmt.Sprintf("*%s is still down.*", u), ev.Reason
		if ev.Since != nil && ev.At.After(*ev.Since) {
			detail = "It has been down for " + human.Duration(ev.At.Sub(*ev.Since)) + ": " + ev.Reason
		}
	case monitor.EventDegraded:
		title, detail = fmt.Sprintf("*%s is slow.*", u), ev.Reason
	case monitor.EventDegradedEnd:
		title = fmt.Sprintf("*%s is fast again.*", u)
		if ev.Since != nil && ev.At.After(*ev.Since) {
			detail = "It was slow for " + human.Duration(ev.At.Sub(*ev.Since)) + "."
		}
	case monitor.EventCertExpiring:
		title, detail = fmt.Sprintf("*%s's certificate expires soon.*", u), ev.Reason
	case monitor.EventFlapping:
		title, detail = fmt.Sprintf("*%s is flapping.*", u), ev.Reason
	case monitor.EventUnstable:
		title, detail = fmt.Sprintf("*%s is unstable.*", u), ev.Reason
	default:
		title, detail = fmt.Sprintf("*%s: %s*", u, ev.Kind()), ev.Reason
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
