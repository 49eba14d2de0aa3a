package api

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncLog is a log that tests read while the server writes it.
type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// After ten wrong keys in a minute a client is answered 429 for a minute,
// right key or not, and the others are not; the wrong keys are logged once
// a minute per client, with its address.
func TestWrongKeysAreThrottled(t *testing.T) {
	var log syncLog
	s := NewServer(slog.New(slog.NewTextHandler(&log, nil)), "the-key")
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	s.keys.now = func() time.Time { return now }
	s.Handle("POST /thing", func(r *http.Request) (any, error) { return map[string]bool{"ok": true}, nil }, Doc{})
	send := func(from, key string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "/thing", strings.NewReader("{}"))
		r.RemoteAddr, r.Host = from+":40000", "127.0.0.1:4000"
		if key != "" {
			r.Header.Set("Authorization", "Bearer "+key)
		}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		return w
	}
	const attacker, other = "203.0.113.7", "198.51.100.2"
	for i := 1; i <= 10; i++ {
		if w := send(attacker, "guess"); w.Code != 401 {
			t.Fatalf("wrong key %d: %d, want 401", i, w.Code)
		}
	}
	w := send(attacker, "guess")
	if w.Code != 429 || w.Header().Get("Retry-After") == "" {
		t.Fatalf("the 11th wrong key in a minute: %d, Retry-After %q; want 429 with Retry-After", w.Code, w.Header().Get("Retry-After"))
	}
	if w := send(attacker, "the-key"); w.Code != 429 {
		t.Errorf("the right key from a blocked client: %d, want 429", w.Code)
	}
	if w := send(other, "the-key"); w.Code != 200 {
		t.Errorf("another client with the right key: %d, want 200", w.Code)
	}
	if w := send(other, ""); w.Code != 401 {
		t.Errorf("another client without a key: %d, want 401", w.Code)
	}
	if n := strings.Count(log.String(), "refused requests with a wrong API key"); n != 1 ||
		!strings.Contains(log.String(), "client="+attacker) {
		t.Errorf("%d log lines about wrong keys in the first minute, want 1 naming %s:\n%s", n, attacker, log.String())
	}
	now = now.Add(61 * time.Second)
	if w := send(attacker, "the-key"); w.Code != 200 {
		t.Errorf("the right key a minute later: %d, want 200", w.Code)
	}
	if w := send(attacker, "guess"); w.Code != 401 {
		t.Errorf("a wrong key a minute later: %d, want 401", w.Code)
	}
	if n := strings.Count(log.String(), "refused requests with a wrong API key"); n != 2 {
		t.Errorf("%d log lines about wrong keys after two minutes, want 2", n)
	}
	// Nine wrong keys a minute never block.
	for minute := 0; minute < 3; minute++ {
		now = now.Add(time.Minute)
		for i := 0; i < 8; i++ {
			if w := send(other, "guess"); w.Code != 401 {
				t.Fatalf("minute %d, wrong key %d from a slow client: %d, want 401", minute, i, w.Code)
			}
		}
	}
}

// Requests are logged at INFO when they fail or are slow, at DEBUG else,
// and all at INFO with LogRequests.
func TestRequestLogLevels(t *testing.T) {
	var log syncLog
	s := NewServer(slog.New(slog.NewTextHandler(&log, nil)), "")
	s.Handle("GET /fine", func(r *http.Request) (any, error) { return nil, nil }, Doc{})
	get := func(path string) {
		r := httptest.NewRequest("GET", path, nil)
		r.Host = "127.0.0.1:4000"
		s.ServeHTTP(httptest.NewRecorder(), r)
	}
	get("/fine")
	get("/missing")
	if out := log.String(); strings.Contains(out, "path=/fine") || !strings.Contains(out, "path=/missing status=404") {
		t.Errorf("the log at INFO:\n%s\nwant the 404 and not the 200", out)
	}
	s.LogRequests(true)
	get("/fine")
	if out := log.String(); !strings.Contains(out, "level=INFO msg=request method=GET path=/fine status=200") {
		t.Errorf("with LogRequests, the log:\n%s\nwant the 200 too", out)
	}
}
