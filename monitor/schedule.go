package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"uptime/internal/queue"
	"uptime/site"
)

// How the scheduler hands out work. Every second the check-all job, which
// River's elected leader enqueues, claims the sites due within the next
// horizon and enqueues them as check-sites jobs that any instance works:
// each job waits for its sites' due times and checks them then.
const (
	scheduleEvery = time.Second
	horizon       = 2 * time.Second
	// maxClaim bounds the sites one scheduling pass claims; the rest wait
	// for the next pass, a second later.
	maxClaim = 20000
	// jobSites bounds the sites of one check-sites job, and minJobs is how
	// many jobs a pass makes at least when it has that many sites, so that
	// every instance gets a share.
	jobSites = 250
	minJobs  = 4
)

// phase returns the site's fixed offset inside its interval. Multiples of
// the golden ratio, taken modulo one, spread the ids 1, 2, 3... evenly
// over the interval however many there are, so checks arrive at an even
// rate rather than in bursts.
func phase(id int64, interval time.Duration) time.Duration {
	const phi = 0.6180339887498949
	f := math.Mod(float64(id)*phi, 1)
	return time.Duration(f*float64(interval.Milliseconds())) * time.Millisecond
}

// nextDue returns the site's first due time at or after t: the times that
// are its phase past a multiple of its interval.
func nextDue(id int64, interval time.Duration, t time.Time) time.Time {
	iv := interval.Milliseconds()
	if iv <= 0 {
		return t
	}
	since := t.UnixMilli() - phase(id, interval).Milliseconds()
	k := since / iv
	if since%iv != 0 {
		k++
	}
	return time.UnixMilli(k*iv + phase(id, interval).Milliseconds())
}

// advance returns the due time that follows a round due at due and
// claimed at now, and how many rounds were missed because the round was
// claimed later than its interval. The next round is at least half an
// interval after now, so a late round and the next are never run
// back to back.
func advance(due time.Time, interval time.Duration, now time.Time) (next time.Time, missed int) {
	next = due.Add(interval)
	for next.Before(now.Add(interval / 2)) {
		next = next.Add(interval)
		missed++
	}
	return next, missed
}

// budget is how long one round of a site may take: its checks, its
// re-checks and the pauses between them.
func (s *Service) budget(c site.Config) time.Duration {
	n := time.Duration(c.Confirmations)
	return (n+1)*time.Duration(c.Timeout) + n*s.opts.ConfirmInterval
}

// keep writes the monitor's copy of a site's settings, unless it holds a
// newer one. A site that is new, whose interval changed, or that was
// paused and no longer is, is next due at its first phase after after.
func (s *Service) keep(ctx context.Context, e *site.Entry, after time.Time) error {
	return s.keepMany(ctx, []site.Entry{*e}, after)
}

// keepMany writes the monitor's copy of many sites' settings in one
// statement, as keep does for one. An import of thousands is thus spread
// over their interval, not checked in one burst.
func (s *Service) keepMany(ctx context.Context, entries []site.Entry, after time.Time) error {
	n := len(entries)
	var (
		ids, versions, ivs, budgets = make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		urls                        = make([]string, n)
		cfgs                        = make([]string, n)
		paused                      = make([]bool, n)
		next                        = make([]time.Time, n)
	)
	for i := range entries {
		e := &entries[i]
		c := s.config(e)
		cfg, err := json.Marshal(c)
		if err != nil {
			return err
		}
		ids[i], urls[i], cfgs[i], versions[i] = int64(e.ID), e.URL, string(cfg), e.Version
		ivs[i], budgets[i], paused[i] = time.Duration(c.Interval).Milliseconds(), s.budget(c).Milliseconds(), c.Paused
		next[i] = nextDue(int64(e.ID), time.Duration(c.Interval), after)
	}
	_, err := s.db.Exec(ctx, `INSERT INTO monitored (site_id, url, config, version, interval_ms, budget_ms, paused, next_at)
		SELECT * FROM unnest($1::bigint[], $2::text[], $3::jsonb[], $4::bigint[], $5::bigint[], $6::bigint[],
			$7::boolean[], $8::timestamptz[])
		ON CONFLICT (site_id) DO UPDATE SET url = excluded.url, config = excluded.config, version = excluded.version,
			interval_ms = excluded.interval_ms, budget_ms = excluded.budget_ms, paused = excluded.paused,
			next_at = CASE WHEN monitored.interval_ms <> excluded.interval_ms OR (monitored.paused AND NOT excluded.paused)
				THEN excluded.next_at ELSE monitored.next_at END,
			added_at = CASE WHEN monitored.paused AND NOT excluded.paused THEN now() ELSE monitored.added_at END
		WHERE monitored.version <= excluded.version`,
		ids, urls, cfgs, versions, ivs, budgets, paused, next)
	if err != nil {
		return fmt.Errorf("keep settings of %d sites: %w", n, err)
	}
	return nil
}

