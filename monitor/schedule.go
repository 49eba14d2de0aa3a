package monitor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"uptime/internal/queue"
	"uptime/monitor/locations"
	"uptime/monitor/schedule"
)

// How the scheduler hands out work. A site is due at the times that are
// its phase past a multiple of its interval. Every second the check-all
// job, which River's elected leader enqueues, claims the window of time
// from where the last pass stopped to horizon from now, and with it every
// round due in that window, and enqueues the rounds as check-sites jobs
// that any instance works: each job waits for its sites' due times and
// checks them then. Nothing is written per round.
const (
	scheduleEvery = time.Second
	horizon       = 2 * time.Second
	// jobSites bounds the sites of one check-sites job, and minJobs is how
	// many jobs a pass makes at least when it has that many sites, so that
	// every instance gets a share.
	jobSites = 250
	minJobs  = 4
	// maxWindow bounds the window one pass claims: after a longer outage,
	// a pass claims the rounds of the last maxWindow, and every site's
	// rounds before them are counted as missed and checked once.
	maxWindow = 24 * time.Hour
)

// schedule claims the window from where the last pass stopped to horizon
// from now, and every round due in it, and enqueues the rounds as
// check-sites jobs, in one transaction: the scheduler's row is locked
// while it runs, so passes on several instances take turns and claim each
// round once, and a round is claimed only together with its job. It
// returns the pass's time as recorded in the scheduler's row.
func (s *Service) schedule(ctx context.Context) (time.Time, error) {
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return time.Time{}, fmt.Errorf("schedule: %w", err)
	}
	defer tx.Rollback(ctx)
	var from *time.Time
	if err := tx.QueryRow(ctx, "SELECT claimed_until FROM scheduler FOR UPDATE").Scan(&from); err != nil {
		return time.Time{}, fmt.Errorf("schedule: %w", err)
	}
	now := time.Now()
	b := now.Add(horizon).UnixMilli()
	a := now.UnixMilli() // the first pass claims from now
	if from != nil {
		a = from.UnixMilli()
	}
	a = max(a, b-maxWindow.Milliseconds())
	live, err := s.locations.Track(ctx, tx)
	if err != nil {
		return time.Time{}, err
	}
	var rounds []schedule.Round
	var missed int64
	if a < b {
		if rounds, missed, err = schedule.Claim(ctx, tx, a, b); err != nil {
			return time.Time{}, err
		}
		if err := s.enqueue(ctx, tx, rounds, live); err != nil {
			return time.Time{}, err
		}
	}
	var at time.Time
	if err := tx.QueryRow(ctx, "UPDATE scheduler SET claimed_until = $1, last_pass = now() RETURNING last_pass",
		time.UnixMilli(max(a, b))).Scan(&at); err != nil {
		return time.Time{}, fmt.Errorf("schedule: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return time.Time{}, fmt.Errorf("schedule: %w", err)
	}
	s.stats.Scheduled(len(rounds), int(missed))
	if missed > 0 {
		s.log.Warn("check-all: rounds missed while no instance scheduled; each site is checked once now",
			"missed", missed, "claimed", len(rounds), "since", time.UnixMilli(a).UTC().Format(time.RFC3339))
	}
	return at, nil
}

// enqueue hands the rounds out as check-sites jobs, in tx: each round to
// each of its site's locations that is live, on that location's queue. A
// site none of whose locations is live is not checked until one is.
func (s *Service) enqueue(ctx context.Context, tx pgx.Tx, rounds []schedule.Round, live []string) error {
	var jobs []river.InsertManyParams
	for _, loc := range live {
		var mine []schedule.Round
		for _, r := range rounds {
			if len(r.Locations) == 0 || slices.Contains(r.Locations, loc) {
				mine = append(mine, r)
			}
		}
		jobs = appendCheckJobs(jobs, mine, queue.ChecksOf(loc))
	}
	if len(jobs) == 0 {
		return nil
	}
	if err := s.q.InsertManyTx(ctx, tx, jobs); err != nil {
		return fmt.Errorf("schedule: %w", err)
	}
	return nil
}

