package monitor

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"uptime/internal/api"
)

// Start starts the monitor's own background work: the watchdog that
// notices when checks stop completing. Stop ends it.
func (s *Service) Start() {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.watch(s.ctx)
	}()
}

// Stop cancels the check-all run going, if any, and the watchdog, and
// waits for them. Checks already made are still recorded.
func (s *Service) Stop() {
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// stallAfter is how long no check may complete while sites are due before
// the monitor counts itself stalled: two of the shortest intervals.
func (s *Service) stallAfter() time.Duration { return 2 * s.opts.CheckEvery }

// watch looks, a few times an interval, at when a check last completed on
// any instance. When none has for stallAfter while there are sites to
// check, checking has stopped: it says so at ERROR, Stalled turns true
// (and /readyz unready), and the heartbeat stops, so that the outside
// world notices too.
func (s *Service) watch(ctx context.Context) {
	started := time.Now()
	every := min(max(s.opts.CheckEvery/4, 250*time.Millisecond), 30*time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		stalled, why, err := s.stalled(ctx, started)
		if err != nil {
			continue // the database is away: /readyz and the outage alarm say so
		}
		if stalled {
			s.stall.Raise(why, "stall_after", s.stallAfter())
		} else {
			s.stall.Clear()
		}
	}
}

// stalled reports whether no check has completed for stallAfter while
// sites are due, and why.
func (s *Service) stalled(ctx context.Context, started time.Time) (bool, string, error) {
	n, err := s.sites.Count(ctx)
	if err != nil || n == 0 {
		return false, "", err
	}
	var last *time.Time
	if err := s.db.QueryRow(ctx, "SELECT max(checked_at) FROM site_state").Scan(&last); err != nil {
		return false, "", err
	}
	since := started
	if last != nil && last.After(since) {
		since = *last
	}
	idle := time.Since(since)
	if idle <= s.stallAfter() {
		return false, "", nil
	}
	return true, fmt.Sprintf("no check has completed for %s while %d sites are due", idle.Round(time.Second), n), nil
}

// Stalled reports whether checking has stopped, and why; /readyz answers
// from it.
func (s *Service) Stalled() (bool, string) {
	raised, since := s.stall.Raised()
	if !raised {
		return false, ""
	}
	return true, fmt.Sprintf("no check has completed since %s", since.Add(-s.stallAfter()).UTC().Format(time.RFC3339))
}

// roundDone pings the heartbeat URL after a healthy round, as a dead man's
// switch (Healthchecks.io, Cronitor...) expects, so that an outside service
// notices when this one stops. A failed ping is logged, never retried: the
// next round pings again.
func (s *Service) roundDone(ctx context.Context) {
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
		s.log.Warn("heartbeat URL is not valid", "err", api.Redact(err.Error()))
		return
	}
	req.Header.Set("User-Agent", UserAgent)
	resp, err := s.heartbeat.Do(req)
	if err != nil {
		s.log.Warn("heartbeat ping failed", "url", api.Redact(s.opts.HeartbeatURL), "err", api.Redact(err.Error()))
		return
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		s.log.Warn("heartbeat ping refused", "url", api.Redact(s.opts.HeartbeatURL), "status", resp.StatusCode)
	}
}