// SitesImported schedules the sites an import added or changed.
func (s *Service) SitesImported(ctx context.Context, entries []site.Entry) {
	if err := s.keepMany(context.WithoutCancel(ctx), entries, time.Now()); err != nil {
		s.log.Warn("could not schedule imported sites; reconciliation will", "sites", len(entries), "err", err)
	}
}

// SiteAdded schedules a new site and checks it at once, through the
// site-added job, so its status is known before its first round. The job
// is committed without waiting for the disk: losing it to a crash costs
// nothing worse than the first check waiting for the first round, and
// adding a site stays fast. A copy of the settings lost here is repaired
// by reconciliation within a minute.
func (s *Service) SiteAdded(ctx context.Context, e site.Entry) {
	ctx = context.WithoutCancel(ctx)
	c := s.config(&e)
	interval := time.Duration(c.Interval)
	if err := s.keep(ctx, &e, time.Now().Add(interval/2)); err != nil {
		s.log.Warn("could not schedule a new site; reconciliation will", "site_id", e.ID, "err", err)
	}
	if c.Paused {
		return
	}
	if err := s.enqueueFirstCheck(ctx, e.Site); err != nil {
		s.log.Warn("could not enqueue the first check of a new site; its first round will check it",
			"site_id", e.ID, "err", err)
	}
}

// SiteChanged takes a site's new settings: its next check follows them.
func (s *Service) SiteChanged(ctx context.Context, e site.Entry) {
	if err := s.keep(context.WithoutCancel(ctx), &e, time.Now()); err != nil {
		s.log.Warn("could not take a site's new settings; reconciliation will", "site_id", e.ID, "err", err)
	}
}

// SiteDeleted forgets a deleted site's schedule, state and history.
func (s *Service) SiteDeleted(ctx context.Context, id int) {
	if err := s.forget(context.WithoutCancel(ctx), id); err != nil {
		s.log.Warn("could not forget a deleted site; reconciliation will", "site_id", id, "err", err)
	}
}

// Reconcile makes the monitor's copy of the sites agree with the site
// database: it adds what a lost notice left out, updates what is stale,
// and forgets the sites deleted since. It returns how many it repaired.
func (s *Service) Reconcile(ctx context.Context) (int, error) {
	list, err := s.sites.List(ctx)
	if err != nil {
		return 0, fmt.Errorf("list sites: %w", err)
	}
	rows, err := s.db.Query(ctx, "SELECT site_id, config FROM monitored")
	if err != nil {
		return 0, fmt.Errorf("read schedule: %w", err)
	}
	kept := map[int64][]byte{}
	var (
		id  int64
		cfg []byte
	)
	if _, err := pgx.ForEachRow(rows, []any{&id, &cfg}, func() error {
		var c site.Config
		if err := json.Unmarshal(cfg, &c); err != nil {
			return err
		}
		kept[id], err = json.Marshal(c)
		return err
	}); err != nil {
		return 0, fmt.Errorf("read schedule: %w", err)
	}
	var stale []site.Entry
	for _, e := range list.Sites {
		want, err := json.Marshal(s.config(e))
		if err != nil {
			return 0, err
		}
		have, ok := kept[int64(e.ID)]
		delete(kept, int64(e.ID))
		if !ok || string(have) != string(want) {
			stale = append(stale, *e)
		}
	}
	// In slices, so that no statement grows too large: after an upgrade
	// every site is stale at once.
	now := time.Now()
	for start := 0; start < len(stale); start += 10_000 {
		if err := s.keepMany(ctx, stale[start:min(start+10_000, len(stale))], now); err != nil {
			return start, err
		}
	}
	repaired := len(stale)
	for id := range kept {
		if err := s.forget(ctx, int(id)); err != nil {
			return repaired, err
		}
		repaired++
	}
	return repaired, nil
}