// appendCheckJobs appends the rounds, in shares, as check-sites jobs on
// the queue.
func appendCheckJobs(jobs []river.InsertManyParams, rounds []schedule.Round, queue string) []river.InsertManyParams {
	if len(rounds) == 0 {
		return jobs
	}
	size := min(jobSites, max(1, (len(rounds)+minJobs-1)/minJobs))
	for start := 0; start < len(rounds); start += size {
		part := rounds[start:min(start+size, len(rounds))]
		args := CheckSitesArgs{From: part[0].Due, Sites: make([]int64, len(part)), Due: make([]int64, len(part))}
		for i, r := range part {
			args.Sites[i], args.Due[i] = r.Site, r.Due-args.From
		}
		jobs = append(jobs, river.InsertManyParams{Args: args, InsertOpts: &river.InsertOpts{Queue: queue, MaxAttempts: 1}})
	}
	return jobs
}

// CheckAllArgs is the cron job of the tutorial's name. It no longer checks
// every site in one burst: every second it hands out the rounds that are
// due, as check-sites jobs.
type CheckAllArgs struct{}

// Kind is the cron job's name, as in the tutorial.
func (CheckAllArgs) Kind() string { return "check-all" }

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

// othersAlive tells whether another instance than this one has been heard
// from lately.
func (s *Service) othersAlive(ctx context.Context) bool {
	var others bool
	err := s.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM instance WHERE id <> $1 AND last_seen > now() - $2::interval)`,
		s.locations.InstanceID, locations.InstanceAlive).Scan(&others)
	return err != nil || others // unknown: say it
}

// standIn runs a scheduling pass in this process whenever none has run,
// on any instance, for standInAfter: while the leader is lost and River
// has not yet elected another (its leadership lasts 15 seconds after its
// holder dies, and River does not let that be shortened), every instance
// fills in. Once filling in, it goes on every second for as long as the
// newest pass is its own, and stops when another has run since: the
// leader's, or another instance's that fills in too. Passes take turns on
// the scheduler's row, so passes that overlap never claim a round twice.
func (s *Service) standIn(ctx context.Context) {
	t := time.NewTicker(scheduleEvery)
	defer t.Stop()
	var mine time.Time // the last pass this instance made while filling in
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !s.q.Running() {
			continue // starting or stopping: jobs cannot be enqueued
		}
		var (
			idle time.Duration
			last time.Time
		)
		if err := s.db.QueryRow(ctx, "SELECT now() - last_pass, last_pass FROM scheduler").Scan(&idle, &last); err != nil {
			continue // the database is away: the outage alarm says so
		}
		standing := !mine.IsZero()
		// Alone, an instance is its own leader: handing over to it is no
		// news, and the log says nothing of leaders.
		info, warn := s.log.Info, s.log.Warn
		if (standing && !last.Equal(mine) || !standing && idle > standInAfter) && !s.othersAlive(ctx) {
			info, warn = s.log.Debug, s.log.Debug
		}
		switch {
		case standing && !last.Equal(mine):
			info("check-all: scheduling passes run elsewhere again; this instance stops filling in")
			mine = time.Time{}
			continue
		case !standing && idle <= standInAfter:
			continue
		case !standing && idle > 365*24*time.Hour: // the row's first value: a new database
			info("check-all: no scheduling pass yet; this instance schedules until a leader is elected")
		case !standing:
			warn("check-all: no scheduling pass for a while; this instance schedules until the leader does",
				"idle", idle.Round(time.Second))
		}
		at, err := s.schedule(ctx)
		switch {
		case err == nil:
			mine = at
		case !standing:
			mine = last // filling in from now, though this pass failed
		}
		if err != nil && ctx.Err() == nil && !errors.Is(err, context.Canceled) {
			s.log.Warn("check-all: scheduling pass failed", "err", err)
		}
	}
}

// standInAfter is how long no scheduling pass may run before every
// instance fills in.
const standInAfter = 3 * time.Second
