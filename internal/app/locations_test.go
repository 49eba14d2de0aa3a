package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"uptime/internal/apptest"
	"uptime/internal/config"
	"uptime/internal/fakeslack"
	"uptime/internal/pgtest"
	"uptime/internal/wait"
	"uptime/monitor/check"
	"uptime/monitor/locations"
)

// fleet is several instances on one set of databases, each checking from
// a location of its own, with one Slack.
type fleet struct {
	at     map[string]*apptest.App
	slack  *fakeslack.Server
	prefix string
}

func startFleet(t *testing.T, names ...string) *fleet {
	t.Helper()
	f := &fleet{at: map[string]*apptest.App{}, slack: fakeslack.New(t), prefix: pgtest.Prefix(t)}
	for _, loc := range names {
		f.at[loc] = apptest.Start(t, apptest.Setup{Prefix: f.prefix,
			Env: map[string]string{"SLACK_WEBHOOK_URL": f.slack.URL + "/hook"},
			Configure: func(c *config.Config) {
				c.Location = loc
				c.ConfirmChecks = 1
				c.FlapChanges = 100 // these tests change states often on purpose
			}})
	}
	// Every instance sees every location alive.
	for _, a := range f.at {
		wait.For(t, 15*time.Second, func() error {
			var locs locations.LocationsResponse
			a.Call(t, "GET", "/location", "", &locs)
			alive := 0
			for _, l := range locs.Locations {
				if l.Alive {
					alive++
				}
			}
			if alive == len(names) {
				return nil
			}
			return fmt.Errorf("locations %+v, want %d alive", locs, len(names))
		})
	}
	return f
}

// failingFrom is a site that fails for the checks of the locations set in
// it, told apart by their User-Agent.
type failingFrom struct {
	*httptest.Server
	mu   sync.Mutex
	from map[string]bool
}