// CheckSitesArgs is a share of the sites due in the next moments, for any
// instance to check.
type CheckSitesArgs struct {
	// Sites are the sites' ids, in the order they are due.
	Sites []int64 `json:"sites"`
	// Due are their due times, in Unix milliseconds.
	Due []int64 `json:"due"`
}

// Kind names the job.
func (CheckSitesArgs) Kind() string { return "check-sites" }

// schedule claims the sites due before now+horizon, moves each one's next
// due time on by its interval, and enqueues them as check-sites jobs, all
// in one transaction: a round is claimed once, and claimed only if its job
// exists. It returns how many sites it claimed.
func (s *Service) schedule(ctx context.Context) (int, error) {
	now := time.Now()
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("schedule: %w", err)
	}
	defer tx.Rollback(ctx)
	rows, err := tx.Query(ctx, `SELECT site_id, next_at, interval_ms FROM monitored
		WHERE NOT paused AND next_at < $1 ORDER BY next_at LIMIT $2 FOR UPDATE SKIP LOCKED`, now.Add(horizon), maxClaim)
	if err != nil {
		return 0, fmt.Errorf("schedule: %w", err)
	}
	var (
		ids, due []int64
		next     []time.Time
		missed   int
		id, ivMS int64
		at       time.Time
	)
	if _, err := pgx.ForEachRow(rows, []any{&id, &at, &ivMS}, func() error {
		n, m := advance(at, time.Duration(ivMS)*time.Millisecond, now)
		ids, due, next = append(ids, id), append(due, at.UnixMilli()), append(next, n)
		missed += m
		return nil
	}); err != nil {
		return 0, fmt.Errorf("schedule: %w", err)
	}
	if len(ids) > 0 {
		if _, err := tx.Exec(ctx, `UPDATE monitored m SET next_at = v.next_at
			FROM unnest($1::bigint[], $2::timestamptz[]) AS v(site_id, next_at) WHERE m.site_id = v.site_id`,
			ids, next); err != nil {
			return 0, fmt.Errorf("schedule: %w", err)
		}
		size := min(jobSites, max(1, (len(ids)+minJobs-1)/minJobs))
		var jobs []river.InsertManyParams
		for start := 0; start < len(ids); start += size {
			end := min(start+size, len(ids))
			jobs = append(jobs, river.InsertManyParams{
				Args:       CheckSitesArgs{Sites: ids[start:end], Due: due[start:end]},
				InsertOpts: &river.InsertOpts{Queue: queue.Checks, MaxAttempts: 1},
			})
		}
		if err := s.q.InsertManyTx(ctx, tx, jobs); err != nil {
			return 0, fmt.Errorf("schedule: %w", err)
		}
	}
	if _, err := tx.Exec(ctx, "UPDATE scheduler SET last_pass = now()"); err != nil {
		return 0, fmt.Errorf("schedule: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("schedule: %w", err)
	}
	s.stats.scheduled(len(ids), missed)
	if missed > 0 {
		s.log.Warn("check-all: rounds missed, because checks were claimed later than their interval",
			"missed", missed, "claimed", len(ids))
	}
	return len(ids), nil
}

// checkDue checks the sites of a check-sites job, each at its due time,
// with the settings the site has then. A round claimed late, after an
// outage, is checked at once. A round whose job waited longer than the
// site's interval after its due time and its claim (a job rescued from a
// dead process, or stuck behind others) is counted as missed, not run:
// the next one is due already.
func (s *Service) checkDue(ctx context.Context, args CheckSitesArgs, claimed time.Time) error {
	if len(args.Sites) != len(args.Due) {
		return fmt.Errorf("check-sites: %d sites but %d due times", len(args.Sites), len(args.Due))
	}
	targets, err := s.scheduledTargets(ctx, args.Sites)
	if err != nil {
		return err
	}
	states, err := s.confirmedStates(ctx, args.Sites)
	if err != nil {
		return err
	}
	var (
		fails failures
		wg    sync.WaitGroup
	)
	w := s.startBatchWriter(&fails)
	for i, id := range args.Sites {
		t, ok := targets[id]
		if !ok {
			continue // deleted or paused since it was claimed
		}
		due := time.UnixMilli(args.Due[i])
		if wait := time.Until(due); wait > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
		}
		if ctx.Err() != nil {
			break
		}
		late := time.Since(due)
		if time.Since(later(due, claimed)) > t.interval {
			s.stats.missedRound()
			s.log.Warn("check-all: round missed, because it started later than the site's interval",
				"site_id", id, "late", late.Round(time.Millisecond), "interval", t.interval)
			continue
		}
		if s.inflight.acquire(ctx) != nil {
			break
		}
		s.stats.started(late)
		wg.Go(func() {
			wasUp, known := states[id]
			s.round(ctx, t.target, wasUp, known, s.inflight, w, &fails)
		})
	}
	wg.Wait()
	close(w.in)
	<-w.done
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if n, first := fails.get(); n > 0 {
		return fmt.Errorf("check-sites: %d of %d checks could not be recorded; first: %w", n, len(args.Sites), first)
	}
	return nil
}

