// Package fakeslack is a Slack incoming webhook on loopback for tests: it
// records what it is sent and can be told to fail.
package fakeslack

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"uptime/internal/wait"
)

// Server is a fake Slack webhook.
type Server struct {
	*httptest.Server
	mu       sync.Mutex
	bodies   []string
	attempts int
	fail     int // status to answer with; 0 means 200
	header   http.Header
	delay    time.Duration
}

// Delay makes the webhook take d to answer, after it has the message.
func (s *Server) Delay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// New starts a fake webhook, closed when the test ends.
func New(t testing.TB) *Server {
	s := &Server{}
	s.Server = httptest.NewServer(s)
	t.Cleanup(s.Close)
	return s
}

// Fail makes the webhook answer status (with a Slack-like body) until it
// is called with 0. headers are sent with the failures.
func (s *Server) Fail(status int, headers ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = status
	s.header = http.Header{}
	for i := 0; i+1 < len(headers); i += 2 {
		s.header.Set(headers[i], headers[i+1])
	}
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts++
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	if s.fail != 0 {
		for k, v := range s.header {
			w.Header()[k] = v
		}
		http.Error(w, "service_unavailable", s.fail)
		return
	}
	// Slack posts a message once it has it, whether or not its answer
	// reaches the sender.
	s.bodies = append(s.bodies, string(body))
	if s.delay > 0 {
		s.mu.Unlock()
		time.Sleep(s.delay)
		s.mu.Lock()
	}
	io.WriteString(w, "ok")
}

// Bodies returns the request bodies accepted so far.
func (s *Server) Bodies() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.bodies...)
}

// Attempts counts every request, accepted or not.
func (s *Server) Attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

// Wait waits up to timeout for n accepted messages, then a moment more to
// catch extra ones, and returns them all.
func (s *Server) Wait(n int, timeout time.Duration) []string {
	wait.Poll(timeout, func() error {
		if len(s.Bodies()) < n {
			return errors.New("too few")
		}
		return nil
	})
	time.Sleep(300 * time.Millisecond) // an extra message would come meanwhile
	return s.Bodies()
}
