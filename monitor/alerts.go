package monitor

import (
	"strings"
	"time"

	"uptime/internal/human"
	"uptime/monitor/decide"
)

// The events a site's state publishes (see decide.Decide).
const (
	EventDown         = decide.Down
	EventUp           = decide.Up
	EventReminder     = decide.Reminder
	EventDegraded     = decide.Degraded
	EventDegradedEnd  = decide.DegradedEnd
	EventCertExpiring = decide.CertExpiring
	EventFlapping     = decide.Flapping
	EventUnstable     = decide.Unstable
)

// Headline says an event of a site called name, as people read it: "Shop
// is down", "Shop is back up", "Shop's certificate expires soon"; of a
// location, name is "Location NAME". Slack's messages and the channels'
// share it.
func Headline(name, kind string) string {
	switch kind {
	case EventDown:
		return name + " is down"
	case EventUp:
		return name + " is back up"
	case EventReminder:
		return name + " is still down"
	case EventDegraded:
		return name + " is slow"
	case EventDegradedEnd:
		return name + " is fast again"
	case EventCertExpiring:
		return name + "'s certificate expires soon"
	case EventFlapping:
		return name + " is flapping"
	case EventUnstable:
		return name + " is unstable"
	case EventLocationLost:
		return name + " is lost"
	case EventLocationBack:
		return name + " checks again"
	}
	return name + ": " + kind
}

// Subject names what an event is about for Headline: the location of a
// location's event, else the site's name given.
func Subject(ev TransitionEvent, siteName string) string {
	if ev.Location != "" {
		return "Location " + ev.Location
	}
	return siteName
}

// SeenFrom says which locations saw a site down ("Seen from eu-west and
// us-east."), or "" when the event names none.
func SeenFrom(locations []string) string {
	switch n := len(locations); n {
	case 0:
		return ""
	case 1:
		return "Seen from " + locations[0] + "."
	default:
		return "Seen from " + strings.Join(locations[:n-1], ", ") + " and " + locations[n-1] + "."
	}
}

// Lasted says how long the state an event is about lasted, from its since
// to its at ("It was down for 3 minutes."), or "" when the event says
// none or since is unknown.
func Lasted(kind string, since *time.Time, at time.Time) string {
	if since == nil || !at.After(*since) {
		return ""
	}
	d := human.Duration(at.Sub(*since))
	switch kind {
	case EventUp:
		return "It was down for " + d + "."
	case EventReminder:
		return "It has been down for " + d + "."
	case EventDegradedEnd:
		return "It was slow for " + d + "."
	case EventLocationBack:
		return "It was lost for " + d + "."
	}
	return ""
}
