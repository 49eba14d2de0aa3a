// Package alarm logs a lasting trouble the way an operator wants to read
// it: one ERROR when it starts, one a minute while it lasts, and one INFO
// when it ends, however often the trouble is seen in between.
package alarm

import (
	"log/slog"
	"sync"
	"time"
)

// Every is how often a lasting trouble is logged again.
const Every = time.Minute

// Alarm is one kind of trouble, raised and cleared from any goroutine.
type Alarm struct {
	log  *slog.Logger
	what string
	now  func() time.Time

	mu      sync.Mutex
	since   time.Time // zero while all is well
	logged  time.Time
	seen    int
	lastErr string
}

// New returns an alarm whose messages start with what, as in "the database
// is unreachable".
func New(log *slog.Logger, what string) *Alarm {
	return &Alarm{log: log, what: what, now: time.Now}
}

// Raise reports that the trouble is present, with the latest cause. It logs
// an ERROR when the trouble starts and at most once every minute after.
func (a *Alarm) Raise(cause string, attrs ...any) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	a.seen++
	a.lastErr = cause
	if a.since.IsZero() {
		a.since, a.logged, a.seen = now, now, 1
		a.log.Error(a.what, append([]any{"cause", cause}, attrs...)...)
		return
	}
	if now.Sub(a.logged) >= Every {
		a.log.Error(a.what+" (still)", append([]any{"cause", cause, "for", now.Sub(a.since).Round(time.Second),
			"times_seen", a.seen}, attrs...)...)
		a.logged = now
	}
}

// Clear reports that all is well. When the trouble was present, it logs
// once, at INFO, how long it lasted.
func (a *Alarm) Clear() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.since.IsZero() {
		return
	}
	a.log.Info(a.what+": over", "lasted", a.now().Sub(a.since).Round(time.Second), "times_seen", a.seen,
		"last_cause", a.lastErr)
	a.since, a.seen, a.lastErr = time.Time{}, 0, ""
}

// Raised reports whether the trouble is present, and since when.
func (a *Alarm) Raised() (bool, time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return !a.since.IsZero(), a.since
}
