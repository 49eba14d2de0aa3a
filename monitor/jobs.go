package monitor

import (
	"context"
	"time"

	"github.com/riverqueue/river"

	"uptime/internal/errs"
	"uptime/monitor/history"
	"uptime/site"
)

// SiteAddedArgs asks for the first check of a site just added.
type SiteAddedArgs struct {
	// SiteID is the new site's id.
	SiteID int64 `json:"site_id"`
}

// Kind names the event.
func (SiteAddedArgs) Kind() string { return "site-added" }

// MaintainHistoryArgs is the cron job that makes the partitions of the
// days ahead and removes history past retention.
type MaintainHistoryArgs struct{}

// Kind names the job.
func (MaintainHistoryArgs) Kind() string { return "maintain-history" }

// RollupArgs is the cron job that rolls up the hours and days that closed.
type RollupArgs struct{}

// Kind names the job.
func (RollupArgs) Kind() string { return "rollup" }

// CompactArgs is the cron job that packs the checks of the closed days:
// every minute, so that a day is packed soon after it rolls up; a run with
// nothing to pack costs a few small queries.
type CompactArgs struct{}

// Kind names the job.
func (CompactArgs) Kind() string { return "compact-history" }

func (s *Service) registerJobs() {
	river.AddWorker(s.q.Workers(), &checkSitesWorker{s: s})
	river.AddWorker(s.q.Workers(), &reconcileWorker{s: s})
	river.AddWorker(s.q.Workers(), &siteAddedWorker{s: s})
	river.AddWorker(s.q.Workers(), &maintainHistoryWorker{s: s})
	river.AddWorker(s.q.Workers(), &rollupWorker{s: s})
	river.AddWorker(s.q.Workers(), &compactWorker{s: s})
	river.AddWorker(s.q.Workers(), &probeReportWorker{s: s})
	s.scheduler.Register(s.q)
	s.q.Cron(time.Minute, ReconcileArgs{})
	s.q.Cron(time.Hour, MaintainHistoryArgs{})
	s.q.Cron(time.Minute, RollupArgs{})
	s.q.Cron(time.Minute, CompactArgs{})
}

type siteAddedWorker struct {
	river.WorkerDefaults[SiteAddedArgs]
	s *Service
}

func (w *siteAddedWorker) Work(ctx context.Context, job *river.Job[SiteAddedArgs]) error {
	e, err := w.s.sites.Entry(ctx, job.Args.SiteID)
	if errs.Is(err, errs.NotFound) {
		return nil // deleted since
	}
	if err != nil {
		return err
	}
	c := w.s.config(e)
	if !fetchedFrom(c, w.s.opts.Location) {
		return nil // not checked, or not from here: its rounds will be
	}
	_, err = w.s.checkTarget(ctx, newTarget(e.Site, e.Site.Public().URL, c))
	return err
}

// Timeout leaves room for the longest round a site's settings allow.
func (w *siteAddedWorker) Timeout(*river.Job[SiteAddedArgs]) time.Duration {
	return (site.MaxConfirmations+1)*(site.MaxTimeout+w.s.opts.ConfirmInterval) + 30*time.Second
}

type maintainHistoryWorker struct {
	river.WorkerDefaults[MaintainHistoryArgs]
	s *Service
}

func (w *maintainHistoryWorker) Work(ctx context.Context, job *river.Job[MaintainHistoryArgs]) error {
	m, err := w.s.history.MaintainHistory(ctx, time.Now())
	if m.Created > 0 || len(m.Dropped) > 0 || m.Deleted > 0 {
		w.s.log.Info("history maintained", "partitions_created", m.Created, "dropped", m.Dropped,
			"rows_deleted", m.Deleted, "retention", w.s.opts.Retention, "rollup_retention", w.s.opts.RollupRetention)
	}
	return err
}

// Timeout: every step is a transaction of its own, and deletes go in small
// batches, so a run cut short has lost nothing; the next goes on.
func (w *maintainHistoryWorker) Timeout(*river.Job[MaintainHistoryArgs]) time.Duration {
	return 10 * time.Minute
}

type rollupWorker struct {
	river.WorkerDefaults[RollupArgs]
	s *Service
}

func (w *rollupWorker) Work(ctx context.Context, job *river.Job[RollupArgs]) error {
	if !w.s.rolling.TryLock() {
		return nil // this process is rolling up already
	}
	defer w.s.rolling.Unlock()
	res, err := w.s.history.Rollup(ctx, time.Now())
	if res.Hours > 1 || res.Days > 0 || res.Late > 0 {
		w.s.log.Info("rolled up", "hours", res.Hours, "days", res.Days, "late_site_hours", res.Late, "recent_rebuilt", res.Recent)
	}
	return err
}

// Timeout leaves room for a run's budget and its last transaction.
func (w *rollupWorker) Timeout(*river.Job[RollupArgs]) time.Duration {
	return history.RollupBudget + 5*time.Minute
}

// compactRunLock is held by the instance packing closed days.
const compactRunLock = 0x75705f6b // "up_k"

type compactWorker struct {
	river.WorkerDefaults[CompactArgs]
	s *Service
}

func (w *compactWorker) Work(ctx context.Context, job *river.Job[CompactArgs]) error {
	if !w.s.compacting.TryLock() {
		return nil // this process is packing already
	}
	defer w.s.compacting.Unlock()
	// One instance at a time: two would pack each check once too, but
	// wait on each other's batches.
	conn, err := w.s.db.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	var mine bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", compactRunLock).Scan(&mine); err != nil || !mine {
		return err
	}
	defer func() {
		// A connection that cannot say it is done goes, and its lock with it.
		if _, err := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", compactRunLock); err != nil {
			conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}()
	res, err := w.s.history.Compact(ctx, time.Now(), history.CompactBudget)
	if res.Rows > 0 || len(res.Dropped) > 0 {
		w.s.log.Info("history packed", "days", res.Days, "site_days", res.Rows, "checks", res.Checks, "dropped", res.Dropped)
	}
	return err
}

// Timeout leaves room for a run's budget and its last transaction.
func (w *compactWorker) Timeout(*river.Job[CompactArgs]) time.Duration {
	return history.CompactBudget + 5*time.Minute
}