func newFailingFrom(t *testing.T) *failingFrom {
	s := &failingFrom{from: map[string]bool{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		for loc, failing := range s.from {
			if failing && r.UserAgent() == check.LocationAgent(loc) {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *failingFrom) fail(names ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.from)
	for _, l := range names {
		s.from[l] = true
	}
}

// siteState is a site's /status entry with its locations.
type siteState struct {
	Up        bool
	Reason    string
	Locations map[string]struct {
		Up     bool
		Reason string
	}
}

func (f *fleet) status(t *testing.T, loc string, id int64) (siteState, bool) {
	t.Helper()
	var st struct{ Sites map[string]siteState }
	f.at[loc].Call(t, "GET", fmt.Sprintf("/status?ids=%d", id), "", &st)
	s, ok := st.Sites[fmt.Sprint(id)]
	return s, ok
}

// check checks the site from each of the locations at once, and waits for
// every answer.
func (f *fleet) check(t *testing.T, id int64, names ...string) {
	t.Helper()
	var wg sync.WaitGroup
	for _, loc := range names {
		wg.Go(func() {
			code, body := f.at[loc].Do(t, "POST", fmt.Sprintf("/check/%d", id), "")
			if code != 200 {
				t.Errorf("check from %s: %d %s", loc, code, body)
			}
		})
	}
	wg.Wait()
}

// A site failing from one of three locations is not down, and its status
// shows the split; a real outage is announced once, naming the locations
// that saw it, and so is the recovery.
func TestQuorumOfLocations(t *testing.T) {
	f := startFleet(t, "eu", "us", "ap")
	srv := newFailingFrom(t)
	id := f.at["eu"].AddSite(t, srv.URL)
	f.check(t, id, "eu", "us", "ap")

	srv.fail("eu")
	f.check(t, id, "eu", "us", "ap")
	f.check(t, id, "eu", "us", "ap")
	st, _ := f.status(t, "us", id)
	if !st.Up {
		t.Fatalf("failing from eu alone, the site is down: %+v", st)
	}
	if l := st.Locations; len(l) != 3 || l["eu"].Up || !l["us"].Up || !l["ap"].Up || !strings.Contains(l["eu"].Reason, "503") {
		t.Fatalf("the status does not show the split: %+v", st.Locations)
	}

	srv.fail("eu", "us", "ap")
	f.check(t, id, "eu", "us", "ap")
	st, _ = f.status(t, "ap", id)
	if st.Up {
		t.Fatalf("failing from every location, the site is up: %+v", st)
	}
	// The message names the locations that saw the site down when its
	// quorum was reached: eu, and one or both of the others.
	msgs := f.slack.Wait(1, 10*time.Second)
	if !strings.Contains(msgs[0], "is down!") || !strings.Contains(msgs[0], "Seen from ") || !strings.Contains(msgs[0], "eu") {
		t.Fatalf("the down message %q does not name the locations", msgs[0])
	}

	// Back from two of the three: up, with eu still failing on its own.
	srv.fail("eu")
	f.check(t, id, "eu", "us", "ap")
	msgs = f.slack.Wait(2, 10*time.Second)
	if !strings.Contains(msgs[1], "is back up.") {
		t.Fatalf("the second message %q, want the site back up", msgs[1])
	}
	time.Sleep(500 * time.Millisecond) // a third message would come meanwhile
	if got := f.slack.Bodies(); len(got) != 2 {
		t.Fatalf("Slack heard %d messages, want 2: %q", len(got), got)
	}
	var incidents struct{ Incidents []json.RawMessage }
	f.at["us"].Call(t, "GET", fmt.Sprintf("/incident?site=%d", id), "", &incidents)
	if len(incidents.Incidents) != 1 {
		t.Fatalf("%d incidents, want 1", len(incidents.Incidents))
	}
}

// With quorum 1, the failure of any one location is enough.
func TestQuorumOfOne(t *testing.T) {
	f := startFleet(t, "eu", "us")
	srv := newFailingFrom(t)
	var added struct{ ID int64 }
	f.at["eu"].Call(t, "POST", "/site", fmt.Sprintf(`{"url": %q, "quorum": 1}`, srv.URL), &added)
	f.check(t, added.ID, "eu", "us")
	srv.fail("us")
	f.check(t, added.ID, "eu", "us")
	if st, _ := f.status(t, "eu", added.ID); st.Up || !strings.Contains(st.Reason, "503") {
		t.Fatalf("failing from us with quorum 1, the site is %+v, want down", st)
	}
	msgs := f.slack.Wait(1, 10*time.Second)
	if !strings.Contains(msgs[0], "Seen from us.") {
		t.Fatalf("the down message %q does not name us", msgs[0])
	}
	for _, bad := range []string{`{"quorum": 0}`, `{"quorum": 33}`, `{"locations": ["eu"], "quorum": 2}`} {
		code, body := f.at["eu"].Do(t, "PATCH", fmt.Sprintf("/site/%d", added.ID), bad)
		if code != 400 || !strings.Contains(body, "quorum") {
			t.Errorf("PATCH %s: %d %s, want 400 naming quorum", bad, code, body)
		}
	}
}

// When every location finishes a round at the same moment, each change is
// still announced exactly once: the decision is taken under the state
// row's lock.
func TestLocationsAnnounceOnce(t *testing.T) {
	f := startFleet(t, "eu", "us", "ap")
	srv := newFailingFrom(t)
	id := f.at["eu"].AddSite(t, srv.URL)
	f.check(t, id, "eu", "us", "ap")
	const rounds = 20
	for i := range rounds {
		if i%2 == 0 {
			srv.fail("eu", "us", "ap")
		} else {
			srv.fail()
		}
		f.check(t, id, "eu", "us", "ap")
	}
	// Deliveries run in parallel on every instance: their order is not
	// the changes' order, their count is.
	f.slack.Wait(rounds, 30*time.Second)
	time.Sleep(time.Second) // an extra message would come meanwhile
	msgs := f.slack.Bodies()
	downs, ups := 0, 0
	for _, m := range msgs {
		switch {
		case strings.Contains(m, "is down!"):
			downs++
		case strings.Contains(m, "is back up."):
			ups++
		}
	}
	if len(msgs) != rounds || downs != rounds/2 || ups != rounds/2 {
		t.Fatalf("Slack heard %d messages (%d down, %d up) for %d changes: %q", len(msgs), downs, ups, rounds, msgs)
	}
	var incidents struct {
		Incidents []struct {
			EndedAt *time.Time `json:"ended_at"`
		}
	}
	f.at["ap"].Call(t, "GET", fmt.Sprintf("/incident?site=%d&limit=100", id), "", &incidents)
	if len(incidents.Incidents) != rounds/2 {
		t.Fatalf("%d incidents for %d outages", len(incidents.Incidents), rounds/2)
	}
	for _, in := range incidents.Incidents {
		if in.EndedAt == nil {
			t.Fatalf("an incident is still open after the last recovery")
		}
	}
}

// A location whose instances stop is reported lost, left out of the
// quorum (the other two decide), and reported again when it returns.
func TestLostLocation(t *testing.T) {
	f := startFleet(t, "eu", "us", "ap")
	srv := newFailingFrom(t)
	id := f.at["us"].AddSite(t, srv.URL)
	f.check(t, id, "eu", "us", "ap")
	srv.fail("eu")
	f.check(t, id, "eu")
	if err := f.at["eu"].Stop(); err != nil {
		t.Fatal(err)
	}
	msgs := f.slack.Wait(1, 15*time.Second)
	if !strings.Contains(msgs[0], "Location eu is lost.") {
		t.Fatalf("the first message is %q, want eu lost", msgs[0])
	}
	var locs locations.LocationsResponse
	f.at["us"].Call(t, "GET", "/location", "", &locs)
	i := slices.IndexFunc(locs.Locations, func(l locations.Location) bool { return l.Name == "eu" })
	if i < 0 || locs.Locations[i].Alive || locs.Locations[i].LostSince == nil {
		t.Fatalf("locations %+v, want eu lost", locs.Locations)
	}
	_, metrics := f.at["us"].Do(t, "GET", "/metrics", "")
	if !strings.Contains(metrics, `uptime_location_up{location="eu"} 0`) || !strings.Contains(metrics, `uptime_location_up{location="us"} 1`) {
		t.Errorf("/metrics does not say eu is lost and us is up")
	}
	// eu's failure no longer counts: with us and ap the quorum is 2, and
	// one failing is not enough; both are. (Instances read which locations
	// are lost at most once a second.)
	time.Sleep(1100 * time.Millisecond)
	srv.fail("us")
	f.check(t, id, "us", "ap")
	if st, _ := f.status(t, "us", id); !st.Up {
		t.Fatalf("failing from us alone of us and ap, the site is down: %+v", st)
	}
	srv.fail("us", "ap")
	f.check(t, id, "us", "ap")
	if st, _ := f.status(t, "ap", id); st.Up {
		t.Fatalf("failing from us and ap, the site is up: %+v", st)
	}
	msgs = f.slack.Wait(2, 10*time.Second)
	if !strings.Contains(msgs[1], "is down!") || !strings.Contains(msgs[1], "Seen from ap and us.") {
		t.Fatalf("the second message is %q, want the site down, seen from ap and us", msgs[1])
	}
	// A site checked only from a lost location is unknown.
	var only struct{ ID int }
	f.at["us"].Call(t, "POST", "/site", fmt.Sprintf(`{"url": %q, "locations": ["eu"], "interval": "1h"}`, srv.URL+"/only"), &only)
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var st struct{ Sites map[string]siteState }
		f.at["us"].Call(t, "GET", "/status", "", &st)
		if _, ok := st.Sites[fmt.Sprint(only.ID)]; ok {
			t.Fatalf("a site checked only from lost eu has a status: %+v", st.Sites[fmt.Sprint(only.ID)])
		}
		if _, ok := st.Sites[fmt.Sprint(id)]; !ok {
			t.Fatalf("the site checked from us and ap has no status")
		}
		if time.Now().After(deadline) {
			break
		}
	}
	// eu returns, and is reported back.
	f.at["eu"] = apptest.Start(t, apptest.Setup{Prefix: f.prefix,
		Env:       map[string]string{"SLACK_WEBHOOK_URL": f.slack.URL + "/hook"},
		Configure: func(c *config.Config) { c.Location = "eu" }})
	msgs = f.slack.Wait(3, 15*time.Second)
	if !strings.Contains(msgs[2], "Location eu checks again.") || !strings.Contains(msgs[2], "It was lost for") {
		t.Fatalf("the third message is %q, want eu back", msgs[2])
	}
	// A location cannot be forgotten while it checks; a stopped one can.
	if code, body := f.at["us"].Do(t, "DELETE", "/location/eu", ""); code != 400 || !strings.Contains(body, "is checking") {
		t.Errorf("forgetting a live location: %d %s, want 400", code, body)
	}
	if code, body := f.at["us"].Do(t, "DELETE", "/location/nowhere", ""); code != 404 {
		t.Errorf("forgetting an unknown location: %d %s, want 404", code, body)
	}
	if code, body := f.at["us"].Do(t, "DELETE", "/location/EU", ""); code != 400 {
		t.Errorf("forgetting a location by a name no location can have: %d %s, want 400", code, body)
	}
	if err := f.at["eu"].Stop(); err != nil {
		t.Fatal(err)
	}
	f.slack.Wait(4, 15*time.Second)
	if code, body := f.at["us"].Do(t, "DELETE", "/location/eu", ""); code != 200 {
		t.Errorf("forgetting lost eu: %d %s", code, body)
	}
	f.at["us"].Call(t, "GET", "/location", "", &locs)
	if slices.ContainsFunc(locs.Locations, func(l locations.Location) bool { return l.Name == "eu" }) {
		t.Errorf("forgotten eu is still listed: %+v", locs.Locations)
	}
}

// A location whose instances stop beating without a word (killed, or cut
// off) is lost once none has been heard from for 30 s.
func TestSilentLocationIsLost(t *testing.T) {
	f := startFleet(t, "eu")
	ctx := context.Background()
	u, err := url.Parse(pgtest.ServerURL(t))
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + f.prefix + "monitor"
	db, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	// An instance of "ap" last heard from 12 s ago, as a killed one leaves
	// its row.
	if _, err := db.Exec(ctx, `INSERT INTO instance (id, location, version, started_at, last_seen)
		VALUES ('killed', 'ap', 'v1', now() - interval '1 hour', now() - interval '12 seconds')`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO location (name) VALUES ('ap')`); err != nil {
		t.Fatal(err)
	}
	// A site every 10 s: while ap counts as alive, rounds are given to it
	// that no instance takes.
	srv := newFailingFrom(t)
	f.at["eu"].Call(t, "POST", "/site", fmt.Sprintf(`{"url": %q, "interval": "10s"}`, srv.URL), nil)
	start := time.Now()
	msgs := f.slack.Wait(1, 30*time.Second)
	if len(msgs) == 0 || !strings.Contains(msgs[0], "Location ap is lost.") {
		t.Fatalf("Slack heard %q, want ap lost", msgs)
	}
	if waited := time.Since(start); waited < 15*time.Second {
		t.Errorf("ap was reported lost %s after its last beat was 12 s old, before 30 s had passed", waited)
	}
	var locs locations.LocationsResponse
	f.at["eu"].Call(t, "GET", "/location", "", &locs)
	i := slices.IndexFunc(locs.Locations, func(l locations.Location) bool { return l.Name == "ap" })
	if i < 0 || locs.Locations[i].Alive || locs.Locations[i].LostSince == nil || len(locs.Locations[i].Instances) != 1 {
		t.Fatalf("locations %+v, want ap lost with its silent instance", locs.Locations)
	}
	// Its rounds given out before it was found lost are dropped, not left
	// waiting for it.
	var waiting int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE queue = 'checks-ap' AND state IN ('available', 'scheduled')`).Scan(&waiting); err != nil {
		t.Fatal(err)
	}
	if waiting != 0 {
		t.Fatalf("%d check jobs of lost ap still wait", waiting)
	}
}