// scheduled is a site as the schedule holds it.
type scheduled struct {
	*target
	interval time.Duration
}

// scheduledTargets reads the settings of the sites with the ids that are
// still on the schedule and not paused.
func (s *Service) scheduledTargets(ctx context.Context, ids []int64) (map[int64]scheduled, error) {
	rows, err := s.db.Query(ctx, `SELECT site_id, url, config, version FROM monitored
		WHERE site_id = ANY($1) AND NOT paused`, ids)
	if err != nil {
		return nil, fmt.Errorf("read settings: %w", err)
	}
	out := make(map[int64]scheduled, len(ids))
	var (
		id      int64
		url     string
		cfg     []byte
		version int64
	)
	if _, err := pgx.ForEachRow(rows, []any{&id, &url, &cfg, &version}, func() error {
		var c site.Config
		if err := json.Unmarshal(cfg, &c); err != nil {
			return fmt.Errorf("settings of site %d: %w", id, err)
		}
		out[id] = scheduled{target: newTarget(site.Site{ID: int(id), URL: url}, c), interval: time.Duration(c.Interval)}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read settings: %w", err)
	}
	return out, nil
}

// targetOf returns the site with the settings the monitor holds for it,
// or the defaults when it holds none yet.
func (s *Service) targetOf(ctx context.Context, st site.Site) (*target, error) {
	var (
		cfg []byte
		c   site.Config
	)
	err := s.db.QueryRow(ctx, "SELECT config FROM monitored WHERE site_id = $1", st.ID).Scan(&cfg)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		c = site.Settings{}.Config(st.URL, s.opts.siteDefaults())
	case err != nil:
		return nil, fmt.Errorf("read settings of site %d: %w", st.ID, err)
	default:
		if err := json.Unmarshal(cfg, &c); err != nil {
			return nil, fmt.Errorf("settings of site %d: %w", st.ID, err)
		}
	}
	return newTarget(st, c), nil
}

// schedStats counts this instance's scheduled checks and how late they
// started.
type schedStats struct {
	mu         sync.Mutex
	since      time.Time
	claimed    int64
	checks     int64
	missed     int64
	late       []float64 // the latest lateness samples, in milliseconds
	next       int       // where the next sample goes once late is full
	maxLateMS  float64
	lastMissed time.Time
}

// lateSamples is how many of the latest checks lateness is reported over.
const lateSamples = 100_000

func (st *schedStats) scheduled(claimed, missed int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.claimed += int64(claimed)
	st.missed += int64(missed)
	if missed > 0 {
		st.lastMissed = time.Now()
	}
}

func (st *schedStats) missedRound() { st.scheduled(0, 1) }

func (st *schedStats) started(late time.Duration) {
	v := float64(max(late, 0).Microseconds()) / 1000
	st.mu.Lock()
	defer st.mu.Unlock()
	st.checks++
	st.maxLateMS = max(st.maxLateMS, v)
	if len(st.late) < lateSamples {
		st.late = append(st.late, v)
		return
	}
	st.late[st.next] = v
	st.next = (st.next + 1) % lateSamples
}

