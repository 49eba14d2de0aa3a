package monitor

import (
	"context"
	"time"

	"github.com/riverqueue/river"

	"uptime/internal/api"
)

// CheckAllArgs is the cron job that checks every site.
type CheckAllArgs struct{}

// Kind is the cron job's name, as in the tutorial.
func (CheckAllArgs) Kind() string { return "check-all" }

// SiteAddedArgs asks for the first check of a site just added.
type SiteAddedArgs struct {
	// SiteID is the new site's id.
	SiteID int `json:"site_id"`
}

// Kind names the event.
func (SiteAddedArgs) Kind() string { return "site-added" }

// PruneArgs is the cron job that removes checks past the retention period.
type PruneArgs struct{}

// Kind names the job.
func (PruneArgs) Kind() string { return "prune-checks" }

func (s *Service) registerJobs() {
	river.AddWorker(s.q.Workers(), &checkAllWorker{s: s})
	river.AddWorker(s.q.Workers(), &siteAddedWorker{s: s})
	river.AddWorker(s.q.Workers(), &pruneWorker{s: s})
	s.q.Cron(s.opts.CheckEvery, CheckAllArgs{})
	s.q.Cron(time.Hour, PruneArgs{})
}

type checkAllWorker struct {
	river.WorkerDefaults[CheckAllArgs]
	s *Service
}

// checkAllLock is the advisory lock a check-all run holds, so that no two
// runs overlap on any instance even when River retries one it believes
// stuck. PostgreSQL releases it if the process holding it dies.
const checkAllLock = 0x75707469 // "upti"

func (w *checkAllWorker) Work(ctx context.Context, job *river.Job[CheckAllArgs]) error {
	ran, err := w.s.checkAllAlone(ctx, false)
	if !ran && err == nil {
		w.s.log.Warn("check-all skipped: the previous run is still going")
	}
	return err
}

// checkAllAlone runs CheckAll under the advisory lock, so that no two runs
// overlap on any instance. When another run holds it, it waits for that run
// to end if wait is set, and otherwise returns at once without running.
func (s *Service) checkAllAlone(ctx context.Context, wait bool) (ran bool, err error) {
	conn, err := s.db.Acquire(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Release()
	if wait {
		_, err = conn.Exec(ctx, "SELECT pg_advisory_lock($1)", checkAllLock)
	} else {
		err = conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", checkAllLock).Scan(&ran)
	}
	if err != nil || (!wait && !ran) {
		return false, err
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", checkAllLock)
	start := time.Now()
	err = s.CheckAll(ctx)
	s.log.Info("check-all done", "duration", time.Since(start).Round(time.Millisecond), "err", err)
	return true, err
}

// Timeout: every check is bounded, so the whole run is too.
func (w *checkAllWorker) Timeout(*river.Job[CheckAllArgs]) time.Duration { return -1 }

type siteAddedWorker struct {
	river.WorkerDefaults[SiteAddedArgs]
	s *Service
}

func (w *siteAddedWorker) Work(ctx context.Context, job *river.Job[SiteAddedArgs]) error {
	st, err := w.s.sites.Get(ctx, job.Args.SiteID)
	if api.IsCode(err, api.NotFound) {
		return nil // deleted since
	}
	if err != nil {
		return err
	}
	_, err = w.s.Check(ctx, *st)
	return err
}

// Timeout leaves room for the check and its confirmations.
func (w *siteAddedWorker) Timeout(*river.Job[SiteAddedArgs]) time.Duration {
	o := w.s.opts
	return time.Duration(o.Confirmations+1)*(o.CheckTimeout+o.ConfirmInterval) + 30*time.Second
}

type pruneWorker struct {
	river.WorkerDefaults[PruneArgs]
	s *Service
}

func (w *pruneWorker) Work(ctx context.Context, job *river.Job[PruneArgs]) error {
	n, err := w.s.Prune(ctx)
	if n > 0 {
		w.s.log.Info("pruned old checks", "deleted", n, "retention", w.s.opts.Retention)
	}
	return err
}

func (w *pruneWorker) Timeout(*river.Job[PruneArgs]) time.Duration { return time.Hour }
