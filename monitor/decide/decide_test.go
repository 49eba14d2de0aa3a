package decide

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// step is one round of checks and what the site's state must be after it.
type step struct {
	at   time.Duration // after t0
	from string        // the location checking; "a" unless given
	// checks are the round's attempts, in order: '+' passes, '-' fails,
	// 's' passes slowly (degraded).
	checks      string
	maintenance bool
	certIn      time.Duration // the certificate expires this long after the check; 0 for none
	live        []string      // the live locations; {"a"} unless given
	parentDown  string        // a site it depends on that is down, by name

	wantUp     bool
	wantEvents []string // the events' kinds, in order
	// wantReason, when given, is a part of the state's reason, or of the
	// first event's when it has one.
	wantReason string
	wantStale  bool
}

// run decides the steps one after another from a site never checked,
// checking the state and the events after each.
func run(t *testing.T, p Policy, steps []step) State {
	t.Helper()
	st := State{Up: true, Alerts: Alerts{AnnouncedUp: true}}
	for i, s := range steps {
		at := t0.Add(s.at)
		r := Round{Here: s.from, Live: s.live, DependencyDown: s.parentDown}
		if r.Here == "" {
			r.Here = "a"
		}
		if r.Live == nil {
			r.Live = []string{"a"}
		}
		for j, c := range s.checks {
			res := Result{Up: c != '-', Degraded: c == 's', CheckedAt: at.Add(time.Duration(j) * time.Second), Maintenance: s.maintenance}
			if c == '-' {
				res.Status, res.Reason = 503, "HTTP 503"
			} else {
				res.Status = 200
			}
			if s.certIn != 0 {
				expiry := res.CheckedAt.Add(s.certIn)
				res.CertExpiry = &expiry
			}
			r.Attempts = append(r.Attempts, res)
		}
		out := Decide(st, r, p)
		var kinds []string
		for _, ev := range out.Events {
			kinds = append(kinds, ev.Kind)
		}
		where := fmt.Sprintf("step %d (%s at +%s from %s)", i+1, s.checks, s.at, r.Here)
		if out.Stale != s.wantStale {
			t.Fatalf("%s: stale %v, want %v", where, out.Stale, s.wantStale)
		}
		if out.State.Up != s.wantUp {
			t.Fatalf("%s: up %v, want %v (reason %q)", where, out.State.Up, s.wantUp, out.State.Reason)
		}
		if !slices.Equal(kinds, s.wantEvents) {
			t.Fatalf("%s: events %v, want %v", where, kinds, s.wantEvents)
		}
		if s.wantReason != "" {
			reason := out.State.Reason
			if len(out.Events) > 0 {
				reason = out.Events[0].Reason
			}
			if !strings.Contains(reason, s.wantReason) {
				t.Fatalf("%s: reason %q, want it to say %q", where, reason, s.wantReason)
			}
		}
		if out.Quiet() != (!out.Changed && len(out.Events) == 0) {
			t.Fatalf("%s: quiet %v with changed %v and %d events", where, out.Quiet(), out.Changed, len(out.Events))
		}
		st = out.State
	}
	return st
}

var basic = Policy{Recoveries: 1, FlapChanges: 4, FlapWindow: 30 * time.Minute}

func with(f func(*Policy)) Policy {
	p := basic
	f(&p)
	return p
}

func TestConfirmationsNone(t *testing.T) {
	// A round of one failing check is a confirmed failure.
	run(t, basic, []step{
		{at: 0, checks: "+", wantUp: true},
		{at: time.Minute, checks: "-", wantUp: false, wantEvents: []string{Down}, wantReason: "HTTP 503"},
		{at: 2 * time.Minute, checks: "-", wantUp: false},
		{at: 3 * time.Minute, checks: "+", wantUp: true, wantEvents: []string{Up}},
	})
}

