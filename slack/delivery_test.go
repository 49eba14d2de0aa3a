package slack_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"uptime/internal/app"
	"uptime/internal/apptest"
	"uptime/internal/fakeslack"
	"uptime/internal/pgtest"
	"uptime/internal/wait"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// flippable is a site the test turns down (503) and up (200).
func flippable(t *testing.T) (*httptest.Server, *atomic.Int32) {
	var status atomic.Int32
	status.Store(200)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(int(status.Load()))
	}))
	t.Cleanup(srv.Close)
	return srv, &status
}

func startApp(t *testing.T, fake *fakeslack.Server) *apptest.App {
	return apptest.Start(t, apptest.Setup{
		Env:     map[string]string{"SLACK_WEBHOOK_URL": fake.URL + "/services/T/B/x"},
		Options: app.Options{RetryBackoff: 200 * time.Millisecond},
	})
}

func TestTransitionsReachSlackOnce(t *testing.T) {
	fake := fakeslack.New(t)
	a := startApp(t, fake)
	srv, status := flippable(t)
	id := a.AddSite(t, srv.URL)
	a.Call(t, "POST", fmt.Sprintf("/check/%d", id), "", nil)

	status.Store(503)
	for range 3 {
		a.Call(t, "POST", fmt.Sprintf("/check/%d", id), "", nil)
	}
	got := fake.Wait(1, 15*time.Second)
	want := fmt.Sprintf(`{"text":"*%s is down!*\nHTTP 503"}`, srv.URL)
	if len(got) != 1 || got[0] != want {
		t.Fatalf("Slack got %q, want exactly %q", got, want)
	}

	status.Store(200)
	for range 3 {
		a.Call(t, "POST", "/check-all", "", nil)
	}
	got = fake.Wait(2, 15*time.Second)
	if len(got) != 2 || !strings.HasPrefix(got[1], fmt.Sprintf(`{"text":"*%s is back up.*`, srv.URL)) {
		t.Fatalf("Slack got %q, want the down message and then one back-up message", got)
	}
}

func TestNothingIsLostWhileSlackFails(t *testing.T) {
	fake := fakeslack.New(t)
	fake.Fail(500)
	a := startApp(t, fake)
	var urls []string
	var flips []*atomic.Int32
	for range 3 {
		srv, status := flippable(t)
		urls = append(urls, srv.URL)
		flips = append(flips, status)
		a.AddSite(t, srv.URL)
	}
	a.Call(t, "POST", "/check-all", "", nil)
	for _, f := range flips {
		f.Store(503)
	}
	a.Call(t, "POST", "/check-all", "", nil)
	// Slack keeps failing for a while: every delivery is tried and retried.
	wait.For(t, 15*time.Second, func() error {
		if n := fake.Attempts(); n < 6 {
			return fmt.Errorf("only %d delivery attempts while Slack failed; want retries", n)
		}
		return nil
	})
	fake.Fail(0)
	got := fake.Wait(3, 30*time.Second)
	if len(got) != 3 {
		t.Fatalf("after Slack recovered it got %d messages, want 3: %q", len(got), got)
	}
	for _, u := range urls {
		n := 0
		for _, b := range got {
			if strings.Contains(b, u+" is down!") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d down messages for %s, want 1: %q", n, u, got)
		}
	}
}
