package monitor

import (
	"context"
	"errors"
	"time"

	"uptime/internal/errs"
)

// checkAllLock is the advisory lock a check-all run holds, so that no two
// runs overlap on any instance. PostgreSQL releases it when the process
// holding it dies, so a killed run never blocks the next.
const checkAllLock = 0x75707469 // "upti"

// lockPoll is how often a check-all that waits for another instance's run
// tries the lock again. Between tries it holds no connection.
const lockPoll = 250 * time.Millisecond

// errStopped answers a check-all asked for while the service shuts down.
var errStopped = errs.Errorf(errs.Unavailable, "the monitor is shutting down")

// run is a check-all run in this process. Callers join it rather than
// start another: thirty concurrent requests make one run, not thirty.
type run struct {
	wait bool // wait for another instance's run instead of giving up
	done chan struct{}
	ran  bool
	err  error
}

// checkAllTimeout bounds one check-all run: every check is bounded, so a
// run that lasts longer than this is stuck, not slow.
func (s *Service) checkAllTimeout() time.Duration {
	return max(2*s.opts.CheckEvery, 10*time.Minute)
}

// checkAllShared runs CheckAll with no other run going on any instance at
// the same time, and reports whether it ran.
//
// A run already going in this process is joined. Otherwise a new run
// starts; with wait it first waits for a run on another instance to end,
// without it it gives up at once when there is one. The run belongs to the
// service, not to the caller: a caller that stops waiting leaves it going
// for the others, and waiting holds no database connection.
func (s *Service) checkAllShared(ctx context.Context, wait bool) (ran bool, err error) {
	s.mu.Lock()
	r := s.running
	switch {
	case r == nil && s.stopped():
		s.mu.Unlock()
		return false, errStopped
	case r == nil:
		r = &run{wait: wait, done: make(chan struct{})}
		s.running = r
		s.wg.Add(1)
		go s.runCheckAll(r)
	case !wait:
		s.mu.Unlock()
		return false, nil
	}
	s.mu.Unlock()
	select {
	case <-r.done:
		return r.ran, r.err
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// runCheckAll runs r under the service's own context and ends it.
func (s *Service) runCheckAll(r *run) {
	defer s.wg.Done()
	ctx, cancel := s.untilStopped(context.Background())
	defer cancel()
	ctx, cancelRun := context.WithTimeout(ctx, s.checkAllTimeout())
	defer cancelRun()
	r.ran, r.err = s.lockedCheckAll(ctx, r.wait)
	s.mu.Lock()
	s.running = nil
	s.mu.Unlock()
	close(r.done)
}

// lockedCheckAll runs CheckAll under the advisory lock.
func (s *Service) lockedCheckAll(ctx context.Context, wait bool) (bool, error) {
	for {
		conn, err := s.db.Acquire(ctx)
		if err != nil {
			return false, err
		}
		var locked bool
		if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", checkAllLock).Scan(&locked); err != nil {
			conn.Release()
			return false, err
		}
		if locked {
			defer func() {
				unlockCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
				defer cancel()
				if _, err := conn.Exec(unlockCtx, "SELECT pg_advisory_unlock($1)", checkAllLock); err != nil {
					// A connection that may still hold the lock must not go back
					// to the pool.
					conn.Conn().Close(unlockCtx)
				}
				conn.Release()
			}()
			break
		}
		conn.Release()
		if !wait {
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(lockPoll):
		}
	}
	start := time.Now()
	err := s.CheckAll(ctx)
	if errors.Is(err, context.DeadlineExceeded) && !s.stopped() {
		s.log.Error("check-all cut short: it lasted longer than its limit", "limit", s.checkAllTimeout())
	}
	s.log.Info("check-all done", "duration", time.Since(start).Round(time.Millisecond), "err", err)
	return true, err
}
