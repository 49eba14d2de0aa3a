package api

import (
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
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

// ClientAddr is the client's IP address, without the port: the one the
// server found (behind a trusted proxy, the one it forwarded for; see
// TrustProxies), else the connection's.
func ClientAddr(r *http.Request) string {
	if c, ok := r.Context().Value(clientKey{}).(string); ok {
		return c
	}
	return remoteHost(r)
}

func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

type clientKey struct{}

// TrustProxies names the proxies (load balancers, TLS terminators) whose
// X-Forwarded-For says who the client is. It is meant for start-up
// wiring.
func (s *Server) TrustProxies(prefixes []netip.Prefix) { s.proxies = prefixes }

// client is the request's client: the connection's address, or, when that
// is a trusted proxy, the last address in X-Forwarded-For that is not one
// (what a client writes there itself comes before, and is not believed).
func (s *Server) client(r *http.Request) string {
	addr := remoteHost(r)
	if !s.trusted(addr) {
		return addr
	}
	var hops []string
	for _, h := range r.Header.Values("X-Forwarded-For") {
		for _, a := range strings.Split(h, ",") {
			if a = strings.TrimSpace(a); a != "" {
				hops = append(hops, a)
			}
		}
	}
	for i := len(hops) - 1; i >= 0; i-- {
		ip, err := netip.ParseAddr(hops[i])
		if err != nil {
			return addr // not an address: nothing before it is believed
		}
		if !s.trusted(ip.Unmap().String()) {
			return ip.Unmap().String()
		}
		addr = ip.Unmap().String()
	}
	return addr
}

func (s *Server) trusted(addr string) bool {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	for _, p := range s.proxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
