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

// The reads of every site share one bound, whichever endpoint they come
// through, and cheap reads are not held by it.
func TestExpensiveReadsShareOneBound(t *testing.T) {
	srv := NewServer(slog.New(slog.DiscardHandler), "")
	streamed := make(chan struct{})
	stream := func(r *http.Request) (any, error) {
		return Stream(func(w io.Writer) error { <-streamed; return nil }), nil
	}
	srv.Handle("GET /all-sites", srv.Expensive(stream))
	srv.Handle("GET /all-states", srv.Expensive(stream))
	srv.Handle("GET /some", func(r *http.Request) (any, error) { return map[string]int{"n": 1}, nil })
	call := func(path, client string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "http://127.0.0.1"+path, nil)
		req.RemoteAddr = client + ":1234"
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		return rec
	}
	var wg sync.WaitGroup
	for i := range ExpensiveOverall {
		path := []string{"/all-sites", "/all-states"}[i%2]
		wg.Go(func() { call(path, "10.0.0."+string(rune('1'+i))) })
	}
	for busy := 0; busy < ExpensiveOverall; {
		srv.reads.mu.Lock()
		busy = srv.reads.total
		srv.reads.mu.Unlock()
	}
	for _, path := range []string{"/all-sites", "/all-states"} {
		if rec := call(path, "10.0.0.9"); rec.Code != 429 || rec.Header().Get("Retry-After") == "" {
			t.Errorf("%s beyond the bound: %d, want 429 with Retry-After", path, rec.Code)
		}
	}
	if rec := call("/some", "10.0.0.9"); rec.Code != 200 {
		t.Errorf("a cheap read while the expensive ones are full: %d, want 200", rec.Code)
	}
	close(streamed)
	wg.Wait()
}
