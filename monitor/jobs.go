package monitor

import (
	"context"
	"time"

	"github.com/riverqueue/river"

	"uptime/internal/api"
	"uptime/site"
)

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
	river.AddWorker(s.q.Workers(), &checkSitesWorker{s: s})
	river.AddWorker(s.q.Workers(), &reconcileWorker{s: s})
	river.AddWorker(s.q.Workers(), &siteAddedWorker{s: s})
	river.AddWorker(s.q.Workers(), &pruneWorker{s: s})
	s.q.Cron(scheduleEvery, CheckAllArgs{})
	s.q.Cron(time.Minute, ReconcileArgs{})
	s.q.Cron(time.Hour, PruneArgs{})
}

type siteAddedWorker struct {
	river.WorkerDefaults[SiteAddedArgs]
	s *Service
}

func (w *siteAddedWorker) Work(ctx context.Context, job *river.Job[SiteAddedArgs]) error {
	e, err := w.s.sites.Entry(ctx, job.Args.SiteID)
	if api.IsCode(err, api.NotFound) {
		return nil // deleted since
	}
	if err != nil {
		return err
	}
	c := w.s.config(e)
	if c.Paused {
		return nil
	}
	_, err = w.s.checkTarget(ctx, newTarget(e.Site, c))
	return err
}

// Timeout leaves room for the longest round a site's settings allow.
func (w *siteAddedWorker) Timeout(*river.Job[SiteAddedArgs]) time.Duration {
	return (site.MaxConfirmations+1)*(site.MaxTimeout+w.s.opts.ConfirmInterval) + 30*time.Second
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
