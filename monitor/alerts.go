package monitor

import (
	"context"
	"fmt"
	"math/bits"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"uptime/internal/human"
)

// The events a site's state publishes, beside down and up.
const (
	EventDown         = "down"
	EventUp           = "up"
	EventReminder     = "reminder"
	EventDegraded     = "degraded"
	EventDegradedEnd  = "degraded_end"
	EventCertExpiring = "cert_expiring"
	EventFlapping     = "flapping"
	EventUnstable     = "unstable"
)

// A site is unstable when more than a quarter of the first checks of its
// last rounds failed (at least unstableMin rounds of the last
// unstableRounds, while it is up), though no failure was confirmed; it is
// stable again at a tenth.
const (
	unstableRounds = 20
	unstableMin    = 10
	recentMask     = 1<<unstableRounds - 1
)

func unstable(fails, n int) bool    { return n >= unstableMin && fails*4 > n }
func stableAgain(fails, n int) bool { return fails*10 <= n }

// certThresholds are the days before a certificate's expiry at which it is
// warned of, once each.
var certThresholds = []int{14, 7, 1}

// certLevel is the fewest of certThresholds days that a certificate
// expiring at expiry is within at now, or 0 when it is further off.
func certLevel(expiry *time.Time, now time.Time) int {
	if expiry == nil {
		return 0
	}
	level := 0
	for _, d := range certThresholds {
		if expiry.Sub(now) <= time.Duration(d)*24*time.Hour {
			level = d
		}
	}
	return level
}

// alertState is what a site's state row holds for alerts.
type alertState struct {
	announcedUp    bool
	nextReminderAt *time.Time
	flappingSince  *time.Time
	slowStreak     int
	degradedSince  *time.Time
	recent         int64
	recentN        int
	unstableSince  *time.Time
	certWarnedFor  *time.Time
	certWarnedDays *int
}

const alertColumns = `announced_up, next_reminder_at, flapping_since, slow_streak, degraded_since,
	recent, recent_n, unstable_since, cert_warned_for, cert_warned_days`

func (a *alertState) fields() []any {
	return []any{&a.announcedUp, &a.nextReminderAt, &a.flappingSince, &a.slowStreak, &a.degradedSince,
		&a.recent, &a.recentN, &a.unstableSince, &a.certWarnedFor, &a.certWarnedDays}
}

// decision is what one check decides of a site's state.
type decision struct {
	up, changed bool
	since       *time.Time // when the state began
	prevSince   *time.Time // when the state before it began, if it was ever seen
	first       Result     // the round's first check
	// firstFailed tells whether the round's first check failed though its
	// location still sees the site up: a failure confirmation did not bear
	// out, which is what makes a site unstable.
	firstFailed bool
	final       Result   // its last
	maintenance bool     // the site is in a maintenance window
	downAt      []string // the locations that see it down, when it has more than one
}

