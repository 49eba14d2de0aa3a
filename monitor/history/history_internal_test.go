package history

import (
	"testing"
	"time"
)

// Partitions are named by their period, and the names read back.
func TestPartitionNames(t *testing.T) {
	at := time.Date(2026, 12, 7, 23, 59, 59, 0, time.FixedZone("UTC+1", 3600))
	for _, c := range []struct {
		p          partitioned
		start, nxt time.Time
		name       string
	}{
		{checksTable, time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC), "checks_p20261207"},
		{rollupHourTable, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), "rollup_hour_p202612"},
	} {
		start := c.p.period(at)
		if !start.Equal(c.start) || !c.p.next(start).Equal(c.nxt) || c.p.name(start) != c.name {
			t.Errorf("%s at %s: period %s, next %s, name %s", c.p.table, at, start, c.p.next(start), c.p.name(start))
		}
		if back, ok := c.p.parse(c.name); !ok || !back.Equal(c.start) {
			t.Errorf("%s: parse(%q) = %s, %v", c.p.table, c.name, back, ok)
		}
	}
	for _, name := range []string{"checks_default", "checks_p2026120", "rollup_hour_p20261207", "other_p20261207"} {
		if _, ok := checksTable.parse(name); ok {
			t.Errorf("checks: parse(%q) took it as a partition", name)
		}
	}
}

// A day rolled up stands for its hours; checks in maintenance are left
// out of uptime; no checks, no uptime.
func TestTallies(t *testing.T) {
	day := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	ts := []tally{
		{start: day, day: true, checks: 100, up: 90},
		{start: day.Add(3 * time.Hour), checks: 10, up: 0}, // inside the rolled-up day: counted there
		{start: day.AddDate(0, 0, 1), checks: 10, up: 10, mchecks: 4, mup: 4},
		{start: day.AddDate(0, 0, 1).Add(time.Hour), checks: 10, up: 5, mchecks: 2, mup: 0},
	}
	sum := since(ts, day)
	if sum.checks != 120 || sum.up != 105 {
		t.Fatalf("since the day: %d checks, %d up; want 120, 105", sum.checks, sum.up)
	}
	// (105 - 4) up of (120 - 6) outside maintenance.
	if u := sum.uptime(); u == nil || *u != round3(100*101.0/114) {
		t.Fatalf("uptime %v, want %.3f", u, 100*101.0/114)
	}
	none := since(ts, day.AddDate(0, 0, 2))
	if u := none.uptime(); u != nil {
		t.Fatalf("uptime of no checks: %v, want none", *u)
	}
	if u := (&tally{checks: 3, mchecks: 3, up: 3, mup: 3}).uptime(); u != nil {
		t.Fatalf("uptime of checks all in maintenance: %v, want none", *u)
	}
}
