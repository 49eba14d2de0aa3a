// Package event is what the monitor announces: the transitions and
// alerts it publishes, their kinds, and how people read them. Slack's
// messages and the channels' deliveries import it rather than the
// monitor.
package event

import (
	"strings"
	"time"

	"uptime/internal/human"
	"uptime/monitor/decide"
	"uptime/site"
)

// The kinds of events: a site's (see decide.Decide), and a location's.
const (
	Down         = decide.Down
	Up           = decide.Up
	Reminder     = decide.Reminder
	Degraded     = decide.Degraded
	DegradedEnd  = decide.DegradedEnd
	CertExpiring = decide.CertExpiring
	Flapping     = decide.Flapping
	Unstable     = decide.Unstable
	LocationLost = "location_lost"
	LocationBack = "location_back"
)

// Transition is published on the uptime-transition topic when a site
// goes down or comes back up.
type Transition struct {
	// Event is what happened: down, up, or an alert (reminder, degraded,
	// degraded_end, cert_expiring, flapping, unstable), or of a location
	// (location_lost, location_back). Empty in events
	// published before alerts existed: then Up says down or up.
	Event string `json:"event,omitempty"`
	// Site is the site that changed.
	Site site.Site `json:"site"`
	// Name is the site's name, when it was given one; empty when it goes
	// by its URL's host.
	Name string `json:"name,omitempty"`
	// Up tells whether the site is now up.
	Up bool `json:"up"`
	// Reason says why the site is down; empty when it is up.
	Reason string `json:"reason,omitempty"`
	// At is when the change was seen.
	At time.Time `json:"at"`
	// Since is when the previous state began, if it was ever seen.
	Since *time.Time `json:"since,omitempty"`
	// Locations are, in a down event, the locations whose checks saw the
	// failure.
	Locations []string `json:"locations,omitempty"`
	// Location is the location a location_lost or location_back event is
	// about; such an event has no site.
	Location string `json:"location,omitempty"`
}

// Kind is what happened: the event's Event, or down or up for an event
// published before alerts existed.
func (ev Transition) Kind() string {
	switch {
	case ev.Event != "":
		return ev.Event
	case ev.Up:
		return Up
	}
	return Down
}

// Topic is the name of the topic transitions are published on.
const Topic = "uptime-transition"

// Headline says an event of a site called name, as people read it: "Shop
// is down", "Shop is back up", "Shop's certificate expires soon"; of a
// location, name is "Location NAME". Slack's messages and the channels'
// share it.
func Headline(name, kind string) string {
	switch kind {
	case Down:
		return name + " is down"
	case Up:
		return name + " is back up"
	case Reminder:
		return name + " is still down"
	case Degraded:
		return name + " is slow"
	case DegradedEnd:
		return name + " is fast again"
	case CertExpiring:
		return name + "'s certificate expires soon"
	case Flapping:
		return name + " is flapping"
	case Unstable:
		return name + " is unstable"
	case LocationLost:
		return name + " is lost"
	case LocationBack:
		return name + " checks again"
	}
	return name + ": " + kind
}

// Subject names what an event is about for Headline: the location of a
// location's event, else the site's name given.
func Subject(ev Transition, siteName string) string {
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
	case Up:
		return "It was down for " + d + "."
	case Reminder:
		return "It has been down for " + d + "."
	case DegradedEnd:
		return "It was slow for " + d + "."
	case LocationBack:
		return "It was lost for " + d + "."
	}
	return ""
}
