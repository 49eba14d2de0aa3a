// Package decide holds the monitor's rules, written once: from a site's
// state before a round of checks, the round's attempts, the live locations
// and the policy the site's settings imply, it works out the state after
// the round and the events to announce. It reads and writes nothing; the
// monitor stores what it decides, on the per-site path and the bulk path
// alike.
package decide

import (
	"fmt"
	"maps"
	"math/bits"
	"slices"
	"strings"
	"time"

	"uptime/internal/human"
)

// Result is one check of a site.
type Result struct {
	// Up is the tutorial's rule: the final response has a status below 400.
	Up bool
	// Status is the final response's HTTP status, or 0 without a response.
	Status int
	// Latency is how long the check took: the final response's headers
	// and the part of its body a check reads.
	Latency time.Duration
	// Reason says, for people, why the site is down; empty when up.
	Reason string
	// CertExpiry is when the https certificate expires; nil for http.
	CertExpiry *time.Time
	// CheckedAt is when the check started.
	CheckedAt time.Time
	// Degraded is an up result slower than the site's max_latency.
	Degraded bool
	// Maintenance marks a check made in a maintenance window of the site.
	Maintenance bool
}

// StatusOrNil is a result's status as its state keeps it: nil without a
// response.
func (r Result) StatusOrNil() *int {
	if r.Status == 0 {
		return nil
	}
	status := r.Status
	return &status
}

// LatencyMS is a result's latency in milliseconds, as its state keeps it.
func (r Result) LatencyMS() float64 {
	return float64(r.Latency.Microseconds()) / 1000
}

// Location is one location's own view of a site, kept in its state by the
// location's name, and shown by /status.
type Location struct {
	Up         bool      `json:"up"`
	CheckedAt  time.Time `json:"checked_at"`
	StatusCode *int      `json:"status_code"`
	LatencyMS  float64   `json:"latency_ms"`
	Reason     string    `json:"reason"`
	// Streak counts the passing checks so far of a location that saw the
	// site down.
	Streak int `json:"streak"`
}

// State is a site's state, as its row keeps it. A site never checked
// has the zero State with Up set: it counts as up, as in the tutorial.
type State struct {
	// Up is the site's confirmed state, over its locations, and Since
	// when it began; CheckedAt is its latest check from anywhere, nil
	// while it has none.
	Up        bool
	Since     *time.Time
	CheckedAt *time.Time
	// What the latest decisive check saw, as /status shows it, and the
	// passing checks in a row of its location while it recovers.
	Status     *int
	LatencyMS  float64
	Reason     string
	CertExpiry *time.Time
	Degraded   bool
	Streak     int
	// Locations are each location's own view, by name.
	Locations map[string]Location
	Alerts
}

// Alerts is what a site's state keeps for its alerts.
type Alerts struct {
	// AnnouncedUp is the state last announced: while a site flaps or is
	// in maintenance its changes are held back, and the state it is in
	// at the end is announced if it differs.
	AnnouncedUp bool
	// NextReminderAt is when the next reminder of a site still down is
	// due; nil for none.
	NextReminderAt *time.Time
	// FlappingSince is since when the site has been reported flapping.
	FlappingSince *time.Time
	// SlowStreak counts degraded checks in a row; DegradedSince is since
	// when the site has been reported slow.
	SlowStreak    int
	DegradedSince *time.Time
	// Recent holds the first checks of its last rounds, a bit each (bit
	// 0 the latest, 1 for a failure), RecentN how many rounds they are,
	// and UnstableSince since when the site has been reported unstable.
	Recent        int64
	RecentN       int
	UnstableSince *time.Time
	// CertWarnedFor is the certificate last warned of, and CertWarnedDays
	// the fewest of certThresholds days before its expiry warned of.
	CertWarnedFor  *time.Time
	CertWarnedDays *int
	// Changes are the times of its latest changes of state, oldest
	// first: those of the flap window, as many as tell whether it flaps.
	Changes []time.Time
}

