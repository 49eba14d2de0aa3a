package monitor

import (
	"context"
	"fmt"
	"sync"
)

// Start starts the monitor's own background work: announcing this
// instance's location, the watchdog that notices when checks stop
// completing, and the stand-in that schedules while the leader is lost.
// It goes on until Stop, whatever becomes of ctx.
func (s *Service) Start(ctx context.Context) error {
	ctx, cancel := s.untilStopped(context.WithoutCancel(ctx))
	var work sync.WaitGroup
	work.Go(func() { s.locations.Announce(ctx) })
	work.Go(func() { s.watchdog.Run(ctx) })
	if !s.opts.Probe { // a probe never schedules, and push sites' signals come to full instances
		work.Go(func() { s.scheduler.StandIn(ctx) })
		work.Go(func() { s.watchDeadlines(ctx) })
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

// Stalled reports whether checking has stopped, and why; /readyz answers
// from it.
func (s *Service) Stalled() (bool, string) { return s.watchdog.Stalled() }