func TestConfirmationsTen(t *testing.T) {
	// Ten re-checks: a round whose last passes decides up and announces
	// nothing; one of eleven failures is down.
	run(t, basic, []step{
		{at: 0, checks: "+", wantUp: true},
		{at: time.Minute, checks: "----------+", wantUp: true},
		{at: 2 * time.Minute, checks: "-----------", wantUp: false, wantEvents: []string{Down}},
	})
}

func TestTheFirstCheckIsUp(t *testing.T) {
	// A site never checked counts as up: a first passing check announces
	// nothing, and gives the state its since.
	st := run(t, basic, []step{{at: 0, checks: "+", wantUp: true}})
	if st.Since == nil || !st.Since.Equal(t0) || st.CheckedAt == nil || !st.CheckedAt.Equal(t0) {
		t.Fatalf("since %v, checked at %v; want both %v", st.Since, st.CheckedAt, t0)
	}
}

func TestRecoveries(t *testing.T) {
	st := run(t, with(func(p *Policy) { p.Recoveries = 3 }), []step{
		{at: 0, checks: "-", wantUp: false, wantEvents: []string{Down}},
		{at: time.Minute, checks: "+", wantUp: false, wantReason: "recovering: 1 of 3 passing checks"},
		{at: 2 * time.Minute, checks: "+", wantUp: false, wantReason: "recovering: 2 of 3 passing checks"},
		{at: 3 * time.Minute, checks: "-", wantUp: false, wantReason: "HTTP 503"},
		{at: 4 * time.Minute, checks: "+", wantUp: false, wantReason: "1 of 3"},
		{at: 5 * time.Minute, checks: "+", wantUp: false},
		{at: 6 * time.Minute, checks: "+", wantUp: true, wantEvents: []string{Up}},
	})
	if st.Streak != 0 || st.Locations["a"].Streak != 0 {
		t.Fatalf("streak %d (location's %d) once up, want 0", st.Streak, st.Locations["a"].Streak)
	}
}

func TestAnUpEventSaysHowLongItWasDown(t *testing.T) {
	st := State{Up: true, Alerts: Alerts{AnnouncedUp: true}}
	var events []Event
	for i, c := range "+-+" {
		out := Decide(st, Round{Here: "a", Live: []string{"a"},
			Attempts: []Result{{Up: c == '+', CheckedAt: t0.Add(time.Duration(i) * time.Minute)}}}, basic)
		events, st = append(events, out.Events...), out.State
	}
	if len(events) != 2 || events[1].Since == nil || !events[1].Since.Equal(t0.Add(time.Minute)) {
		t.Fatalf("events %+v: want down, then up since the down at +1m", events)
	}
}

func TestQuorumOfOne(t *testing.T) {
	live := []string{"a", "b", "c"}
	st := run(t, with(func(p *Policy) { p.Quorum = 1 }), []step{
		{at: 0, from: "a", checks: "+", live: live, wantUp: true},
		{at: time.Second, from: "b", checks: "-", live: live, wantUp: false, wantEvents: []string{Down}},
		{at: time.Minute, from: "a", checks: "+", live: live, wantUp: false, wantReason: "down from b: HTTP 503"},
		{at: time.Minute + time.Second, from: "b", checks: "+", live: live, wantUp: true, wantEvents: []string{Up}},
	})
	if !st.Up {
		t.Fatal("down at the end")
	}
}

func TestMajority(t *testing.T) {
	live := []string{"a", "b", "c"}
	steps := []step{
		{at: 0, from: "a", checks: "-", live: live, wantUp: true},
		{at: time.Second, from: "b", checks: "-", live: live, wantUp: false, wantEvents: []string{Down}},
	}
	run(t, basic, steps)
	// The down event names the locations that see it down.
	st := State{Up: true, Alerts: Alerts{AnnouncedUp: true}}
	var last Outcome
	for _, s := range steps {
		last = Decide(st, Round{Here: s.from, Live: live, Attempts: []Result{{Up: false, Reason: "refused", CheckedAt: t0.Add(s.at)}}}, basic)
		st = last.State
	}
	if ev := last.Events[0]; !slices.Equal(ev.Locations, []string{"a", "b"}) || ev.Reason != "refused" {
		t.Fatalf("down event %+v: want locations a and b, reason refused", ev)
	}
	if last.Cause != "refused" || !slices.Equal(last.DownAt, []string{"a", "b"}) {
		t.Fatalf("cause %q, down at %v", last.Cause, last.DownAt)
	}
}