// Policy is how a site's settings, and the monitor's, decide its state.
type Policy struct {
	// Recoveries is how many passing checks in a row a location that saw
	// the site down needs to see it up again.
	Recoveries int
	// Locations are where the site is checked from, empty for every
	// location, and Quorum how many of them must see it down, 0 for a
	// strict majority.
	Locations []string
	Quorum    int
	// RemindEvery is how often a site still down is alerted again; zero
	// for never.
	RemindEvery time.Duration
	// SlowNeeded is how many degraded checks in a row make an alert; zero
	// without a max_latency.
	SlowNeeded int
	// A site changing state more than FlapChanges times in FlapWindow is
	// reported once as flapping, and its changes are held back until it
	// has not changed for FlapWindow.
	FlapChanges int
	FlapWindow  time.Duration
}

// Round is what a round of checks brings to a decision.
type Round struct {
	// Here is the location whose checks these are.
	Here string
	// Attempts are the round's checks, its first and the re-checks that
	// confirm a failure, in order; a failure among them is confirmed
	// already when it is the last.
	Attempts []Result
	// Live are the locations not lost, by name, sorted.
	Live []string
	// DependencyDown names a site this one depends on that is down, if
	// any: this one's own down is then recorded as "dependency down:
	// <name>" and alerted only if it outlasts it.
	DependencyDown string
}

// The events a site's state announces.
const (
	Down         = "down"
	Up           = "up"
	Reminder     = "reminder"
	Degraded     = "degraded"
	DegradedEnd  = "degraded_end"
	CertExpiring = "cert_expiring"
	Flapping     = "flapping"
	Unstable     = "unstable"
)

// Event is something a decision announces.
type Event struct {
	Kind   string
	Up     bool   // the site's state after the round
	Reason string // why it is down, or what the alert is about
	At     time.Time
	// Since is when the state an event is about began, if known.
	Since *time.Time
	// Locations are, in a down event or a reminder of a site with more
	// than one voting location, those that see it down.
	Locations []string
}

// Outcome is what a round decides.
type Outcome struct {
	// State is the site's state after the round.
	State State
	// Stale tells that the round is older than its location's latest
	// check: it decides nothing, and State is the state before.
	Stale bool
	// Changed tells that the site's confirmed state changed.
	Changed bool
	// DownAt are the voting locations that see the site down, by name.
	DownAt []string
	// Cause is why the site is down, as the first location that sees it
	// down says: what its incident records.
	Cause string
	// Events are what to announce, in order.
	Events []Event
}

// Quiet tells whether the outcome changes nothing anyone is told of: no
// change of state, no event.
func (o Outcome) Quiet() bool { return !o.Changed && len(o.Events) == 0 }

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

// Decide works out a site's state after a round of checks from its state
// before (prev), and the events to announce.
//
// Each location keeps its own view of the site: a failure that reaches
// here is confirmed already, and a location that saw the site down needs
// p.Recoveries passing checks in a row to see it up again. The site is
// down while at least its quorum of its live locations see it down (see
// combine). A round older than its location's view decides nothing.
func Decide(prev State, r Round, p Policy) Outcome {
	first, final := r.Attempts[0], r.Attempts[len(r.Attempts)-1]
	at := final.CheckedAt
	mine, had := prev.Locations[r.Here]
	if had && at.Before(mine.CheckedAt) {
		return Outcome{State: prev, Stale: true}
	}
	// This location's own view.
	locUp, streak := final.Up, 0
	if had && !mine.Up && final.Up {
		if streak = mine.Streak + 1; streak < p.Recoveries {
			locUp = false // not yet: more passing checks must follow
		} else {
			streak = 0
		}
	}
	locReason := final.Reason
	if !locUp && final.Up {
		locReason = fmt.Sprintf("recovering: %d of %d passing checks", streak, p.Recoveries)
	}
	next := prev
	next.Locations = maps.Clone(prev.Locations)
	if next.Locations == nil {
		next.Locations = map[string]Location{}
	}
	next.Locations[r.Here] = Location{Up: locUp, CheckedAt: at, StatusCode: final.StatusOrNil(),
		LatencyMS: final.LatencyMS(), Reason: locReason, Streak: streak}
	up, voters, downAt := combine(p, r.Here, next.Locations, r.Live)

	out := Outcome{Changed: up != prev.Up, DownAt: downAt}
	if len(downAt) > 0 {
		out.Cause = next.Locations[downAt[0]].Reason
	}
	next.Up = up
	if out.Changed || prev.Since == nil {
		next.Since = &at
	}
	if prev.CheckedAt == nil || prev.CheckedAt.Before(at) {
		next.CheckedAt = &at
	}
	next.Status, next.LatencyMS, next.CertExpiry, next.Degraded, next.Streak =
		final.StatusOrNil(), final.LatencyMS(), final.CertExpiry, final.Degraded, streak
	next.Reason = locReason
	if !up && locUp {
		// Up from here, still down from enough of the others.
		next.Reason = fmt.Sprintf("down from %s: %s", strings.Join(downAt, ", "), out.Cause)
	}
	dependent := !up && r.DependencyDown != ""
	if dependent {
		out.Cause = DependencyReason(r.DependencyDown)
		next.Reason = out.Cause
	}
	if out.Changed {
		next.Changes = recentChanges(prev.Changes, at, p)
	}

	d := decision{up: up, changed: out.Changed, since: next.Since, final: final, firstFailed: !first.Up && locUp, dependent: dependent}
	if voters > 1 && !up {
		d.downAt = downAt
		d.final.Reason = out.Cause
	}
	if prev.CheckedAt != nil {
		d.prevSince = prev.Since
	}
	next.Alerts, out.Events = alerts(prev.Alerts, next.Changes, d, p)
	out.State = next
	return out
}

