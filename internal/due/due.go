// Package due says when a job that reports in is expected: every period
// after its last success, or at the times of a cron expression in a time
// zone of its own. It is pure: every answer is computed from the times it
// is given.
//
// A cron schedule is computed in its zone's wall-clock time, then turned
// into instants, across daylight-saving changes as Debian's cron and
// Healthchecks do: a job at a fixed time (one minute of the hour, not
// every hour) that falls in the hour skipped in spring is expected when
// that hour ends, and one that falls in the hour repeated in autumn is
// expected the first time only; a job that runs every hour or more often
// is expected at the wall-clock times that happen, each time they do.
package due

import (
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	_ "time/tzdata" // time zones also in an image without them

	"github.com/robfig/cron/v3"
)

// A Schedule is when a job's runs are expected.
type Schedule struct {
	period time.Duration
	expr   string
	spec   *cron.SpecSchedule // in wall-clock time, as UTC
	zone   *time.Location
	fixed  bool // at one minute of some hours: see the package's comment
}

// Every is the schedule of a job expected every period after its last
// success.
func Every(period time.Duration) Schedule { return Schedule{period: period} }

var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// parsed remembers the schedules Cron made, by expression and time zone:
// a push site's schedule is read at each of its signals and reads, and a
// time zone is loaded from its file. At most maxParsed are remembered.
var (
	parsed    sync.Map // expr + "\x00" + tz → Schedule
	nParsed   atomic.Int64
	maxParsed int64 = 10_000
)

// Cron is the schedule of a job run at the times of a cron expression of
// five fields (or @daily, @hourly and the like) in the time zone named tz,
// as Europe/Berlin or UTC.
func Cron(expr, tz string) (Schedule, error) {
	key := expr + "\x00" + tz
	if s, ok := parsed.Load(key); ok {
		return s.(Schedule), nil
	}
	s, err := parseCron(expr, tz)
	if err == nil && nParsed.Load() < maxParsed {
		if _, loaded := parsed.LoadOrStore(key, s); !loaded {
			nParsed.Add(1)
		}
	}
	return s, err
}

// parseCron is Cron, without remembering.
func parseCron(expr, tz string) (Schedule, error) {
	zone, err := time.LoadLocation(tz)
	if err != nil || tz == "" || strings.EqualFold(tz, "local") {
		return Schedule{}, fmt.Errorf("timezone %q is not a time zone, like Europe/Berlin or UTC", tz)
	}
	expr = strings.TrimSpace(expr)
	if strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ=") {
		return Schedule{}, fmt.Errorf("cron %q: give the time zone in timezone, not in the expression", expr)
	}
	if strings.HasPrefix(expr, "@every") {
		return Schedule{}, fmt.Errorf("cron %q: for a period, give interval rather than cron", expr)
	}
	parsed, err := parser.Parse(expr)
	if err != nil {
		return Schedule{}, fmt.Errorf("cron %q is not a cron expression of five fields, as \"0 2 * * *\": %v", expr, err)
	}
	spec := parsed.(*cron.SpecSchedule)
	spec.Location = time.UTC
	if spec.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
		return Schedule{}, fmt.Errorf("cron %q names no time that happens", expr)
	}
	const hours = 1<<24 - 1
	fixed := bits.OnesCount64(spec.Minute&^(1<<63)) == 1 && spec.Hour&hours != hours
	return Schedule{expr: expr, spec: spec, zone: zone, fixed: fixed}, nil
}

// Period is the schedule's period; zero for a cron schedule.
func (s Schedule) Period() time.Duration { return s.period }

// Zone is a cron schedule's time zone; UTC for a period.
func (s Schedule) Zone() *time.Location {
	if s.zone == nil {
		return time.UTC
	}
	return s.zone
}

// Next returns the first time a run is expected strictly after t, for a
// cron schedule; for a period, t plus the period. It is the zero time if
// none ever is.
func (s Schedule) Next(t time.Time) time.Time {
	if s.spec == nil {
		return t.Add(s.period)
	}
	w := wall(t, s.zone)
	// While the zone keeps t's offset, wall-clock times are instants.
	l := t.In(s.zone)
	_, off := l.Zone()
	_, end := l.ZoneBounds()
	if c := s.spec.Next(w); !c.IsZero() {
		if r := c.Add(-time.Duration(off) * time.Second); end.IsZero() || r.Before(end) {
			return r
		}
	}
	// Near a change of offset, look at the wall-clock times from some
	// hours before, each as the instants it names, for the first after t.
	var best time.Time
	for c := s.spec.Next(w.Add(-3 * time.Hour)); !c.IsZero(); c = s.spec.Next(c) {
		if !best.IsZero() && c.After(wall(best, s.zone).Add(3*time.Hour)) {
			break
		}
		for _, r := range s.instants(c) {
			if r.After(t) && (best.IsZero() || r.Before(best)) {
				best = r
			}
		}
	}
	return best
}

// wall is the wall-clock time in zone at t, as a time in UTC.
func wall(t time.Time, zone *time.Location) time.Time {
	l := t.In(zone)
	return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), l.Nanosecond(), time.UTC)
}