func TestALostLocationDoesNotVote(t *testing.T) {
	run(t, basic, []step{
		{at: 0, from: "a", checks: "+", live: []string{"a", "b"}, wantUp: true},
		{at: time.Second, from: "b", checks: "-", live: []string{"a", "b"}, wantUp: true}, // one of two is no majority
		{at: 2 * time.Second, from: "a", checks: "-", live: []string{"a", "b"}, wantUp: false, wantEvents: []string{Down}},
		// b is lost: a alone decides, and sees it up.
		{at: time.Minute, from: "a", checks: "+", live: []string{"a"}, wantUp: true, wantEvents: []string{Up}},
	})
}

func TestOnlyItsOwnLocationsVote(t *testing.T) {
	p := with(func(p *Policy) { p.Locations = []string{"b"} })
	run(t, p, []step{
		{at: 0, from: "b", checks: "-", live: []string{"a", "b"}, wantUp: false, wantEvents: []string{Down}},
		// Its location lost: the check made decides.
		{at: time.Minute, from: "a", checks: "+", live: []string{"a"}, wantUp: true, wantEvents: []string{Up}},
	})
}

func TestAnOlderRoundDecidesNothing(t *testing.T) {
	run(t, basic, []step{
		{at: time.Minute, checks: "+", wantUp: true},
		{at: 0, checks: "-", wantUp: true, wantStale: true},
		{at: 2 * time.Minute, checks: "+", wantUp: true},
	})
}

func TestFlappingAtExactlyTheThreshold(t *testing.T) {
	// Four changes in the window are announced; the fifth makes it flap.
	run(t, basic, []step{
		{at: 0, checks: "+", wantUp: true},
		{at: 1 * time.Minute, checks: "-", wantUp: false, wantEvents: []string{Down}},
		{at: 2 * time.Minute, checks: "+", wantUp: true, wantEvents: []string{Up}},
		{at: 3 * time.Minute, checks: "-", wantUp: false, wantEvents: []string{Down}},
		{at: 4 * time.Minute, checks: "+", wantUp: true, wantEvents: []string{Up}},
		{at: 5 * time.Minute, checks: "-", wantUp: false, wantEvents: []string{Flapping}, wantReason: "changed state 5 times in 30 minutes"},
		{at: 6 * time.Minute, checks: "+", wantUp: true},
		{at: 7 * time.Minute, checks: "-", wantUp: false},
		// Down and stable for the window: announced once it has been.
		{at: 20 * time.Minute, checks: "-", wantUp: false},
		{at: 37 * time.Minute, checks: "-", wantUp: false, wantEvents: []string{Down}},
		{at: 38 * time.Minute, checks: "-", wantUp: false},
	})
}

func TestChangesOutsideTheWindowDoNotCount(t *testing.T) {
	run(t, basic, []step{
		{at: 0, checks: "-", wantUp: false, wantEvents: []string{Down}},
		{at: 10 * time.Minute, checks: "+", wantUp: true, wantEvents: []string{Up}},
		{at: 20 * time.Minute, checks: "-", wantUp: false, wantEvents: []string{Down}},
		{at: 31 * time.Minute, checks: "+", wantUp: true, wantEvents: []string{Up}},
		{at: 32 * time.Minute, checks: "-", wantUp: false, wantEvents: []string{Down}}, // the first is out of the window
		{at: 33 * time.Minute, checks: "+", wantUp: true, wantEvents: []string{Flapping}},
	})
}

