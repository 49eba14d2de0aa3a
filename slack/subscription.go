package slack

import (
	"context"
	"fmt"
	"strings"
	"time"

	"uptime/internal/api"
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
		msg += "\nIt was down for " + humanDuration(ev.At.Sub(*ev.Since)) + "."
	}
	return msg
}

// escape escapes what Slack's mrkdwn treats as markup.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// humanDuration says a duration the way a person would: "3 minutes",
// "2 hours 5 minutes", "45 seconds".
func humanDuration(d time.Duration) string {
	plural := func(n int, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	switch {
	case d < time.Second:
		return "less than a second"
	case d < time.Minute:
		return plural(int(d.Seconds()), "second")
	case d < time.Hour:
		return plural(int(d.Minutes()), "minute")
	case d < 24*time.Hour:
		h, m := int(d.Hours()), int(d.Minutes())%60
		if m == 0 {
			return plural(h, "hour")
		}
		return plural(h, "hour") + " " + plural(m, "minute")
	}
	days, h := int(d.Hours())/24, int(d.Hours())%24
	if h == 0 {
		return plural(days, "day")
	}
	return plural(days, "day") + " " + plural(h, "hour")
}