// recentChanges adds a change at at to the changes before, and keeps
// those of the flap window ending at at, at most as many as tell whether
// the site flaps.
func recentChanges(before []time.Time, at time.Time, p Policy) []time.Time {
	from := at.Add(-p.FlapWindow)
	var out []time.Time
	for _, c := range before {
		if c.After(from) && !c.After(at) {
			out = append(out, c)
		}
	}
	out = append(out, at)
	if keep := p.FlapChanges + 1; len(out) > keep {
		out = out[len(out)-keep:]
	}
	return out
}

// combine decides whether a site is up from its locations' views: its
// voters are its live locations (those of its policy, or every one), or
// here, where the check deciding it was made, when none of them is live;
// one that has not checked it yet counts as seeing it up. The site is down
// while at least its quorum of them see it down: p.Quorum, or a strict
// majority of the voters, and never more than there are. It returns the
// decision, the number of voters and the ones that see it down, by name.
func combine(p Policy, here string, locs map[string]Location, live []string) (up bool, voters int, downAt []string) {
	var names []string
	for _, l := range live {
		if len(p.Locations) == 0 || slices.Contains(p.Locations, l) {
			names = append(names, l)
		}
	}
	if len(names) == 0 {
		names = append(names, here) // none of its own is live: the check made decides
	}
	for _, l := range names {
		if st, ok := locs[l]; ok && !st.Up {
			downAt = append(downAt, l)
		}
	}
	slices.Sort(downAt)
	q := p.Quorum
	if q <= 0 {
		q = len(names)/2 + 1
	}
	q = min(q, len(names))
	return len(downAt) < q, len(names), downAt
}

// decision is what a round decides of a site's confirmed state, for its
// alerts.
type decision struct {
	up, changed bool
	since       *time.Time // when the state began
	prevSince   *time.Time // when the state before it began, if it was ever seen
	// firstFailed tells whether the round's first check failed though its
	// location still sees the site up: a failure confirmation did not bear
	// out, which is what makes a site unstable.
	firstFailed bool
	final       Result   // the round's last check
	downAt      []string // the locations that see it down, when it has more than one
	// dependent tells a site down while a site it depends on is: its
	// alerts are held as in maintenance.
	dependent bool
}