func TestTheChangesKeptAreFew(t *testing.T) {
	st := State{Up: true, Alerts: Alerts{AnnouncedUp: true}}
	for i := range 100 {
		st = Decide(st, Round{Here: "a", Live: []string{"a"},
			Attempts: []Result{{Up: i%2 == 1, CheckedAt: t0.Add(time.Duration(i) * time.Second)}}}, basic).State
	}
	if len(st.Changes) != basic.FlapChanges+1 {
		t.Fatalf("%d changes kept, want %d", len(st.Changes), basic.FlapChanges+1)
	}
}

func TestReminders(t *testing.T) {
	p := with(func(p *Policy) { p.RemindEvery = 10 * time.Minute })
	run(t, p, []step{
		{at: 0, checks: "-", wantUp: false, wantEvents: []string{Down}},
		{at: 5 * time.Minute, checks: "-", wantUp: false},
		{at: 10 * time.Minute, checks: "-", wantUp: false, wantEvents: []string{Reminder}, wantReason: "HTTP 503"},
		{at: 15 * time.Minute, checks: "-", wantUp: false},
		{at: 20 * time.Minute, checks: "-", wantUp: false, wantEvents: []string{Reminder}},
		{at: 21 * time.Minute, checks: "+", wantUp: true, wantEvents: []string{Up}},
		{at: 35 * time.Minute, checks: "+", wantUp: true},
	})
}

func TestDegraded(t *testing.T) {
	p := with(func(p *Policy) { p.SlowNeeded = 2 })
	st := run(t, p, []step{
		{at: 0, checks: "s", wantUp: true},
		{at: time.Minute, checks: "+", wantUp: true},
		{at: 2 * time.Minute, checks: "s", wantUp: true},
		{at: 3 * time.Minute, checks: "s", wantUp: true, wantEvents: []string{Degraded}},
		{at: 4 * time.Minute, checks: "s", wantUp: true},
		{at: 5 * time.Minute, checks: "+", wantUp: true, wantEvents: []string{DegradedEnd}},
	})
	if st.DegradedSince != nil || st.SlowStreak != 0 {
		t.Fatalf("degraded since %v, slow streak %d, once fast", st.DegradedSince, st.SlowStreak)
	}
	// Without a max_latency, slow checks say nothing.
	run(t, basic, []step{{at: 0, checks: "s", wantUp: true}, {at: time.Minute, checks: "s", wantUp: true}})
	// Down says more than slow.
	run(t, p, []step{
		{at: 0, checks: "s", wantUp: true},
		{at: time.Minute, checks: "s", wantUp: true, wantEvents: []string{Degraded}},
		{at: 2 * time.Minute, checks: "-", wantUp: false, wantEvents: []string{Down}},
		{at: 3 * time.Minute, checks: "s", wantUp: true, wantEvents: []string{Up}},
	})
}

func TestUnstableAndStableAgain(t *testing.T) {
	var steps []step
	at := time.Duration(0)
	next := func(checks string, events ...string) {
		steps = append(steps, step{at: at, checks: checks, wantUp: true, wantEvents: events})
		at += time.Minute
	}
	// Three failed first checks in nine rounds: too few rounds to say.
	for i := range 9 {
		if i%3 == 0 {
			next("-+")
		} else {
			next("+")
		}
	}
	next("-+", Unstable) // four of ten is more than a quarter
	for range 9 {
		next("+")
	}
	// Four of twenty: more than a tenth, still unstable; the 20 rounds
	// kept then drop the first failures one by one.
	for range 20 {
		next("+")
	}
	st := run(t, basic, steps)
	if st.UnstableSince != nil {
		t.Fatalf("unstable since %v after 20 passing rounds", st.UnstableSince)
	}
	if st.RecentN != unstableRounds {
		t.Fatalf("%d rounds kept, want %d", st.RecentN, unstableRounds)
	}
	// Stable again at exactly a tenth: 2 of 20.
	if !stableAgain(2, 20) || stableAgain(3, 20) || unstable(5, 20) || !unstable(6, 20) || unstable(9, 9) {
		t.Fatal("the thresholds moved")
	}
}