// instants are the instants at which a run expected at the wall-clock time
// c is expected: the one it names; in a repeated hour, the first only for a
// fixed job, both otherwise; in a skipped hour, the hour's end for a fixed
// job, none otherwise.
func (s Schedule) instants(c time.Time) []time.Time {
	var found []time.Time
	for _, near := range []time.Duration{-26 * time.Hour, 0, 26 * time.Hour} {
		_, off := c.Add(near).In(s.zone).Zone()
		r := c.Add(-time.Duration(off) * time.Second)
		if wall(r, s.zone).Equal(c) && !slices.ContainsFunc(found, r.Equal) {
			found = append(found, r)
		}
	}
	slices.SortFunc(found, time.Time.Compare)
	switch {
	case len(found) == 0 && s.fixed:
		// In the hour skipped: expected when it ends, the start of the
		// offset that follows.
		_, before := c.Add(-26 * time.Hour).In(s.zone).Zone()
		start, _ := c.Add(-time.Duration(before) * time.Second).In(s.zone).ZoneBounds()
		return []time.Time{start}
	case len(found) == 2 && s.fixed:
		return found[:1]
	}
	return found
}

// After returns the run a success at t leaves awaited, given the run
// awaited before it (the zero time if none was). For a period, the
// success's time plus the period. For a cron schedule, the first expected
// time after t; but a success a little early counts for the run it comes
// before: one within grace before the awaited run, and nearer to it than
// to the run expected before that, is that run's, and the next after it is
// awaited.
func (s Schedule) After(awaited, t time.Time, grace time.Duration) time.Time {
	if s.spec == nil {
		return t.Add(s.period)
	}
	if awaited.IsZero() {
		awaited = s.Next(t)
	}
	if !t.Before(awaited) {
		return s.Next(t)
	}
	early := awaited.Sub(t)
	if early <= grace && !s.Next(t.Add(-early).Add(-time.Second)).Before(awaited) {
		return s.Next(awaited)
	}
	return awaited
}

// String says the schedule in words: "every 15m", "every day at 02:00
// (Europe/Berlin)", or the cron expression.
func (s Schedule) String() string {
	if s.spec == nil {
		return "every " + durationWords(s.period)
	}
	return cronWords(s.expr, s.spec) + " (" + s.zone.String() + ")"
}

// durationWords is a period as people say it: 1h, 15m, 1d, 1d12h.
func durationWords(d time.Duration) string {
	day := 24 * time.Hour
	if d >= day {
		out := fmt.Sprintf("%dd", d/day)
		if rest := d % day; rest > 0 {
			out += strings.TrimSuffix(strings.TrimSuffix(rest.String(), "0s"), "0m")
		}
		return out
	}
	return strings.TrimSuffix(strings.TrimSuffix(d.String(), "0s"), "0m")
}

var weekdays = []string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}

// cronWords says the common cron expressions in words, the others as they
// are.
func cronWords(expr string, spec *cron.SpecSchedule) string {
	f := strings.Fields(expr)
	switch expr {
	case "@yearly", "@annually":
		f = strings.Fields("0 0 1 1 *")
	case "@monthly":
		f = strings.Fields("0 0 1 * *")
	case "@weekly":
		f = strings.Fields("0 0 * * 0")
	case "@daily", "@midnight":
		f = strings.Fields("0 0 * * *")
	case "@hourly":
		f = strings.Fields("0 * * * *")
	}
	if len(f) != 5 {
		return "cron " + expr
	}
	min, hour, dom, month, dow := f[0], f[1], f[2], f[3], f[4]
	number := func(s string) (int, bool) {
		var n int
		_, err := fmt.Sscanf(s, "%d", &n)
		return n, err == nil && fmt.Sprint(n) == s
	}
	m, oneMin := number(min)
	h, oneHour := number(hour)
	if month != "*" {
		return "cron " + expr
	}
	switch {
	case min == "*" && hour == "*" && dom == "*" && dow == "*":
		return "every minute"
	case strings.HasPrefix(min, "*/") && hour == "*" && dom == "*" && dow == "*":
		return "every " + min[2:] + " minutes"
	case oneMin && hour == "*" && dom == "*" && dow == "*":
		return fmt.Sprintf("every hour at :%02d", m)
	case oneMin && oneHour && dom == "*" && dow == "*":
		return fmt.Sprintf("every day at %02d:%02d", h, m)
	case oneMin && oneHour && dom == "*":
		if d, ok := number(dow); ok && d >= 0 && d <= 7 {
			return fmt.Sprintf("every %s at %02d:%02d", weekdays[d%7], h, m)
		}
		if spec.Dow&^(1<<63) == 0b0111110 {
			return fmt.Sprintf("every weekday at %02d:%02d", h, m)
		}
	case oneMin && oneHour && dow == "*":
		if d, ok := number(dom); ok {
			return fmt.Sprintf("on day %d of every month at %02d:%02d", d, h, m)
		}
	}
	return "cron " + expr
}
