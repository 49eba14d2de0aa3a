package api

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

func TestLimiterBoundsEachClientAndAll(t *testing.T) {
	srv := NewServer(slog.New(slog.DiscardHandler), "")
	release := make(chan struct{})
	var entered sync.WaitGroup
	lim := NewLimiter(2, 3)
	srv.Handle("POST /slow", lim.Wrap(func(r *http.Request) (any, error) {
		entered.Done()
		<-release
		return nil, nil
	}))
	streamed := make(chan struct{})
	srv.Handle("GET /stream", lim.Wrap(func(r *http.Request) (any, error) {
		return Stream(func(w io.Writer) error { <-streamed; return nil }), nil
	}))
	call := func(method, path, client string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, "http://127.0.0.1"+path, nil)
		req.RemoteAddr = client + ":1234"
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		return rec
	}
	var wg sync.WaitGroup
	for _, client := range []string{"10.0.0.1", "10.0.0.1", "10.0.0.2"} {
		entered.Add(1)
		wg.Go(func() {
			if rec := call("POST", "/slow", client); rec.Code != 200 {
				t.Errorf("request within the limits: %d", rec.Code)
			}
		})
	}
	entered.Wait()
	for _, tt := range []struct{ name, client string }{{"third from one client", "10.0.0.1"}, {"fourth overall", "10.0.0.3"}} {
		rec := call("POST", "/slow", tt.client)
		if rec.Code != 429 || rec.Header().Get("Retry-After") != "1" {
			t.Errorf("%s: %d Retry-After %q %s, want 429 with Retry-After 1", tt.name, rec.Code, rec.Header().Get("Retry-After"), rec.Body)
		}
	}
	close(release)
	wg.Wait()

	// A stream keeps its slot until it has been written.
	for range 2 {
		wg.Go(func() { call("GET", "/stream", "10.0.0.4") })
	}
	for busy := 0; busy < 2; {
		lim.mu.Lock()
		busy = lim.total
		lim.mu.Unlock()
	}
	if rec := call("GET", "/stream", "10.0.0.4"); rec.Code != 429 {
		t.Errorf("a third stream while two are being written: %d, want 429", rec.Code)
	}
	close(streamed)
	wg.Wait()
	if lim.total != 0 || len(lim.clients) != 0 {
		t.Fatalf("slots left after every request ended: %d, %v", lim.total, lim.clients)
	}
}