// certWarnings decides a round of one passing check at each of daysLeft
// before expiry, in order, and returns the state after them and what each
// warning said; every event must be a certificate's.
func certWarnings(t *testing.T, expiry time.Time, daysLeft ...float64) (State, []string) {
	t.Helper()
	st := State{Up: true, Alerts: Alerts{AnnouncedUp: true}}
	var warned []string
	for _, d := range daysLeft {
		at := expiry.Add(-time.Duration(d * float64(24*time.Hour)))
		out := Decide(st, Round{Here: "a", Live: []string{"a"}, Attempts: []Result{{Up: true, CheckedAt: at, CertExpiry: &expiry}}}, basic)
		for _, ev := range out.Events {
			if ev.Kind != CertExpiring {
				t.Fatalf("event %s", ev.Kind)
			}
			warned = append(warned, ev.Reason)
		}
		st = out.State
	}
	return st, warned
}

// One certificate, as its end comes nearer, is warned of at 14, 7 and 1
// days, once each.
func TestCertificateWarnedAtEachThreshold(t *testing.T) {
	_, warned := certWarnings(t, time.Date(2026, 12, 31, 12, 0, 0, 0, time.UTC), 30, 20, 13.9, 13, 8, 6.9, 6, 2, 0.9, 0.5, 0.1)
	if len(warned) != 3 {
		t.Fatalf("warnings %q, want 3: at 14, 7 and 1 days", warned)
	}
	for i, want := range []string{"13 days", "6 days", "21 hours"} {
		if !strings.Contains(warned[i], want) {
			t.Errorf("warning %d: %q, want it to say %s", i+1, warned[i], want)
		}
	}
}

// Each threshold is reached at exactly its day, and a new certificate is
// warned of anew.
func TestCertificateAtExactlyEachThreshold(t *testing.T) {
	expiry := t0.Add(60 * 24 * time.Hour)
	st, warned := certWarnings(t, expiry, 30, 20, 14, 13.9, 13, 8, 7, 6.9, 6, 2, 1, 0.9, 0.5, 0.1)
	if len(warned) != 3 {
		t.Fatalf("warnings %q, want 3: at 14, 7 and 1 days", warned)
	}
	for i, want := range []string{"14 days", "7 days", "1 day"} {
		if !strings.Contains(warned[i], want) {
			t.Errorf("warning %d: %q, want it to say %s", i+1, warned[i], want)
		}
	}
	// A new certificate is warned of anew.
	renewed := expiry.Add(10 * 24 * time.Hour)
	out := Decide(st, Round{Here: "a", Live: []string{"a"}, Attempts: []Result{{Up: true, CheckedAt: expiry.Add(-time.Hour), CertExpiry: &renewed}}}, basic)
	if len(out.Events) != 1 || !strings.Contains(out.Events[0].Reason, "10 days") {
		t.Fatalf("renewed certificate: events %+v", out.Events)
	}
}

func TestMaintenanceHoldsEveryEvent(t *testing.T) {
	p := with(func(p *Policy) { p.RemindEvery = time.Minute; p.SlowNeeded = 1 })
	run(t, p, []step{
		{at: 0, checks: "+", wantUp: true},
		{at: time.Minute, checks: "-", maintenance: true, wantUp: false},
		{at: 2 * time.Minute, checks: "-", maintenance: true, wantUp: false},
		{at: 3 * time.Minute, checks: "s", maintenance: true, certIn: 24 * time.Hour, wantUp: true},
		{at: 4 * time.Minute, checks: "-", maintenance: true, wantUp: false},
		// The window ends with the site down: that is announced now.
		{at: 5 * time.Minute, checks: "-", wantUp: false, wantEvents: []string{Down}},
	})
	// Down and back within the window: nothing to say.
	run(t, basic, []step{
		{at: 0, checks: "+", wantUp: true},
		{at: time.Minute, checks: "-", maintenance: true, wantUp: false},
		{at: 2 * time.Minute, checks: "+", maintenance: true, wantUp: true},
		{at: 3 * time.Minute, checks: "+", wantUp: true},
	})
}

