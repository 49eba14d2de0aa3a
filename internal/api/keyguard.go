package api

import (
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// Wrong API keys: a client that sends more than keyFailures wrong keys in
// a minute is answered 429 for keyBlock, whatever it sends, so that a key
// cannot be guessed at the speed of the network.
const (
	keyFailures = 10
	keyWindow   = time.Minute
	keyBlock    = time.Minute
)

// keyGuard counts the wrong keys of each client address, and logs them
// once a minute per client.
type keyGuard struct {
	log *slog.Logger
	now func() time.Time

	mu      sync.Mutex
	clients map[string]*keyRecord
}

type keyRecord struct {
	windowStart  time.Time // the start of the minute counted
	failures     int       // wrong keys since windowStart
	blockedUntil time.Time
	loggedAt     time.Time // when the last log line about it was written
	unlogged     int       // wrong keys since that line
}

func newKeyGuard(log *slog.Logger) *keyGuard {
	return &keyGuard{log: log, now: time.Now, clients: map[string]*keyRecord{}}
}

// blocked returns how long the client is still refused, if it is.
func (g *keyGuard) blocked(client string) (time.Duration, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	rec, ok := g.clients[client]
	if !ok {
		return 0, false
	}
	left := rec.blockedUntil.Sub(g.now())
	return left, left > 0
}

// failed counts a wrong key from the client.
func (g *keyGuard) failed(r *http.Request, client string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	if len(g.clients) > 10_000 {
		g.forgetOld(now)
	}
	rec, ok := g.clients[client]
	if !ok {
		rec = &keyRecord{windowStart: now}
		g.clients[client] = rec
	}
	if now.Sub(rec.windowStart) >= keyWindow {
		rec.windowStart, rec.failures = now, 0
	}
	rec.failures++
	rec.unlogged++
	if rec.failures >= keyFailures {
		rec.blockedUntil = now.Add(keyBlock)
	}
	if now.Sub(rec.loggedAt) >= time.Minute {
		g.log.WarnContext(r.Context(), "refused requests with a wrong API key or token", "client", client,
			"wrong_keys", rec.unlogged, "blocked", rec.failures >= keyFailures,
			"path", logPath(r))
		rec.loggedAt, rec.unlogged = now, 0
	}
}

// forgetOld drops the clients that have nothing left to count.
func (g *keyGuard) forgetOld(now time.Time) {
	for c, rec := range g.clients {
		if now.Sub(rec.windowStart) >= keyWindow && !now.Before(rec.blockedUntil) && now.Sub(rec.loggedAt) >= time.Minute {
			delete(g.clients, c)
		}
	}
}
