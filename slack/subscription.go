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
// or how long it was. A password in the URL is hidden.
func Message(ev monitor.TransitionEvent) string {
	u := escape(api.Redact(ev.Site.URL))
	if !ev.Up {
		msg := fmt.Sprintf("*%s is down!*", u)
		if ev.Reason != "" {
			msg += "\n" + escape(ev.Reason)
		}
		return msg
	}
	msg := fmt.Sprintf("*%s is back up.*", u)
	if ev.Since != nil && ev.At.After(*ev.Since) {
		msg += "\nIt was down for " + human.Duration(ev.At.Sub(*ev.Since)) + "."
	}
	return msg
}

// escape escapes what Slack's mrkdwn treats as markup.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