// alerts works out, from the alert state before a round and what the
// round decided, the alert state after it and the events to announce;
// changes are the site's latest changes of state, this one among them.
// Transitions are announced unless the site flaps: then one flapping
// event goes out, its changes are held back until it has been stable for
// the flap window, and the state it is in then is announced if it
// differs. A maintenance window holds every event, and so does a site it
// depends on being down while it is.
func alerts(prev Alerts, changes []time.Time, d decision, p Policy) (Alerts, []Event) {
	next := prev
	next.Changes = changes
	at := d.final.CheckedAt
	held := d.final.Maintenance || d.dependent
	var events []Event
	add := func(kind, reason string, since *time.Time) {
		ev := Event{Kind: kind, Up: d.up, Reason: reason, At: at, Since: since}
		if kind == Down || kind == Reminder {
			ev.Locations = d.downAt
		}
		events = append(events, ev)
	}
	// A change announced when it happens says since when the state before
	// it lasted; one held back and announced later does not know.
	announce := func() {
		kind, reason := Down, d.final.Reason
		if d.up {
			kind, reason = Up, ""
		}
		var since *time.Time
		if d.changed {
			since = d.prevSince
		}
		add(kind, reason, since)
		next.AnnouncedUp = d.up
	}

	window := p.FlapWindow
	switch {
	case held:
		// Held: announced, if it still holds, once the window or the
		// dependency's outage ends.
	case d.changed && prev.FlappingSince == nil:
		n := 0
		for _, c := range changes {
			if c.After(at.Add(-window)) {
				n++
			}
		}
		if n > p.FlapChanges {
			next.FlappingSince = &at
			add(Flapping, fmt.Sprintf("it changed state %d times in %s; its changes are held back until it is stable for %s",
				n, human.Duration(window), human.Duration(window)), nil)
		} else if d.up != prev.AnnouncedUp {
			announce()
		}
	case prev.FlappingSince != nil && d.since != nil && !d.since.After(at.Add(-window)):
		next.FlappingSince = nil
		if d.up != prev.AnnouncedUp {
			announce()
		}
	case prev.FlappingSince == nil && d.up != prev.AnnouncedUp:
		// A change held by a maintenance window that has ended.
		announce()
	}

	// Reminders, while a site announced down stays down.
	switch {
	case next.AnnouncedUp || d.up || p.RemindEvery <= 0:
		next.NextReminderAt = nil
	case prev.AnnouncedUp || next.NextReminderAt == nil:
		due := at.Add(p.RemindEvery)
		next.NextReminderAt = &due
	case !next.NextReminderAt.After(at):
		add(Reminder, d.final.Reason, d.since)
		due := at.Add(p.RemindEvery)
		next.NextReminderAt = &due
	}

	// Degraded: slower than max_latency in confirmations+1 checks in a row.
	next.SlowStreak = 0
	if d.final.Degraded {
		next.SlowStreak = prev.SlowStreak + 1
	}
	switch {
	case !d.up:
		next.DegradedSince = nil // down says more
	case d.final.Degraded && prev.DegradedSince == nil && p.SlowNeeded > 0 && next.SlowStreak >= p.SlowNeeded:
		next.DegradedSince = &at
		add(Degraded, d.final.Reason, nil)
	case !d.final.Degraded && prev.DegradedSince != nil:
		next.DegradedSince = nil
		add(DegradedEnd, "", prev.DegradedSince)
	}

	// Unstable: first checks failing while confirmation keeps it up.
	next.Recent, next.RecentN = 0, 0
	if d.up && !d.changed {
		fail := int64(0)
		if d.firstFailed {
			fail = 1
		}
		next.Recent = (prev.Recent<<1 | fail) & recentMask
		next.RecentN = min(prev.RecentN+1, unstableRounds)
	}
	fails := bits.OnesCount64(uint64(next.Recent))
	switch {
	case prev.UnstableSince == nil && d.up && unstable(fails, next.RecentN):
		next.UnstableSince = &at
		add(Unstable, fmt.Sprintf("%d of its last %d checks failed, though none was confirmed by a re-check", fails, next.RecentN), nil)
	case prev.UnstableSince != nil && (!d.up || stableAgain(fails, next.RecentN)):
		next.UnstableSince = nil
	}

	// Certificates: warned of once at each threshold.
	if level := certLevel(d.final.CertExpiry, at); level > 0 {
		expiry := *d.final.CertExpiry
		if prev.CertWarnedFor == nil || !prev.CertWarnedFor.Equal(expiry) || prev.CertWarnedDays == nil || *prev.CertWarnedDays > level {
			add(CertExpiring, fmt.Sprintf("its certificate expires in %s, on %s", human.Duration(expiry.Sub(at)),
				expiry.UTC().Format("2 January 2006 15:04 MST")), nil)
			next.CertWarnedFor, next.CertWarnedDays = &expiry, &level
		}
	}
	if held {
		events = nil // the window, or the dependency's outage, holds every alert
	}
	return next, events
}

// DependencyReason is why a site down while a site it depends on is down
// is down, as its state and its incident say.
func DependencyReason(name string) string { return "dependency down: " + name }