// SchedulerStats is what GET /scheduler answers: this instance's share of
// the scheduled checks and how late they started.
type SchedulerStats struct {
	// Since is when this instance started counting.
	Since time.Time `json:"since"`
	// Claimed is how many rounds this instance's scheduling passes handed out.
	Claimed int64 `json:"claimed"`
	// Checks is how many scheduled rounds this instance started.
	Checks int64 `json:"checks"`
	// Missed is how many rounds were not run because they came later than
	// their site's interval.
	Missed int64 `json:"missed"`
	// LatenessMS is how long after its due time a round started, over the
	// latest rounds: p50, p99 and max (max over every round).
	LatenessMS struct {
		P50 float64 `json:"p50"`
		P99 float64 `json:"p99"`
		Max float64 `json:"max"`
	} `json:"lateness_ms"`
}

// Scheduler returns this instance's scheduling figures.
func (s *Service) Scheduler() *SchedulerStats {
	st := &s.stats
	st.mu.Lock()
	out := &SchedulerStats{Since: st.since, Claimed: st.claimed, Checks: st.checks, Missed: st.missed}
	late := slices.Clone(st.late)
	out.LatenessMS.Max = st.maxLateMS
	st.mu.Unlock()
	if len(late) > 0 {
		slices.Sort(late)
		out.LatenessMS.P50 = late[len(late)/2]
		out.LatenessMS.P99 = late[min(len(late)-1, len(late)*99/100)]
	}
	return out
}

// CheckAllArgs is the cron job of the tutorial's name. It no longer checks
// every site in one burst: every second it hands out the sites that are
// due, as check-sites jobs.
type CheckAllArgs struct{}

// Kind is the cron job's name, as in the tutorial.
func (CheckAllArgs) Kind() string { return "check-all" }

// standIn runs a scheduling pass in this process whenever none has run,
// on any instance, for standInAfter: while the leader is lost and River
// has not yet elected another (its leadership lasts 15 seconds after its
// holder dies, and River does not let that be shortened), every instance
// fills in. Claims lock their rows, so passes that overlap never claim a
// round twice.
func (s *Service) standIn(ctx context.Context) {
	t := time.NewTicker(scheduleEvery)
	defer t.Stop()
	standing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !s.q.Running() {
			continue // starting or stopping: jobs cannot be enqueued
		}
		var idle time.Duration
		if err := s.db.QueryRow(ctx, "SELECT now() - last_pass FROM scheduler").Scan(&idle); err != nil {
			continue // the database is away: the outage alarm says so
		}
		if idle <= standInAfter {
			if standing {
				s.log.Info("check-all: the leader schedules again")
				standing = false
			}
			continue
		}
		if !standing {
			s.log.Warn("check-all: no scheduling pass for a while; this instance schedules until the leader does",
				"idle", idle.Round(time.Second))
			standing = true
		}
		if _, err := s.schedule(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("check-all: scheduling pass failed", "err", err)
		}
	}
}

// standInAfter is how long no scheduling pass may run before every
// instance fills in.
const standInAfter = 3 * time.Second

type checkAllWorker struct {
	river.WorkerDefaults[CheckAllArgs]
	s *Service
}

func (w *checkAllWorker) Work(ctx context.Context, job *river.Job[CheckAllArgs]) error {
	// A pass that waited longer than the horizon behind a slow one is
	// stale: the next pass claims what it would have.
	if late := time.Since(job.ScheduledAt); late > horizon {
		return nil
	}
	_, err := w.s.schedule(ctx)
	return err
}

func (w *checkAllWorker) Timeout(*river.Job[CheckAllArgs]) time.Duration { return 30 * time.Second }

type checkSitesWorker struct {
	river.WorkerDefaults[CheckSitesArgs]
	s *Service
}

func (w *checkSitesWorker) Work(ctx context.Context, job *river.Job[CheckSitesArgs]) error {
	return w.s.checkDue(ctx, job.Args, job.CreatedAt)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Timeout leaves room for the wait until the last site is due and the
// longest round a site's settings allow.
func (w *checkSitesWorker) Timeout(job *river.Job[CheckSitesArgs]) time.Duration {
	wait := time.Duration(0)
	if n := len(job.Args.Due); n > 0 {
		wait = max(time.Until(time.UnixMilli(job.Args.Due[n-1])), 0)
	}
	longest := (site.MaxConfirmations+1)*site.MaxTimeout + site.MaxConfirmations*w.s.opts.ConfirmInterval
	return wait + longest + time.Minute
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
