package due_test

import (
	"strings"
	"testing"
	"time"

	"uptime/internal/due"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func mustCron(t *testing.T, expr, tz string) due.Schedule {
	t.Helper()
	s, err := due.Cron(expr, tz)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestNextAcrossDaylightSaving follows New York's and Berlin's changes of
// 2026: New York springs forward on March 8 at 02:00 EST and falls back on
// November 1 at 02:00 EDT, Berlin springs forward on March 29 at 02:00 CET.
func TestNextAcrossDaylightSaving(t *testing.T) {
	for _, c := range []struct {
		expr, tz    string
		after, want string
		why         string
	}{
		{"30 2 * * *", "America/New_York", "2026-03-07T12:00:00Z", "2026-03-08T07:00:00Z", "02:30 is skipped: expected when the skipped hour ends, 03:00 EDT"},
		{"30 2 * * *", "America/New_York", "2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z", "then 02:30 EDT the day after"},
		{"30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z", "2026-11-01T05:30:00Z", "01:30 EDT, the first of the two"},
		{"30 1 * * *", "America/New_York", "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z", "not again at 01:30 EST: the next day's"},
		{"*/30 * * * *", "America/New_York", "2026-11-01T05:30:00Z", "2026-11-01T06:00:00Z", "every half hour: 01:00 EST, the hour repeated"},
		{"*/30 * * * *", "America/New_York", "2026-11-01T05:45:00Z", "2026-11-01T06:00:00Z", "from inside the first 01:xx"},
		{"*/30 * * * *", "America/New_York", "2026-11-01T06:30:00Z", "2026-11-01T07:00:00Z", "02:00 EST"},
		{"*/30 * * * *", "America/New_York", "2026-03-08T06:30:00Z", "2026-03-08T07:00:00Z", "01:30 EST, then 03:00 EDT"},
		{"0 * * * *", "America/New_York", "2026-03-08T06:00:00Z", "2026-03-08T07:00:00Z", "hourly: 01:00 EST, then 03:00 EDT, nothing in the hour skipped"},
		{"0 * * * *", "America/New_York", "2026-11-01T05:00:00Z", "2026-11-01T06:00:00Z", "hourly: 01:00 EDT, then 01:00 EST"},
		{"0 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z", "2026-03-29T01:00:00Z", "02:00 CET is skipped: 03:00 CEST"},
		{"0 2 * * *", "Europe/Berlin", "2026-06-01T00:30:00Z", "2026-06-02T00:00:00Z", "02:00 CEST"},
		{"0 9 * * 1", "UTC", "2026-12-07T09:00:00Z", "2026-12-14T09:00:00Z", "a week later"},
		{"@daily", "Asia/Kolkata", "2026-12-07T00:00:00Z", "2026-12-07T18:30:00Z", "midnight at +05:30"},
	} {
		got := mustCron(t, c.expr, c.tz).Next(utc(c.after))
		if !got.Equal(utc(c.want)) {
			t.Errorf("%s in %s after %s: %s, want %s (%s)", c.expr, c.tz, c.after, got.UTC().Format(time.RFC3339), c.want, c.why)
		}
	}
}

// TestAYearOfRuns counts a year of runs in New York: each one after the
// one before, a fixed job once a day every day, a job every quarter of an
// hour as often as the hours that happen allow (the runs after the first
// instant of the year, before the first of the next).
func TestAYearOfRuns(t *testing.T) {
	start, end := utc("2026-01-01T05:00:00Z"), utc("2027-01-01T05:00:00Z")
	for _, c := range []struct {
		expr string
		want int
	}{
		{"30 2 * * *", 365},
		{"30 1 * * *", 365},
		{"*/15 * * * *", 365*96 - 4 + 4 - 1}, // four skipped, four twice, and not the first, at the start
		{"0 9 * * 1-5", 261},
	} {
		s := mustCron(t, c.expr, "America/New_York")
		n := 0
		prev := start
		for at := s.Next(start); at.Before(end); at = s.Next(at) {
			if !at.After(prev) {
				t.Fatalf("%s: %s after %s", c.expr, at, prev)
			}
			prev = at
			n++
		}
		if n != c.want {
			t.Errorf("%s: %d runs in 2026, want %d", c.expr, n, c.want)
		}
	}
}

// TestAfterCountsEarlySignals: a success a little before its run counts
// for it; one too early, or nearer the run before, does not.
func TestAfterCountsEarlySignals(t *testing.T) {
	daily := mustCron(t, "0 2 * * *", "UTC")
	hourly := mustCron(t, "0 * * * *", "UTC")
	var none time.Time
	for _, c := range []struct {
		name    string
		s       due.Schedule
		awaited time.Time
		at      string
		grace   time.Duration
		want    string
	}{
		{"the first signal, two seconds early", daily, none, "2026-12-07T01:59:58Z", time.Hour, "2026-12-08T02:00:00Z"},
		{"the first signal, in the afternoon", daily, none, "2026-12-07T14:00:00Z", time.Hour, "2026-12-08T02:00:00Z"},
		{"on time", daily, utc("2026-12-07T02:00:00Z"), "2026-12-07T02:00:03Z", time.Hour, "2026-12-08T02:00:00Z"},
		{"late, within grace", daily, utc("2026-12-07T02:00:00Z"), "2026-12-07T02:50:00Z", time.Hour, "2026-12-08T02:00:00Z"},
		{"half an hour early", daily, utc("2026-12-07T02:00:00Z"), "2026-12-07T01:30:00Z", time.Hour, "2026-12-08T02:00:00Z"},
		{"earlier than grace", daily, utc("2026-12-07T02:00:00Z"), "2026-12-07T00:30:00Z", time.Hour, "2026-12-07T02:00:00Z"},
		{"hourly, five minutes past the hour: the run before's", hourly, utc("2026-12-07T16:00:00Z"), "2026-12-07T15:05:00Z", time.Hour, "2026-12-07T16:00:00Z"},
		{"hourly, twenty minutes early", hourly, utc("2026-12-07T16:00:00Z"), "2026-12-07T15:40:00Z", time.Hour, "2026-12-07T17:00:00Z"},
		{"hourly, on time", hourly, utc("2026-12-07T16:00:00Z"), "2026-12-07T16:05:00Z", time.Hour, "2026-12-07T17:00:00Z"},
		{"runs missed, then a success", hourly, utc("2026-12-07T16:00:00Z"), "2026-12-07T19:10:00Z", time.Hour, "2026-12-07T20:00:00Z"},
		{"a period", due.Every(90 * time.Minute), utc("2026-12-07T16:00:00Z"), "2026-12-07T15:00:00Z", time.Hour, "2026-12-07T16:30:00Z"},
	} {
		got := c.s.After(c.awaited, utc(c.at), c.grace)
		if !got.Equal(utc(c.want)) {
			t.Errorf("%s: awaited %s after a success at %s, want %s", c.name, got.UTC().Format(time.RFC3339), c.at, c.want)
		}
	}
}

func TestBadSchedules(t *testing.T) {
	for _, c := range []struct{ expr, tz, says string }{
		{"0 2 * * *", "Mars/Olympus", "not a time zone"},
		{"0 2 * * *", "", "not a time zone"},
		{"0 2 * * *", "Local", "not a time zone"},
		{"61 * * * *", "UTC", "not a cron expression"},
		{"0 2 * *", "UTC", "not a cron expression"},
		{"0 0 2 * * *", "UTC", "not a cron expression"},
		{"@every 1h", "UTC", "give interval"},
		{"CRON_TZ=UTC 0 2 * * *", "UTC", "in timezone"},
		{"0 0 30 2 *", "UTC", "names no time"},
	} {
		_, err := due.Cron(c.expr, c.tz)
		if err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("Cron(%q, %q): %v, want an error saying %q", c.expr, c.tz, err, c.says)
		}
	}
}

func TestInWords(t *testing.T) {
	for _, c := range []struct {
		s    due.Schedule
		want string
	}{
		{due.Every(15 * time.Minute), "every 15m"},
		{due.Every(24 * time.Hour), "every 1d"},
		{due.Every(36 * time.Hour), "every 1d12h"},
		{mustCron(t, "0 2 * * *", "Europe/Berlin"), "every day at 02:00 (Europe/Berlin)"},
		{mustCron(t, "@daily", "UTC"), "every day at 00:00 (UTC)"},
		{mustCron(t, "*/5 * * * *", "UTC"), "every 5 minutes (UTC)"},
		{mustCron(t, "15 * * * *", "UTC"), "every hour at :15 (UTC)"},
		{mustCron(t, "30 6 * * 1-5", "UTC"), "every weekday at 06:30 (UTC)"},
		{mustCron(t, "0 3 * * 0", "UTC"), "every Sunday at 03:00 (UTC)"},
		{mustCron(t, "0 4 1 * *", "UTC"), "on day 1 of every month at 04:00 (UTC)"},
		{mustCron(t, "0 4 1 1 *", "UTC"), "cron 0 4 1 1 * (UTC)"},
	} {
		if got := c.s.String(); got != c.want {
			t.Errorf("%q, want %q", got, c.want)
		}
	}
}
