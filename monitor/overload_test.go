package monitor_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// TestConcurrentCheckAllsJoinOneRun fires 50 check-alls at once, more than
// the monitor has database connections, at sites of which some take a
// second to answer. The waiting requests must hold no connection: the API
// keeps answering within a second, the runs record every check, and the
// requests join a run instead of queuing one each.
func TestConcurrentCheckAllsJoinOneRun(t *testing.T) {
	e := setup(t, setupOpts{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Second)
	}))
	defer slow.Close()
	var ids []int64
	for i := range 20 {
		_, fast := newSwitchable(t, 200)
		url := fast.URL + fmt.Sprintf("/%d", i)
		if i%5 == 0 {
			url = slow.URL + fmt.Sprintf("/%d", i)
		}
		ids = append(ids, e.addSite(t, url).ID)
	}
	before := map[int64]int{}
	for _, id := range ids {
		before[id] = e.countChecks(t, id)
	}

	const n = 50
	statuses := make([]int, n)
	retryAfter := make([]string, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			resp, err := http.Post(e.URL+"/check-all", "", nil)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			statuses[i], retryAfter[i] = resp.StatusCode, resp.Header.Get("Retry-After")
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	close(start)

	var worst time.Duration
	for polling := true; polling; {
		select {
		case <-done:
			polling = false
		case <-time.After(100 * time.Millisecond):
		}
		t0 := time.Now()
		e.status(t)
		worst = max(worst, time.Since(t0))
	}
	if worst > time.Second {
		t.Errorf("GET /status took %s during 50 concurrent check-alls, want under 1s", worst)
	}

	var ok int
	for i, s := range statuses {
		switch {
		case s == 200:
			ok++
		case s == 429 && retryAfter[i] == "1":
		default:
			t.Errorf("check-all %d: status %d (Retry-After %q), want 200, or 429 with Retry-After", i, s, retryAfter[i])
		}
	}
	if ok == 0 {
		t.Fatal("no check-all answered 200")
	}
	for _, id := range ids {
		got := e.countChecks(t, id) - before[id]
		// Every request that got 200 saw every site checked, but they
		// joined runs: a handful, not one each.
		if got < 1 || got > 4 {
			t.Errorf("site %d: %d new checks for %d successful check-alls, want 1 to 4 (runs are joined)", id, got, ok)
		}
	}
}
