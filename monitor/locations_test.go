package monitor_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"uptime/internal/wait"
	"uptime/monitor"
	"uptime/monitor/check"
	"uptime/monitor/history"
	"uptime/monitor/locations"
)

// Checks name their location in the User-Agent and in the history, and
// GET /location lists the location with this instance, alive.
func TestChecksNameTheirLocation(t *testing.T) {
	e := setup(t, setupOpts{opts: monitor.Options{Location: "eu-west", Version: "v1.2.3"}})
	var mu sync.Mutex
	var agents []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		agents = append(agents, r.UserAgent())
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	id := e.addWithSettings(t, srv.URL, `"interval": "1h"`)
	e.check(t, id)
	e.checkAll(t)
	mu.Lock()
	for _, ua := range agents {
		if ua != check.LocationAgent("eu-west") || ua != "Uptime/1.0 (uptime monitor; +https://github.com/encoredev/examples/tree/main/uptime; location eu-west)" {
			t.Errorf("User-Agent %q, want the location named", ua)
		}
	}
	mu.Unlock()
	var h history.HistoryResponse
	e.Call(t, "GET", fmt.Sprintf("/history/%d", id), "", &h)
	if len(h.Checks) < 3 {
		t.Fatalf("history %+v, want the checks", h.Checks)
	}
	for _, c := range h.Checks {
		if c.Location != "eu-west" {
			t.Errorf("a check from %q, want eu-west", c.Location)
		}
	}
	var locs locations.LocationsResponse
	wait.For(t, 10*time.Second, func() error {
		e.Call(t, "GET", "/location", "", &locs)
		if len(locs.Locations) == 1 {
			return nil
		}
		return fmt.Errorf("locations %+v, want this instance's", locs)
	})
	l := locs.Locations[0]
	if l.Name != "eu-west" || !l.Alive || len(l.Instances) != 1 || l.Instances[0].Version != "v1.2.3" || !l.Instances[0].Alive {
		t.Errorf("location %+v, want eu-west alive with this instance", l)
	}
}
