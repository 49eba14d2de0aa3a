package monitor

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"uptime/internal/queue"
	"uptime/monitor/schedule"
	"uptime/site"
)

// The monitor keeps a copy of each site's settings in its own database, so
// that scheduling and checking never wait on the site database: the site
// service's notices keep it, and reconciliation repairs what a lost notice
// left stale.

// defaults names the defaults a copy was written with: a site's interval
// and round budget follow them where its settings say nothing, so rows
// written with other defaults are rewritten.
func (s *Service) defaults() string {
	d := s.opts.siteDefaults()
	return fmt.Sprintf("%s/%s/%d/%s", d.Interval, d.Timeout, d.Confirmations, s.opts.ConfirmInterval)
}

// budget is how long one round of a site may take: its checks, its
// re-checks and the pauses between them.
func (s *Service) budget(c site.Config) time.Duration {
	n := time.Duration(c.Confirmations)
	return (n+1)*time.Duration(c.Timeout) + n*s.opts.ConfirmInterval
}

// keep writes the monitor's copy of the sites' settings in one statement,
// unless it holds a newer one of a site.
func (s *Service) keep(ctx context.Context, entries ...site.Entry) error {
	n := len(entries)
	var (
		ids, versions, ivs, phases, budgets = make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		urls, settings                      = make([]string, n), make([]string, n)
		secrets                             = make([][]byte, n)
		paused                              = make([]bool, n)
	)
	for i := range entries {
		e := &entries[i]
		c := s.config(e)
		v := site.Seal(s.opts.Box, e.URL, e.Given)
		iv := time.Duration(c.Interval)
		ids[i], urls[i], settings[i], secrets[i], versions[i] = e.ID, v.URL, v.Settings, v.Secrets, e.Version
		ivs[i], phases[i], budgets[i] = iv.Milliseconds(), schedule.Phase(e.ID, iv).Milliseconds(), s.budget(c).Milliseconds()
		paused[i] = c.Paused
	}
	if err := s.claimKey(ctx, secrets...); err != nil {
		return err
	}
	_, err := s.db.Exec(ctx, `INSERT INTO monitored (site_id, url, settings, sealed, version, defaults, interval_ms, phase_ms, budget_ms, paused)
		SELECT v.site_id, v.url, v.settings, v.sealed, v.version, $10, v.interval_ms, v.phase_ms, v.budget_ms, v.paused
		FROM unnest($1::bigint[], $2::text[], $3::jsonb[], $4::bytea[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::boolean[])
			AS v(site_id, url, settings, sealed, version, interval_ms, phase_ms, budget_ms, paused)
		ON CONFLICT (site_id) DO UPDATE SET url = excluded.url, settings = excluded.settings, sealed = excluded.sealed,
			in_clear = false, version = excluded.version,
			defaults = excluded.defaults, interval_ms = excluded.interval_ms, phase_ms = excluded.phase_ms,
			budget_ms = excluded.budget_ms, paused = excluded.paused
		WHERE monitored.version <= excluded.version`,
		ids, urls, settings, secrets, versions, ivs, phases, budgets, paused, s.defaults())
	if err != nil {
		return fmt.Errorf("keep settings of %d sites: %w", n, err)
	}
	return nil
}

// SitesImported takes the sites an import added or changed, in one
// statement a slice. New sites are checked at once, as a site added alone
// is, their first checks spread over up to a minute when there are many
// (importRate a second), not left unknown until their first round.
func (s *Service) SitesImported(ctx context.Context, entries []site.Entry) {
	ctx = context.WithoutCancel(ctx)
	for start := 0; start < len(entries); start += 10_000 {
		if err := s.keep(ctx, entries[start:min(start+10_000, len(entries))]...); err != nil {
			s.log.Warn("could not schedule imported sites; reconciliation will", "sites", len(entries), "err", err)
			return
		}
	}
	var added []int64
	for i := range entries {
		e := &entries[i]
		if c := s.config(e); e.Version == 1 && !c.Paused && (len(c.Locations) == 0 || slices.Contains(c.Locations, s.opts.Location)) {
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
		jobs := appendCheckJobs(nil, rounds, queue.ChecksOf(s.opts.Location))
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
	if err := s.keep(ctx, e); err != nil {
		s.log.Warn("could not schedule a new site; reconciliation will", "site_id", e.ID, "err", err)
	}
	if s.config(&e).Paused {
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
	if err := s.keep(context.WithoutCancel(ctx), e); err != nil {
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
	rows, err := s.db.Query(ctx, "SELECT site_id, version, defaults FROM monitored")
	if err != nil {
		return 0, fmt.Errorf("read schedule: %w", err)
	}
	var (
		stale       []int64
		gone        []int64
		id, version int64
		defaults    string
		current     = s.defaults()
		seen        = make(map[int64]bool, len(versions))
	)
	if _, err := pgx.ForEachRow(rows, []any{&id, &version, &defaults}, func() error {
		want, ok := versions[id]
		seen[id] = true
		switch {
		case !ok:
			gone = append(gone, id)
		case want != version || defaults != current:
			stale = append(stale, id)
		}
		return nil
	}); err != nil {
		return 0, fmt.Errorf("read schedule: %w", err)
	}
	for id := range versions {
		if !seen[id] {
			stale = append(stale, id)
		}
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
		if err := s.keep(ctx, list...); err != nil {
			return repaired, err
		}
		repaired += len(list)
	}
	// Whatever is left of a site no longer scheduled: nothing records for
	// a site off the schedule any more, but a notice of its deletion may
	// have been lost, or an older version may have left it.
	orphans, err := s.orphans(ctx)
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

// orphans returns the sites with a state or recent figures but no
// schedule. An incident is opened with its site's state, and forgotten
// with it, so the state finds it.
func (s *Service) orphans(ctx context.Context) ([]int64, error) {
	rows, err := s.db.Query(ctx, `SELECT site_id FROM (
			SELECT site_id FROM site_state UNION SELECT site_id FROM rollup_recent) o
		WHERE NOT EXISTS (SELECT 1 FROM monitored m WHERE m.site_id = o.site_id)`)
	if err != nil {
		return nil, fmt.Errorf("find what is left of deleted sites: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("find what is left of deleted sites: %w", err)
	}
	return ids, nil
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