// alerts works out, from the state before a check and what the check
// decided, the state's alert columns after it and the events to publish.
// Transitions are announced unless the site flaps: then one flapping event
// goes out, its changes are held back until it has been stable for the
// flap window, and the state it is in then is announced if it differs.
func (s *Service) alerts(ctx context.Context, tx pgx.Tx, t *target, prev alertState, d decision) (alertState, []TransitionEvent, error) {
	next := prev
	at := d.final.CheckedAt
	var events []TransitionEvent
	add := func(kind, reason string, since *time.Time) {
		ev := TransitionEvent{Event: kind, Site: t.Site.Public(), Name: t.givenName(), Up: d.up, Reason: reason, At: at, Since: since}
		if kind == EventDown || kind == EventReminder {
			ev.Locations = d.downAt
		}
		events = append(events, ev)
	}
	// A change announced when it happens says since when the state before
	// it lasted; one held back and announced later does not know.
	announce := func() {
		kind, reason := EventDown, d.final.Reason
		if d.up {
			kind, reason = EventUp, ""
		}
		var since *time.Time
		if d.changed {
			since = d.prevSince
		}
		add(kind, reason, since)
		next.announcedUp = d.up
	}

	window := s.opts.FlapWindow
	switch {
	case d.maintenance:
		// Held: announced, if it still holds, once the window ends.
	case d.changed && prev.flappingSince == nil:
		changes, err := changesSince(ctx, tx, t.ID, at.Add(-window))
		if err != nil {
			return prev, nil, err
		}
		if changes > s.opts.FlapChanges {
			next.flappingSince = &at
			add(EventFlapping, fmt.Sprintf("it changed state %d times in %s; its changes are held back until it is stable for %s",
				changes, human.Duration(window), human.Duration(window)), nil)
		} else if d.up != prev.announcedUp {
			announce()
		}
	case prev.flappingSince != nil && d.since != nil && !d.since.After(at.Add(-window)):
		next.flappingSince = nil
		if d.up != prev.announcedUp {
			announce()
		}
	case prev.flappingSince == nil && d.up != prev.announcedUp:
		// A change held by a maintenance window that has ended.
		announce()
	}

	// Reminders, while a site announced down stays down.
	switch {
	case next.announcedUp || d.up || t.remindEvery <= 0:
		next.nextReminderAt = nil
	case prev.announcedUp || next.nextReminderAt == nil:
		due := at.Add(t.remindEvery)
		next.nextReminderAt = &due
	case !next.nextReminderAt.After(at):
		add(EventReminder, d.final.Reason, d.since)
		due := at.Add(t.remindEvery)
		next.nextReminderAt = &due
	}

	// Degraded: slower than max_latency in confirmations+1 checks in a row.
	next.slowStreak = 0
	if d.final.Degraded {
		next.slowStreak = prev.slowStreak + 1
	}
	switch {
	case !d.up:
		next.degradedSince = nil // down says more
	case d.final.Degraded && prev.degradedSince == nil && t.slowNeeded > 0 && next.slowStreak >= t.slowNeeded:
		next.degradedSince = &at
		add(EventDegraded, d.final.Reason, nil)
	case !d.final.Degraded && prev.degradedSince != nil:
		next.degradedSince = nil
		add(EventDegradedEnd, "", prev.degradedSince)
	}

	// Unstable: first checks failing while confirmation keeps it up.
	next.recent, next.recentN = 0, 0
	if d.up && !d.changed {
		fail := int64(0)
		if d.firstFailed {
			fail = 1
		}
		next.recent = (prev.recent<<1 | fail) & recentMask
		next.recentN = min(prev.recentN+1, unstableRounds)
	}
	fails := bits.OnesCount64(uint64(next.recent))
	switch {
	case prev.unstableSince == nil && d.up && unstable(fails, next.recentN):
		next.unstableSince = &at
		add(EventUnstable, fmt.Sprintf("%d of its last %d checks failed, though none was confirmed by a re-check", fails, next.recentN), nil)
	case prev.unstableSince != nil && (!d.up || stableAgain(fails, next.recentN)):
		next.unstableSince = nil
	}

	// Certificates: warned of once at each threshold.
	if level := certLevel(d.final.CertExpiry, at); level > 0 {
		expiry := *d.final.CertExpiry
		if prev.certWarnedFor == nil || !prev.certWarnedFor.Equal(expiry) || prev.certWarnedDays == nil || *prev.certWarnedDays > level {
			add(EventCertExpiring, fmt.Sprintf("its certificate expires in %s, on %s", human.Duration(expiry.Sub(at)),
				expiry.UTC().Format("2 January 2006 15:04 MST")), nil)
			next.certWarnedFor, next.certWarnedDays = &expiry, &level
		}
	}
	if d.maintenance {
		events = nil // the window holds every alert
	}
	return next, events, nil
}

// changesSince counts a site's changes of state since from: each
// incident's start and end.
func changesSince(ctx context.Context, tx pgx.Tx, siteID int, from time.Time) (int, error) {
	var n int
	err := tx.QueryRow(ctx, `SELECT count(*) FILTER (WHERE started_at > $2) + count(*) FILTER (WHERE ended_at > $2)
		FROM incident WHERE site_id = $1 AND (started_at > $2 OR ended_at > $2)`, siteID, from).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count the changes of site %d: %w", siteID, err)
	}
	return n, nil
}

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
