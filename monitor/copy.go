package monitor

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"uptime/internal/queue"
	"uptime/monitor/schedule"
	"uptime/site"
)

// The site service's notices keep the monitor's copy of the sites'
// settings (see sitecopy), and reconciliation repairs what a lost notice
// left stale.

// SitesImported takes the sites an import added or changed, in one
// statement a slice. New sites are checked at once, as a site added alone
// is, their first checks spread over up to a minute when there are many
// (importRate a second), not left unknown until their first round.
func (s *Service) SitesImported(ctx context.Context, entries []site.Entry) {
	ctx = context.WithoutCancel(ctx)
	for start := 0; start < len(entries); start += 10_000 {
		if err := s.copy.Keep(ctx, entries[start:min(start+10_000, len(entries))]...); err != nil {
			s.log.Warn("could not schedule imported sites; reconciliation will", "sites", len(entries), "err", err)
			return
		}
	}
	var added []int64
	for i := range entries {
		e := &entries[i]
		if e.Version == 1 && fetchedFrom(s.config(e), s.opts.Location) {
			added = append(added, e.ID)
		}
	}
	if err := s.enqueueFirstChecks(ctx, added); err != nil {
		s.log.Warn("could not enqueue the first checks of imported sites; their first rounds will check them",
			"sites", len(added), "err", err)
	}
}

// importRate is how many first checks of imported sites are asked for a
// second; at most a minute of them, beyond which they come faster.
const importRate = 500

// enqueueFirstChecks hands out the first check of each new site as the
// scheduler hands out rounds, in check-sites jobs on this location's
// queue, due one after another over len(ids)/importRate seconds (at most a
// minute), each job available when its first site is due; and notes when
// each is due, so that the rounds right after it leave it out. Their
// checks are recorded in batches, as rounds are. The jobs are committed
// without waiting for the disk, as a single site's is.
func (s *Service) enqueueFirstChecks(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	spread := min(time.Duration(len(ids))*time.Second/importRate, time.Minute)
	now := time.Now()
	for start := 0; start < len(ids); start += 10_000 {
		part := ids[start:min(start+10_000, len(ids))]
		rounds := make([]schedule.Round, len(part))
		due := make([]time.Time, len(part))
		for i, id := range part {
			due[i] = now.Add(spread * time.Duration(start+i) / time.Duration(len(ids)))
			rounds[i] = schedule.Round{Site: id, Due: due[i].UnixMilli()}
		}
		jobs := schedule.AppendCheckJobs(nil, rounds, queue.ChecksOf(s.opts.Location))
		for _, j := range jobs {
			j.InsertOpts.ScheduledAt = time.UnixMilli(j.Args.(CheckSitesArgs).From)
		}
		err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SET LOCAL synchronous_commit = off"); err != nil {
				return err
			}
			if err := s.q.InsertManyTx(ctx, tx, jobs); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `UPDATE monitored m SET first_check_at = v.at
				FROM unnest($1::bigint[], $2::timestamptz[]) AS v(site_id, at) WHERE m.site_id = v.site_id`, part, due)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// SiteAdded schedules a new site and checks it at once, through the
// site-added job, so its status is known before its first round. The job
// is committed without waiting for the disk: losing it to a crash costs
// nothing worse than the first check waiting for the first round, and
// adding a site stays fast. A copy of the settings lost here is repaired
// by reconciliation within a minute.
func (s *Service) SiteAdded(ctx context.Context, e site.Entry) {
	ctx = context.WithoutCancel(ctx)
	if err := s.copy.Keep(ctx, e); err != nil {
		s.log.Warn("could not schedule a new site; reconciliation will", "site_id", e.ID, "err", err)
	}
	if !fetched(s.config(&e)) {
		return
	}
	if err := s.enqueueFirstCheck(ctx, e.Site); err != nil {
		s.log.Warn("could not enqueue the first check of a new site; its first round will check it",
			"site_id", e.ID, "err", err)
		return
	}
	// The rounds right after it would check the site twice in a moment.
	if _, err := s.db.Exec(ctx, "UPDATE monitored SET first_check_at = now() WHERE site_id = $1", e.ID); err != nil {
		s.log.Warn("could not note a new site's first check", "site_id", e.ID, "err", err)
	}
}

// SiteChanged takes a site's new settings: its next check follows them.
func (s *Service) SiteChanged(ctx context.Context, e site.Entry) {
	if err := s.copy.Keep(context.WithoutCancel(ctx), e); err != nil {
		s.log.Warn("could not take a site's new settings; reconciliation will", "site_id", e.ID, "err", err)
	}
}

// SiteDeleted forgets a deleted site's schedule, state and history.
func (s *Service) SiteDeleted(ctx context.Context, id int64) {
	s.SitesDeleted(ctx, []int64{id})
}

// SitesDeleted forgets the schedule, state and history of deleted sites,
// a slice of them at a time.
func (s *Service) SitesDeleted(ctx context.Context, ids []int64) {
	if err := s.forget(context.WithoutCancel(ctx), ids); err != nil {
		s.log.Warn("could not forget deleted sites; reconciliation will", "sites", len(ids), "err", err)
	}
}

// Reconcile makes the monitor's copy of the sites agree with the site
// database: it adds what a lost notice left out, rewrites what is stale
// (another version of the site, or other defaults), and forgets the sites
// deleted since, with whatever state or history a site no longer
// scheduled still has. It compares versions only, and reads the settings
// of the sites it repairs. It returns how many it repaired.
func (s *Service) Reconcile(ctx context.Context) (int, error) {
	versions, err := s.sites.Versions(ctx)
	if err != nil {
		return 0, fmt.Errorf("list sites: %w", err)
	}
	stale, gone, err := s.copy.Stale(ctx, versions)
	if err != nil {
		return 0, err
	}
	// In slices, so that no statement grows too large: after an upgrade
	// every site is stale at once.
	repaired := 0
	for start := 0; start < len(stale); start += 10_000 {
		entries, err := s.sites.Entries(ctx, stale[start:min(start+10_000, len(stale))])
		if err != nil {
			return repaired, err
		}
		list := make([]site.Entry, len(entries))
		for i, e := range entries {
			list[i] = *e
		}
		if err := s.copy.Keep(ctx, list...); err != nil {
			return repaired, err
		}
		repaired += len(list)
	}
	// Whatever is left of a site no longer scheduled: nothing records for
	// a site off the schedule any more, but a notice of its deletion may
	// have been lost, or an older version may have left it.
	orphans, err := s.copy.Orphans(ctx)
	if err != nil {
		return repaired, err
	}
	for _, id := range orphans {
		if _, listed := versions[id]; !listed {
			gone = append(gone, id)
		}
	}
	if err := s.forget(ctx, gone); err != nil {
		return repaired, err
	}
	return repaired + len(gone), nil
}

// ReconcileArgs is the cron job that repairs the monitor's copy of the
// sites.
type ReconcileArgs struct{}

// Kind names the job.
func (ReconcileArgs) Kind() string { return "reconcile-sites" }

type reconcileWorker struct {
	river.WorkerDefaults[ReconcileArgs]
	s *Service
}

func (w *reconcileWorker) Work(ctx context.Context, job *river.Job[ReconcileArgs]) error {
	n, err := w.s.Reconcile(ctx)
	if n > 0 {
		w.s.log.Info("reconciled the schedule with the list of sites", "repaired", n)
	}
	return err
}

func (w *reconcileWorker) Timeout(*river.Job[ReconcileArgs]) time.Duration { return 5 * time.Minute }
