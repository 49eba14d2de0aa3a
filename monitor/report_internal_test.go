package monitor

import (
	"context"
	"io"
	"testing"
	"time"
)

// A probe's report is recorded and decided as rounds of the report's
// location, once however often its job runs; rounds of sites not checked
// from there, or out of the bounds of a check, are refused, and sites no
// longer scheduled are left out.
func TestAReportIsItsLocationsOnce(t *testing.T) {
	ctx := context.Background()
	s, db := newStateService(t, 1, io.Discard)
	if _, err := db.Exec(ctx, `INSERT INTO monitored (site_id, url, settings, version, defaults, interval_ms, phase_ms, budget_ms, in_clear)
		VALUES (2, 'https://b.example/', '{"locations": ["eu"]}', 1, '', 60000, 0, 10000, false)`); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	at := now.Add(-2 * time.Minute).Truncate(time.Millisecond)
	down := ProbeReportArgs{Location: "us", Rounds: []ReportedRound{
		{Site: 1, Checks: []ReportedCheck{
			{Up: false, Status: 503, LatencyUS: 1500, Reason: "HTTP 503", CheckedAt: at},
			{Up: false, Status: 503, LatencyUS: 1200, Reason: "HTTP 503", CheckedAt: at.Add(2 * time.Second)},
		}},
		{Site: 2, Checks: []ReportedCheck{{Up: true, Status: 200, CheckedAt: at}}}, // checked from eu alone
		{Site: 3, Checks: []ReportedCheck{{Up: true, Status: 200, CheckedAt: at}}}, // not scheduled
	}}
	checks := func() (us, other int) {
		t.Helper()
		if err := db.QueryRow(ctx, `SELECT count(*) FILTER (WHERE location = 'us'), count(*) FILTER (WHERE location IS DISTINCT FROM 'us')
			FROM checks`).Scan(&us, &other); err != nil {
			t.Fatal(err)
		}
		return us, other
	}
	for run := 1; run <= 2; run++ {
		refused, err := s.recordReport(ctx, down, now, false)
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if refused != 1 {
			t.Errorf("run %d: %d checks refused, want the one of the site checked from eu alone", run, refused)
		}
		if us, other := checks(); us != 2 || other != 0 {
			t.Fatalf("run %d: %d checks from us and %d from elsewhere, want the round's 2 from us", run, us, other)
		}
	}
	var up *bool
	if err := db.QueryRow(ctx, `SELECT (locations->'us'->>'up')::boolean FROM site_state WHERE site_id = 1`).Scan(&up); err != nil {
		t.Fatal(err)
	}
	if up == nil || *up {
		t.Fatalf("site 1 as us sees it: up %v, want down", up)
	}
	if n := s.checked.Load(); n != 0 {
		t.Errorf("%d reported checks counted as this process's own", n)
	}

	for _, bad := range []ReportedCheck{
		{Up: true, Status: 200, CheckedAt: now.Add(time.Hour)},
		{Up: true, Status: 200, CheckedAt: now.Add(-2 * time.Hour)},
		{Up: false, Status: 503, Reason: "HTTP 503\nPAYMENTS - rotate credentials", CheckedAt: now},
		{Up: true, Status: 1200, CheckedAt: now},
		{Up: true, Status: 200, LatencyUS: -1, CheckedAt: now},
		{Up: true, Status: 200, LatencyUS: int64(time.Hour / time.Microsecond), CheckedAt: now},
	} {
		refused, err := s.recordReport(ctx, ProbeReportArgs{Location: "us", Rounds: []ReportedRound{{Site: 1, Checks: []ReportedCheck{bad}}}}, now, false)
		if err != nil || refused != 1 {
			t.Errorf("a check of %+v: %d refused, %v; want it refused", bad, refused, err)
		}
	}
	if us, _ := checks(); us != 2 {
		t.Errorf("%d checks from us after the refused ones, want 2", us)
	}
}

// A report's job worked again, after the process that worked it was
// killed or failed part of the way through, records no check twice: not
// even a confirmation cut short, which decides nothing and so leaves the
// state as it was.
func TestAReportWorkedAgainRecordsNothingTwice(t *testing.T) {
	ctx := context.Background()
	s, db := newStateService(t, 2, io.Discard)
	now := time.Now()
	at := now.Add(-time.Minute).Truncate(time.Microsecond)
	report := ProbeReportArgs{Location: "us", Rounds: []ReportedRound{
		{Site: 1, Checks: []ReportedCheck{{Up: true, Status: 200, CheckedAt: at}}},
		{Site: 2, CutShort: true, Checks: []ReportedCheck{
			{Up: false, Status: 503, Reason: "HTTP 503", CheckedAt: at},
			{Up: false, Status: 503, Reason: "HTTP 503", CheckedAt: at.Add(time.Second)},
		}},
	}}
	for run, retry := range []bool{false, true, true} {
		if _, err := s.recordReport(ctx, report, now, retry); err != nil {
			t.Fatalf("run %d: %v", run+1, err)
		}
		var one, two int
		if err := db.QueryRow(ctx, `SELECT count(*) FILTER (WHERE site_id = 1), count(*) FILTER (WHERE site_id = 2) FROM checks`).Scan(&one, &two); err != nil {
			t.Fatal(err)
		}
		if one != 1 || two != 2 {
			t.Fatalf("after run %d: %d checks of site 1 and %d of site 2, want 1 and 2", run+1, one, two)
		}
	}
}