func BenchmarkDecide(b *testing.B) {
	st := State{Up: true, Alerts: Alerts{AnnouncedUp: true}}
	p := with(func(p *Policy) { p.RemindEvery = time.Hour; p.SlowNeeded = 2 })
	live := []string{"a", "b", "c"}
	for i := 0; b.Loop(); i++ {
		at := t0.Add(time.Duration(i) * time.Minute)
		st = Decide(st, Round{Here: live[i%3], Live: live, Attempts: []Result{{Up: i%7 != 0, Status: 200, CheckedAt: at}}}, p).State
	}
}

func TestADependencyDownHoldsTheDown(t *testing.T) {
	// Down while a site it depends on is down: recorded as such, and not
	// alerted, nor reminded of; up again, nothing to say.
	run(t, with(func(p *Policy) { p.RemindEvery = time.Minute }), []step{
		{at: 0, checks: "+", wantUp: true},
		{at: time.Minute, checks: "-", parentDown: "Database", wantUp: false, wantReason: "dependency down: Database"},
		{at: 2 * time.Minute, checks: "-", parentDown: "Database", wantUp: false, wantReason: "dependency down: Database"},
		{at: 5 * time.Minute, checks: "-", parentDown: "Database", wantUp: false},
		{at: 6 * time.Minute, checks: "+", parentDown: "Database", wantUp: true},
		{at: 7 * time.Minute, checks: "+", wantUp: true},
	})
}

func TestADownThatOutlastsItsDependencyIsAlerted(t *testing.T) {
	// The dependency is back and the site is still down: its own down,
	// with its own reason, is alerted then, and its up after.
	run(t, basic, []step{
		{at: 0, checks: "-", parentDown: "Database", wantUp: false, wantReason: "dependency down: Database"},
		{at: time.Minute, checks: "-", wantUp: false, wantEvents: []string{Down}, wantReason: "HTTP 503"},
		{at: 2 * time.Minute, checks: "+", wantUp: true, wantEvents: []string{Up}},
	})
}

func TestADependencyDownAfterTheAlertChangesNothingSaid(t *testing.T) {
	// Alerted down before the site it depends on went down: it stays
	// alerted, and its up is announced.
	run(t, basic, []step{
		{at: 0, checks: "-", wantUp: false, wantEvents: []string{Down}},
		{at: time.Minute, checks: "-", parentDown: "Database", wantUp: false, wantReason: "dependency down: Database"},
		{at: 2 * time.Minute, checks: "+", parentDown: "Database", wantUp: true, wantEvents: []string{Up}},
	})
}

func TestADependencyDownHoldsNothingWhileUp(t *testing.T) {
	// Up, the site's own alerts go out whatever its dependencies do.
	run(t, with(func(p *Policy) { p.SlowNeeded = 1 }), []step{
		{at: 0, checks: "s", parentDown: "Database", wantUp: true, wantEvents: []string{Degraded}},
		{at: time.Minute, checks: "+", parentDown: "Database", wantUp: true, wantEvents: []string{DegradedEnd}},
	})
}

func TestADependencyDownIsTheIncidentsCause(t *testing.T) {
	out := Decide(State{Up: true, Alerts: Alerts{AnnouncedUp: true}}, Round{Here: "a", Live: []string{"a"}, DependencyDown: "Gateway",
		Attempts: []Result{{Up: false, Reason: "connection refused", CheckedAt: t0}}}, basic)
	if !out.Changed || out.Cause != "dependency down: Gateway" || len(out.Events) != 0 {
		t.Fatalf("changed %v, cause %q, events %v: want a change caused by the dependency, not alerted", out.Changed, out.Cause, out.Events)
	}
}
