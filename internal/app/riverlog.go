package app

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"uptime/internal/alarm"
)

// quiet is the logger River gets. River reports its routine work at INFO,
// and while the database is away every part of it says so, many times a
// second; so it passes on only warnings and errors, each message at most
// once a minute, and a record whose error says the database cannot be
// reached raises dbDown instead, which says it once. What its parts say
// of being cut short as the program stops is dropped.
func quiet(log *slog.Logger, dbDown *alarm.Alarm) *slog.Logger {
	return slog.New(riverLog{next: log.Handler(), down: dbDown, seen: &lastSeen{at: map[string]time.Time{}}})
}

type riverLog struct {
	next slog.Handler
	down *alarm.Alarm
	seen *lastSeen // shared by the handlers made With attributes
}

type lastSeen struct {
	mu sync.Mutex
	at map[string]time.Time
}

// outageSigns are what connection failures to PostgreSQL say.
var outageSigns = []string{"failed to connect", "connection refused", "SQLSTATE 57P0", "SQLSTATE 08",
	"conn closed", "connection reset", "broken pipe", "unexpected EOF"}

func (h riverLog) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && h.next.Enabled(ctx, l)
}

func (h riverLog) Handle(ctx context.Context, r slog.Record) error {
	var cause string
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "err" || a.Key == "error" {
			cause = a.Value.String()
		}
		return cause == ""
	})
	if strings.Contains(cause, "context canceled") {
		return nil // a part of River cut short as the program stops: no trouble
	}
	for _, sign := range outageSigns {
		if strings.Contains(cause, sign) {
			h.down.Raise(r.Message + ": " + cause)
			return nil
		}
	}
	key := r.Level.String() + r.Message
	h.seen.mu.Lock()
	if time.Since(h.seen.at[key]) < time.Minute {
		h.seen.mu.Unlock()
		return nil
	}
	h.seen.at[key] = time.Now()
	h.seen.mu.Unlock()
	return h.next.Handle(ctx, r)
}

func (h riverLog) WithAttrs(attrs []slog.Attr) slog.Handler {
	h.next = h.next.WithAttrs(attrs)
	return h
}

func (h riverLog) WithGroup(name string) slog.Handler {
	h.next = h.next.WithGroup(name)
	return h
}
