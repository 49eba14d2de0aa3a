package monitor

import (
	"context"
	"io"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"uptime/monitor/locations"
	"uptime/site"
)

// A site's round on the bulk path is decided from the state this process
// wrote last, not read again; a row written since by another is found at
// the write, read and decided again, so nothing another wrote is lost,
// and the site's rows are read before its rounds from then on. The
// per-site path and forgetting let go of what is kept.
func TestRoundsDecideFromTheStateThisProcessWrote(t *testing.T) {
	ctx := context.Background()
	s, db := newStateService(t, 2, io.Discard)
	tg := newTarget(site.Site{ID: 1, URL: "https://a.example/"}, "https://a.example/", site.Config{})
	at := time.Now().Add(-time.Hour).Truncate(time.Minute)
	var fails failures
	round := func() {
		t.Helper()
		at = at.Add(time.Minute)
		_, states, err := s.dueSites(ctx, []int64{1}, nil, true)
		if err != nil {
			t.Fatal(err)
		}
		s.writeBatch([]tickResult{{target: tg, from: s.opts.Location, seen: states[1],
			attempts: []Result{{Up: true, Status: 200, CheckedAt: at, Latency: 20 * time.Millisecond}}}}, &fails)
		if n, err := fails.get(); n > 0 {
			t.Fatalf("round at %s: %v", at, err)
		}
	}
	held := func() (seenState, bool) {
		t.Helper()
		got, _ := s.states.get([]int64{1}, time.Now())
		if got[1] == nil {
			return seenState{}, false
		}
		return *got[1], true
	}
	asRead := func() (seen seenState) {
		t.Helper()
		if err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
			states, err := readStates(ctx, tx, []int64{1}, false)
			seen = states[1]
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return seen
	}

	round()
	round()
	kept, ok := held()
	if !ok {
		t.Fatal("nothing kept of the state the bulk path wrote")
	}
	if now := asRead(); !reflect.DeepEqual(kept, now) {
		t.Fatalf("kept %+v\nthe row holds %+v", kept, now)
	}

	// Another location's view is written meanwhile. The next round is
	// decided from what was kept, which lacks it: that write misses, the
	// row is read and the round decided again, so the view stays.
	if _, err := db.Exec(ctx, `UPDATE site_state SET locations = locations || jsonb_build_object('far',
		jsonb_build_object('up', false, 'checked_at', $1::timestamptz, 'status_code', 503, 'latency_ms', 5, 'reason', 'HTTP 503', 'streak', 0))
		WHERE site_id = 1`, at); err != nil {
		t.Fatal(err)
	}
	if _, states, err := s.dueSites(ctx, []int64{1}, nil, true); err != nil || states[1] == nil || states[1].version != kept.version {
		t.Fatalf("before the round: %+v, %v; want the state kept, at version %d", states[1], err, kept.version)
	}
	round()
	now := asRead()
	if _, ok := now.state.Locations["far"]; !ok {
		t.Fatalf("another location's view was lost: %+v", now.state.Locations)
	}
	if !now.state.CheckedAt.Equal(at) {
		t.Fatalf("the round was not written: checked at %v, want %v", now.state.CheckedAt, at)
	}
	// Contended now: read before each round, nothing kept.
	round()
	if _, ok := held(); ok {
		t.Fatal("the state of a contended site is kept")
	}
	if now := asRead(); !now.state.CheckedAt.Equal(at) {
		t.Fatalf("a contended site's round was not written: checked at %v, want %v", now.state.CheckedAt, at)
	}

	// Site 2: kept after a bulk round, let go when the per-site path
	// writes its state, and when it is forgotten.
	other := newTarget(site.Site{ID: 2, URL: "https://a.example/"}, "https://a.example/", site.Config{})
	s.writeBatch([]tickResult{{target: other, from: s.opts.Location,
		attempts: []Result{{Up: true, Status: 200, CheckedAt: at}}}}, &fails)
	if got, _ := s.states.get([]int64{2}, time.Now()); got[2] == nil {
		t.Fatal("nothing kept of site 2 after a bulk round")
	}
	if err := s.record(ctx, other, s.opts.Location, []Result{{Up: true, Status: 200, CheckedAt: at.Add(time.Second)}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.states.get([]int64{2}, time.Now()); got[2] != nil {
		t.Fatal("site 2's state is kept after the per-site path wrote it")
	}
	s.writeBatch([]tickResult{{target: other, from: s.opts.Location,
		attempts: []Result{{Up: true, Status: 200, CheckedAt: at.Add(time.Minute)}}}}, &fails)
	if err := s.unschedule(ctx, []int64{2}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.states.get([]int64{2}, time.Now()); got[2] != nil {
		t.Fatal("site 2's state is kept after it was forgotten")
	}
}

// What is kept is let go once no round has asked for it in cacheIdle.
func TestStateCacheLetsGoOfIdleStates(t *testing.T) {
	var c stateCache
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	c.put(map[int64]seenState{1: {version: 7}, 2: {version: 8}}, start)
	c.get([]int64{2}, start.Add(cacheIdle-time.Minute))
	c.put(map[int64]seenState{3: {version: 9}}, start.Add(cacheIdle+time.Minute))
	held, missing := c.get([]int64{1, 2, 3}, start.Add(cacheIdle+time.Minute))
	if held[1] != nil || held[2] == nil || held[2].version != 8 || held[3] == nil || !reflect.DeepEqual(missing, []int64{1}) {
		t.Fatalf("held %v, missing %v; want 2 and 3 held, 1 let go", held, missing)
	}
	c.contended([]int64{3}, start)
	c.put(map[int64]seenState{3: {version: 10}}, start.Add(contendedFor-time.Minute))
	if held, _ := c.get([]int64{3}, start); held[3] != nil {
		t.Fatalf("a contended site's state was kept: %+v", held[3])
	}
	c.put(map[int64]seenState{3: {version: 11}}, start.Add(contendedFor+time.Minute))
	if held, _ := c.get([]int64{3}, start); held[3] == nil || held[3].version != 11 {
		t.Fatalf("once no longer contended: %+v", held[3])
	}
	// Another instance of the location: everything is let go, and
	// nothing kept until it is gone.
	c.share(true)
	c.put(map[int64]seenState{4: {version: 12}}, start.Add(contendedFor+time.Minute))
	if held, _ := c.get([]int64{3, 4}, start); len(held) != 0 {
		t.Fatalf("kept while another instance checks from here: %v", held)
	}
	c.share(false)
	c.put(map[int64]seenState{4: {version: 13}}, start.Add(contendedFor+time.Minute))
	if held, _ := c.get([]int64{4}, start); held[4] == nil || held[4].version != 13 {
		t.Fatalf("once alone again: %+v", held[4])
	}
}

// Rounds take the states kept only while this instance is the only live
// one of its location: another's checks from here would not be in them.
func TestStatesAreKeptForAnInstanceAloneInItsLocation(t *testing.T) {
	ctx := context.Background()
	s, db := newStateService(t, 0, io.Discard)
	beat := func(id, location string, ago time.Duration) {
		t.Helper()
		if _, err := db.Exec(ctx, `INSERT INTO instance (id, location, version, started_at, last_seen)
			VALUES ($1, $2, 'test', now(), now() - $3::interval)`, id, location, ago); err != nil {
			t.Fatal(err)
		}
	}
	alone := func() bool {
		t.Helper()
		// A copy of this instance's, which reads the instances afresh.
		l := locations.New(db, nil, nil, locations.Options{Here: s.opts.Location}, slog.New(slog.DiscardHandler))
		l.InstanceID = s.locations.InstanceID
		a, err := l.Alone(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	beat(s.locations.InstanceID, s.opts.Location, 0)
	beat("elsewhere", "far", 0)
	beat("gone", s.opts.Location, 2*locations.InstanceAlive)
	if !alone() {
		t.Fatal("not alone, with only an instance elsewhere and one gone")
	}
	beat("twin", s.opts.Location, 0)
	if alone() {
		t.Fatal("alone, with another live instance of its location")
	}
}
