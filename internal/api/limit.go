package api

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"

	"uptime/internal/errs"
)

// Limiter bounds how many expensive requests (ones that make the server
// fetch URLs) run at once, for each client and overall. A request beyond
// either bound is answered at once with 429 resource_exhausted and a
// Retry-After, rather than queued: queued requests hold memory and
// sockets, and a client that floods is told to slow down.
type Limiter struct {
	perClient, overall int

	mu      sync.Mutex
	total   int
	clients map[string]int
}

// Default bounds: a dashboard or a script needs a few at once; a hundred
// checks in flight are as many as check-all runs.
const (
	DefaultPerClient = 8
	DefaultOverall   = 64
)

// NewLimiter returns a limiter of perClient requests in flight for each
// client address and overall in all.
func NewLimiter(perClient, overall int) *Limiter {
	return &Limiter{perClient: perClient, overall: overall, clients: make(map[string]int)}
}

// RetryAfter is what a refused request is told to wait, in seconds.
const RetryAfter = 1

// Wrap applies the limiter to an endpoint.
func (l *Limiter) Wrap(e Endpoint) Endpoint {
	return func(r *http.Request) (any, error) {
		client := ClientAddr(r)
		if !l.acquire(client) {
			return nil, &httpError{err: errs.Errorf(errs.ResourceExhausted, "too many requests of this kind at once; retry in a second"),
				header: http.Header{"Retry-After": {strconv.Itoa(RetryAfter)}}}
		}
		resp, err := e(r)
		if stream, ok := resp.(Stream); ok && err == nil {
			// The work of a stream is done as it is written: the slot is
			// held until then.
			return Stream(func(w io.Writer) error {
				defer l.release(client)
				return stream(w)
			}), nil
		}
		l.release(client)
		return resp, err
	}
}

func (l *Limiter) acquire(client string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total >= l.overall || l.clients[client] >= l.perClient {
		return false
	}
	l.total++
	l.clients[client]++
	return true
}

func (l *Limiter) release(client string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.clients[client]--; l.clients[client] <= 0 {
		delete(l.clients, client)
	}
}

// clientAddr is the client's IP address, without the port.
func ClientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
