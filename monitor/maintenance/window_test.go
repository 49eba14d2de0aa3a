package maintenance

import (
	"testing"
	"time"
)

// A window's periods, case by case: one-off and recurring, at their edges.
func TestWindowPeriods(t *testing.T) {
	day := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC) // a Sunday
	start, end := day.Add(2*time.Hour), day.Add(4*time.Hour)
	oneOff := &Window{Start: &start, End: &end}
	sched, err := parseSchedule("0 2 * * SUN", "Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	weekly := &Window{schedule: sched, duration: 2 * time.Hour} // 01:00 to 03:00 UTC in winter
	for _, c := range []struct {
		name string
		w    *Window
		at   time.Time
		want bool
	}{
		{"one-off, before", oneOff, start.Add(-time.Nanosecond), false},
		{"one-off, at its start", oneOff, start, true},
		{"one-off, inside", oneOff, start.Add(time.Hour), true},
		{"one-off, at its end", oneOff, end, false},
		{"weekly, before", weekly, day.Add(time.Hour - time.Second), false},
		{"weekly, at its start", weekly, day.Add(time.Hour), true},
		{"weekly, just before its end", weekly, day.Add(3*time.Hour - time.Second), true},
		{"weekly, at its end", weekly, day.Add(3 * time.Hour), false},
		{"weekly, a week on", weekly, day.AddDate(0, 0, 7).Add(90 * time.Minute), true},
		{"weekly, on a Monday", weekly, day.AddDate(0, 0, 1).Add(90 * time.Minute), false},
	} {
		if got := c.w.activeAt(c.at); got != c.want {
			t.Errorf("%s (%s): active %v, want %v", c.name, c.at, got, c.want)
		}
	}
	// Its next period, after one that is on.
	w := weekly.withNow(day.Add(90 * time.Minute))
	if !w.Active || !w.Current.Start.Equal(day.Add(time.Hour)) || !w.Next.Start.Equal(day.AddDate(0, 0, 7).Add(time.Hour)) {
		t.Errorf("weekly at 01:30 UTC: %+v, current %+v, next %+v", w.Active, w.Current, w.Next)
	}
}

// A window covers every site, or those it names by id or tag.
func TestWindowCovers(t *testing.T) {
	for _, c := range []struct {
		name  string
		w     Window
		id    int64
		tags  []string
		wants bool
	}{
		{"every site", Window{}, 7, nil, true},
		{"by id", Window{Sites: []int64{3, 7}}, 7, nil, true},
		{"another id", Window{Sites: []int64{3}}, 7, []string{"db"}, false},
		{"by tag", Window{Tags: []string{"db"}}, 7, []string{"web", "db"}, true},
		{"another tag", Window{Tags: []string{"db"}}, 7, []string{"web"}, false},
		{"by id or tag", Window{Sites: []int64{3}, Tags: []string{"db"}}, 3, nil, true},
	} {
		if got := c.w.covers(c.id, c.tags); got != c.wants {
			t.Errorf("%s: covers %v, want %v", c.name, got, c.wants)
		}
	}
}

// Occurrences that overlap, or follow each other with no gap, are found;
// a gap of a second is enough.
func TestOverlap(t *testing.T) {
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		cron string
		d    time.Duration
		want bool
	}{
		{"*/10 * * * *", 15 * time.Minute, true},
		{"*/10 * * * *", 10 * time.Minute, true},
		{"*/10 * * * *", 10*time.Minute - time.Second, false},
		{"0 22 * * MON,TUE", 25 * time.Hour, true},
		{"0 22 * * MON,TUE", 23 * time.Hour, false},
		{"0 2 29 2 *", 24 * time.Hour, false},
	} {
		sched, err := parseSchedule(c.cron, "UTC")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, got := overlap(sched, c.d, from); got != c.want {
			t.Errorf("%s for %s: overlap %v, want %v", c.cron, c.d, got, c.want)
		}
	}
}
