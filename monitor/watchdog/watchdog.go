// Package watchdog notices when checking has stopped: it looks at when a
// check last completed on any instance, raises an alarm (and makes the
// instance unready) when none has for two of the shortest intervals while
// sites are due, and, while checks complete, pings a heartbeat URL as a
// dead man's switch expects, so that the outside world notices too.
package watchdog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"uptime/internal/alarm"
	"uptime/internal/text"
	"uptime/internal/version"
)

// Watchdog watches the monitor's database for completed checks.
type Watchdog struct {
	db         *pgxpool.Pool
	every      time.Duration // how often it looks
	beatEvery  time.Duration // how often it pings the heartbeat
	url        string        // the heartbeat URL; empty for none
	client     *http.Client
	log        *slog.Logger
	stall      *alarm.Alarm
	stallAfter atomic.Int64 // the limit when it last saw a stall

	healthy      func(context.Context) // called while checking is healthy
	healthyEvery time.Duration

	// due is what it last counted of the sites due, at countedAt.
	due       due
	countedAt time.Time
}

// due is how many sites are due and the shortest of their intervals, in
// milliseconds (nil with none).
type due struct {
	n       int64
	minIvMS *int64
}

// recountEvery is how often the watchdog counts the sites due while
// checks complete: the count scans every site, the look between counts
// reads one row.
const recountEvery = time.Minute

// OnHealthy has f called, at most once every every, while checking is
// healthy: not stalled, whether checks complete or none is due. Set it
// before Run.
func (w *Watchdog) OnHealthy(every time.Duration, f func(context.Context)) {
	w.healthy, w.healthyEvery = f, every
}

// New returns a watchdog for sites checked, by default, every checkEvery;
// it pings heartbeatURL (if any) once every checkEvery while checks
// complete.
func New(db *pgxpool.Pool, checkEvery time.Duration, heartbeatURL string, log *slog.Logger) *Watchdog {
	return &Watchdog{
		db:        db,
		every:     min(max(checkEvery/4, 250*time.Millisecond), 5*time.Second),
		beatEvery: checkEvery,
		url:       heartbeatURL,
		client:    &http.Client{Timeout: 10 * time.Second},
		log:       log,
		stall:     alarm.New(log, "scheduled checking has stopped"),
	}
}

// Run looks until ctx ends. When checking has stopped it says so at
// ERROR, Stalled turns true, and the heartbeat stops.
func (w *Watchdog) Run(ctx context.Context) {
	started := time.Now()
	var lastBeat, lastHealthy time.Time
	t := time.NewTicker(w.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		seen, err := w.look(ctx, started, lastBeat)
		if err != nil {
			continue // the database is away: /readyz and the outage alarm say so
		}
		if seen.stalled {
			w.stall.Raise(seen.why, "stall_after", seen.after)
			w.stallAfter.Store(int64(seen.after))
			continue
		}
		w.stall.Clear()
		if w.healthy != nil && time.Since(lastHealthy) >= w.healthyEvery {
			lastHealthy = time.Now()
			w.healthy(ctx)
		}
		if seen.last.After(lastBeat) && time.Since(lastBeat) >= w.beatEvery {
			lastBeat = time.Now()
			w.beat(ctx)
		}
	}
}

// seen is what the watchdog saw.
type seen struct {
	stalled bool
	why     string
	after   time.Duration // how long no check may complete
	last    time.Time     // when a check last completed
}

// look tells whether no check has completed for two of the shortest
// intervals while sites are due, and why. Between counts of the sites due
// it first looks for one check completed in the latest interval (and
// after the last heartbeat), which at any scale is a row or two; only
// when there is none does it count the sites and find the latest check.
func (w *Watchdog) look(ctx context.Context, started, lastBeat time.Time) (seen, error) {
	if d := w.due; time.Since(w.countedAt) < recountEvery && d.minIvMS != nil {
		after := 2 * time.Duration(*d.minIvMS) * time.Millisecond
		var at time.Time
		err := w.db.QueryRow(ctx, `SELECT checked_at FROM site_state WHERE checked_at > $1 LIMIT 1`,
			later(time.Now().Add(-after/2), lastBeat)).Scan(&at)
		if err == nil {
			return seen{after: after, last: at}, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return seen{}, err
		}
	}
	var (
		s        seen
		d        due
		lastSeen *time.Time
	)
	if err := w.db.QueryRow(ctx, `SELECT count(*), min(interval_ms), (SELECT max(checked_at) FROM site_state)
		FROM monitored WHERE NOT paused`).Scan(&d.n, &d.minIvMS, &lastSeen); err != nil {
		return s, err
	}
	w.due, w.countedAt = d, time.Now()
	since := started
	if lastSeen != nil {
		s.last = *lastSeen
		if lastSeen.After(since) {
			since = *lastSeen
		}
	}
	if d.n == 0 || d.minIvMS == nil {
		return s, nil
	}
	s.after = 2 * time.Duration(*d.minIvMS) * time.Millisecond
	idle := time.Since(since)
	if idle <= s.after {
		return s, nil
	}
	s.stalled = true
	s.why = fmt.Sprintf("no check has completed for %s while %d sites are due", idle.Round(time.Second), d.n)
	return s, nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Stalled reports whether checking has stopped, and why; /readyz answers
// from it.
func (w *Watchdog) Stalled() (bool, string) {
	raised, since := w.stall.Raised()
	if !raised {
		return false, ""
	}
	after := time.Duration(w.stallAfter.Load())
	return true, fmt.Sprintf("no check has completed since %s", since.Add(-after).UTC().Format(time.RFC3339))
}

// beat pings the heartbeat URL. A failed ping is logged, never retried:
// the next one comes an interval later.
func (w *Watchdog) beat(ctx context.Context) {
	if w.url == "" {
		return
	}
	if stalled, _ := w.Stalled(); stalled {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.url, nil)
	if err != nil {
		w.log.Warn("heartbeat URL is not valid", "err", text.LogError(err))
		return
	}
	req.Header.Set("User-Agent", version.UserAgent)
	resp, err := w.client.Do(req)
	if err != nil {
		w.log.Warn("heartbeat ping failed", "url", text.LogURL(w.url), "err", text.LogError(err))
		return
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		w.log.Warn("heartbeat ping refused", "url", text.LogURL(w.url), "status", resp.StatusCode)
	}
}
