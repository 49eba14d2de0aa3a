package monitor_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"

	"uptime/internal/wait"
	"uptime/monitor"
	"uptime/site"
)

// pathFarm serves many sites on one server, one per path; a path marked
// down answers 503.
type pathFarm struct {
	mu   sync.Mutex
	down map[string]bool
}

func (f *pathFarm) set(down bool, paths ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range paths {
		f.down[p] = down
	}
}

func (f *pathFarm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	down := f.down[r.URL.Path]
	f.mu.Unlock()
	if down {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
}

// ticked tells whether cron's check-all, which runs once at start-up, has
// finished.
func (e *env) ticked(t testing.TB) bool {
	t.Helper()
	var done bool
	err := e.db.QueryRow(context.Background(),
		"SELECT EXISTS (SELECT FROM river_job WHERE kind = 'check-all' AND state = 'completed')").Scan(&done)
	if err != nil {
		t.Fatal(err)
	}
	return done
}

func TestCheckAllRecordsEveryCheckAndAnnouncesEachChangeOnce(t *testing.T) {
	e := setup(t, setupOpts{opts: monitor.Options{Confirmations: 1, Concurrency: 20}})
	f := &pathFarm{down: map[string]bool{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	ctx := context.Background()
	const n = 300
	var sites []*site.Site
	for i := range n {
		st, err := e.sites.Add(ctx, site.AddParams{URL: fmt.Sprintf("%s/s/%d", srv.URL, i)})
		if err != nil {
			t.Fatal(err)
		}
		sites = append(sites, st)
	}
	// Let the first checks of the new sites finish.
	wait.For(t, 30*time.Second, func() error {
		if got := len(e.status(t)); got != n {
			return fmt.Errorf("%d of %d new sites checked", got, n)
		}
		return nil
	})
	checksOf := func() map[int64]int {
		m := map[int64]int{}
		for _, st := range sites {
			m[st.ID] = e.countChecks(t, st.ID)
		}
		return m
	}

	// Ten sites go down while two runs overlap: each is announced once.
	flipped := map[int64]bool{}
	var paths []string
	for i := 0; i < n; i += n / 10 {
		flipped[sites[i].ID] = true
		paths = append(paths, fmt.Sprintf("/s/%d", i))
	}
	f.set(true, paths...)
	before := checksOf()
	start := time.Now()
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if err := e.mon.CheckAll(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	got := e.waitTransitions(t, len(flipped))
	if len(got) != len(flipped) {
		t.Fatalf("%d transitions, want %d: %+v", len(got), len(flipped), got)
	}
	for _, ev := range got {
		if ev.Up || !flipped[ev.Site.ID] {
			t.Errorf("unexpected transition %+v", ev)
		}
	}
	after := checksOf()
	status := e.status(t)
	for _, st := range sites {
		added := after[st.ID] - before[st.ID]
		s := status[fmt.Sprint(st.ID)]
		switch {
		case flipped[st.ID] && (added < 2 || s.Up || s.StatusCode != 503):
			t.Errorf("site %d went down: %d checks recorded, status %+v", st.ID, added, s)
		case !flipped[st.ID] && (added != 2 || !s.Up || s.CheckedAt.Before(start)):
			t.Errorf("site %d stayed up: %d checks recorded (want 2), status %+v", st.ID, added, s)
		}
	}

	// They come back: each is announced once more, after its down.
	f.set(false, paths...)
	if err := e.mon.CheckAll(ctx); err != nil {
		t.Fatal(err)
	}
	got = e.waitTransitions(t, 2*len(flipped))
	sort.Slice(got, func(i, j int) bool { return got[i].At.Before(got[j].At) })
	if len(got) != 2*len(flipped) {
		t.Fatalf("%d transitions in all, want %d", len(got), 2*len(flipped))
	}
	for _, ev := range got[len(flipped):] {
		if !ev.Up || !flipped[ev.Site.ID] || ev.Since == nil {
			t.Errorf("unexpected transition %+v", ev)
		}
	}
}
