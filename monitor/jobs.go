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

func (w *checkAllWorker) Work(ctx context.Context, job *river.Job[CheckAllArgs]) error {
	// A tick that waited out a whole interval behind a slow run is stale:
	// the next one is already due, and running both would pile them up.
	if late := time.Since(job.ScheduledAt); late > w.s.opts.CheckEvery {
		w.s.log.Warn("check-all skipped: it waited longer than its interval", "late", late.Round(time.Second))
		return nil
	}
	ran, err := w.s.checkAllShared(ctx, false)
	if !ran && err == nil {
		w.s.log.Warn("check-all skipped: the previous run is still going")
	}
	return err
}

// Timeout bounds the wait for the run; the run bounds itself too.
func (w *checkAllWorker) Timeout(*river.Job[CheckAllArgs]) time.Duration {
	return w.s.checkAllTimeout() + time.Minute
}

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

// Timeout: pruning deletes in small batches, so a run cut short, or
// killed, has lost nothing; the next one goes on where it stopped.
func (w *pruneWorker) Timeout(*river.Job[PruneArgs]) time.Duration { return 10 * time.Minute }
