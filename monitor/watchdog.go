package monitor

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"uptime/internal/text"
	"uptime/internal/version"
)

// Start starts the monitor's own background work: announcing this
// instance's location, the watchdog that notices when checks stop
// completing, and the stand-in that schedules while the leader is lost.
// It goes on until Stop, whatever becomes of ctx.
func (s *Service) Start(ctx context.Context) error {
	ctx, cancel := s.untilStopped(context.WithoutCancel(ctx))
	var work sync.WaitGroup
	work.Go(func() { s.locations.Announce(ctx) })
	work.Go(func() { s.watch(ctx) })
	if !s.opts.Probe { // a probe never schedules
		work.Go(func() { s.standIn(ctx) })
	}
	s.wg.Go(func() {
		work.Wait()
		cancel()
	})
	return nil
}

// Stop ends the check-all run going, if any, and the work Start began, and
// waits for them until ctx ends. Checks already made are still recorded.
// Once stopped, the service runs no more check-alls.
func (s *Service) Stop(ctx context.Context) error {
	s.mu.Lock()
	if !s.stopped() {
		close(s.quit)
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("the monitor's work did not end: %w", ctx.Err())
	}
}

// stopped reports whether Stop has been called.
func (s *Service) stopped() bool {
	select {
	case <-s.quit:
		return true
	default:
		return false
	}
}

// untilStopped returns a context of parent's that also ends when the
// service stops.
func (s *Service) untilStopped(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	go func() {
		select {
		case <-s.quit:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// watchEvery is how often the watchdog looks.
func (s *Service) watchEvery() time.Duration {
	return min(max(s.opts.CheckEvery/4, 250*time.Millisecond), 5*time.Second)
}

// watch looks, every watchEvery, at when a check last completed on any
// instance. When none has for two of the shortest intervals while there
// are sites to check, checking has stopped: it says so at ERROR, Stalled
// turns true (and /readyz unready), and the heartbeat stops, so that the
// outside world notices too. While checks complete, it pings the
// heartbeat once every --check-every.
func (s *Service) watch(ctx context.Context) {
	started := time.Now()
	var lastBeat time.Time
	t := time.NewTicker(s.watchEvery())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		w, err := s.stalled(ctx, started)
		if err != nil {
			continue // the database is away: /readyz and the outage alarm say so
		}
		if w.stalled {
			s.stall.Raise(w.why, "stall_after", w.after)
			s.stallAfter.Store(int64(w.after))
			continue
		}
		s.stall.Clear()
		if w.last.After(lastBeat) && time.Since(lastBeat) >= s.opts.CheckEvery {
			lastBeat = time.Now()
			s.beat(ctx)
		}
	}
}

// watched is what the watchdog saw.
type watched struct {
	stalled bool
	why     string
	after   time.Duration // how long no check may complete
	last    time.Time     // when a check last completed
}

// stalled reports whether no check has completed for two of the shortest
// intervals while sites are due, and why.
func (s *Service) stalled(ctx context.Context, started time.Time) (watched, error) {
	var (
		w        watched
		n        int64
		minIvMS  *int64
		lastSeen *time.Time
	)
	if err := s.db.QueryRow(ctx, `SELECT count(*), min(interval_ms), (SELECT max(checked_at) FROM site_state)
		FROM monitored WHERE NOT paused`).Scan(&n, &minIvMS, &lastSeen); err != nil {
		return w, err
	}
	since := started
	if lastSeen != nil {
		w.last = *lastSeen
		if lastSeen.After(since) {
			since = *lastSeen
		}
	}
	if n == 0 || minIvMS == nil {
		return w, nil
	}
	w.after = 2 * time.Duration(*minIvMS) * time.Millisecond
	idle := time.Since(since)
	if idle <= w.after {
		return w, nil
	}
	w.stalled = true
	w.why = fmt.Sprintf("no check has completed for %s while %d sites are due", idle.Round(time.Second), n)
	return w, nil
}

// Stalled reports whether checking has stopped, and why; /readyz answers
// from it.
func (s *Service) Stalled() (bool, string) {
	raised, since := s.stall.Raised()
	if !raised {
		return false, ""
	}
	after := time.Duration(s.stallAfter.Load())
	return true, fmt.Sprintf("no check has completed since %s", since.Add(-after).UTC().Format(time.RFC3339))
}

// beat pings the heartbeat URL while checks complete, as a dead man's
// switch (Healthchecks.io, Cronitor...) expects, so that an outside service
// notices when this one stops. A failed ping is logged, never retried: the
// next one comes an interval later.
func (s *Service) beat(ctx context.Context) {
	if s.opts.HeartbeatURL == "" {
		return
	}
	if stalled, _ := s.Stalled(); stalled {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.opts.HeartbeatURL, nil)
	if err != nil {
		s.log.Warn("heartbeat URL is not valid", "err", text.LogError(err))
		return
	}
	req.Header.Set("User-Agent", version.UserAgent)
	resp, err := s.heartbeat.Do(req)
	if err != nil {
		s.log.Warn("heartbeat ping failed", "url", text.LogURL(s.opts.HeartbeatURL), "err", text.LogError(err))
		return
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		s.log.Warn("heartbeat ping refused", "url", text.LogURL(s.opts.HeartbeatURL), "status", resp.StatusCode)
	}
}
