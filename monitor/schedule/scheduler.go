package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"uptime/internal/queue"
	"uptime/monitor/locations"
)

// How the scheduler hands out work. A site is due at the times that are
// its phase past a multiple of its interval. Every second the check-all
// job, which River's elected leader enqueues, claims the window of time
// from where the last pass stopped to Horizon from now, and with it every
// round due in that window, and enqueues the rounds as check-sites jobs
// that any instance works: each job waits for its sites' due times and
// checks them then. Nothing is written per round.
const (
	Every   = time.Second
	Horizon = 2 * time.Second
	// jobSites bounds the sites of one check-sites job, and minJobs is how
	// many jobs a pass makes at least when it has that many sites, so that
	// every instance gets a share.
	jobSites = 250
	minJobs  = 4
	// maxWindow bounds the window one pass claims: after a longer outage,
	// a pass claims the rounds of the last maxWindow, and every site's
	// rounds before them are counted as missed and checked once.
	maxWindow = 24 * time.Hour
	// standInAfter is how long no scheduling pass may run before every
	// instance fills in.
	standInAfter = 3 * time.Second
)

// CheckSitesArgs is a share of the sites due in the next moments, for any
// instance to check.
type CheckSitesArgs struct {
	// Sites are the sites' ids, in the order they are due.
	Sites []int64 `json:"sites"`
	// From is when the first is due, in Unix milliseconds.
	From int64 `json:"from"`
	// Due are when each is due, in milliseconds after From.
	Due []int64 `json:"due"`
	// Versions are the sites' versions when their rounds were claimed, 0
	// where it is not known; none in a job made before they were given.
	Versions []int64 `json:"versions,omitempty"`
}

// Kind names the job.
func (CheckSitesArgs) Kind() string { return "check-sites" }

// DueAt is when the ith site is due.
func (a *CheckSitesArgs) DueAt(i int) time.Time { return time.UnixMilli(a.From + a.Due[i]) }

// CheckAllArgs is the cron job of the tutorial's name. It no longer checks
// every site in one burst: every second it hands out the rounds that are
// due, as check-sites jobs.
type CheckAllArgs struct{}

// Kind is the cron job's name, as in the tutorial.
func (CheckAllArgs) Kind() string { return "check-all" }

// Scheduler makes the scheduling passes.
type Scheduler struct {
	db        *pgxpool.Pool
	q         *queue.Queue
	locations *locations.Locations
	stats     *Stats
	log       *slog.Logger
}

// NewScheduler returns the scheduler over the monitor's database; it
// counts what it claims and misses in stats.
func NewScheduler(db *pgxpool.Pool, q *queue.Queue, locs *locations.Locations, stats *Stats, log *slog.Logger) *Scheduler {
	return &Scheduler{db: db, q: q, locations: locs, stats: stats, log: log}
}

// Register adds the check-all job's worker and cron to q.
func (sc *Scheduler) Register(q *queue.Queue) {
	river.AddWorker(q.Workers(), &checkAllWorker{sc: sc})
	q.Cron(Every, CheckAllArgs{})
}

// Pass claims the window from where the last pass stopped to Horizon
// from now, and every round due in it, and enqueues the rounds as
// check-sites jobs, in one transaction: the scheduler's row is locked
// while it runs, so passes on several instances take turns and claim each
// round once, and a round is claimed only together with its job. It
// returns the pass's time as recorded in the scheduler's row.
func (sc *Scheduler) Pass(ctx context.Context) (time.Time, error) {
	tx, err := sc.db.Begin(ctx)
	if err != nil {
		return time.Time{}, fmt.Errorf("schedule: %w", err)
	}
	defer tx.Rollback(ctx)
	var from *time.Time
	if err := tx.QueryRow(ctx, "SELECT claimed_until FROM scheduler FOR UPDATE").Scan(&from); err != nil {
		return time.Time{}, fmt.Errorf("schedule: %w", err)
	}
	now := time.Now()
	b := now.Add(Horizon).UnixMilli()
	a := now.UnixMilli() // the first pass claims from now
	if from != nil {
		a = from.UnixMilli()
	}
	a = max(a, b-maxWindow.Milliseconds())
	live, err := sc.locations.Track(ctx, tx)
	if err != nil {
		return time.Time{}, err
	}
	var rounds []Round
	var missed int64
	if a < b {
		if rounds, missed, err = Claim(ctx, tx, a, b); err != nil {
			return time.Time{}, err
		}
		if err := sc.enqueue(ctx, tx, rounds, live); err != nil {
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
	sc.stats.Scheduled(len(rounds), int(missed))
	if missed > 0 {
		sc.log.Warn("check-all: rounds missed while no instance scheduled; each site is checked once now",
			"missed", missed, "claimed", len(rounds), "since", time.UnixMilli(a).UTC().Format(time.RFC3339))
	}
	return at, nil
}

// enqueue hands the rounds out as check-sites jobs, in tx: each round to
// each of its site's locations that is live, on that location's queue. A
// site none of whose locations is live is not checked until one is.
func (sc *Scheduler) enqueue(ctx context.Context, tx pgx.Tx, rounds []Round, live []string) error {
	var jobs []river.InsertManyParams
	for _, loc := range live {
		var mine []Round
		for _, r := range rounds {
			if len(r.Locations) == 0 || slices.Contains(r.Locations, loc) {
				mine = append(mine, r)
			}
		}
		jobs = AppendCheckJobs(jobs, mine, queue.ChecksOf(loc))
	}
	if len(jobs) == 0 {
		return nil
	}
	if err := sc.q.InsertManyTx(ctx, tx, jobs); err != nil {
		return fmt.Errorf("schedule: %w", err)
	}
	return nil
}

// AppendCheckJobs appends the rounds, in shares, as check-sites jobs on
// the queue.
func AppendCheckJobs(jobs []river.InsertManyParams, rounds []Round, queue string) []river.InsertManyParams {
	if len(rounds) == 0 {
		return jobs
	}
	size := min(jobSites, max(1, (len(rounds)+minJobs-1)/minJobs))
	for start := 0; start < len(rounds); start += size {
		part := rounds[start:min(start+size, len(rounds))]
		args := CheckSitesArgs{From: part[0].Due, Sites: make([]int64, len(part)), Due: make([]int64, len(part))}
		for i, r := range part {
			args.Sites[i], args.Due[i] = r.Site, r.Due-args.From
			if r.Version != 0 {
				if args.Versions == nil {
					args.Versions = make([]int64, len(part))
				}
				args.Versions[i] = r.Version
			}
		}
		jobs = append(jobs, river.InsertManyParams{Args: args, InsertOpts: &river.InsertOpts{Queue: queue, MaxAttempts: 1}})
	}
	return jobs
}

type checkAllWorker struct {
	river.WorkerDefaults[CheckAllArgs]
	sc *Scheduler
}

func (w *checkAllWorker) Work(ctx context.Context, job *river.Job[CheckAllArgs]) error {
	// A pass that waited longer than the horizon behind a slow one is
	// stale: the next pass claims what it would have.
	if late := time.Since(job.ScheduledAt); late > Horizon {
		return nil
	}
	_, err := w.sc.Pass(ctx)
	return err
}

func (w *checkAllWorker) Timeout(*river.Job[CheckAllArgs]) time.Duration { return 30 * time.Second }

// othersAlive tells whether another instance than this one has been heard
// from lately.
func (sc *Scheduler) othersAlive(ctx context.Context) bool {
	var others bool
	err := sc.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM instance WHERE id <> $1 AND last_seen > now() - $2::interval)`,
		sc.locations.InstanceID, locations.InstanceAlive).Scan(&others)
	return err != nil || others // unknown: say it
}

// StandIn runs a scheduling pass in this process whenever none has run,
// on any instance, for standInAfter, until ctx ends: while the leader is
// lost and River has not yet elected another (its leadership lasts 15
// seconds after its holder dies, and River does not let that be
// shortened), every instance fills in. Once filling in, it goes on every
// second for as long as the newest pass is its own, and stops when another
// has run since: the leader's, or another instance's that fills in too.
// Passes take turns on the scheduler's row, so passes that overlap never
// claim a round twice.
func (sc *Scheduler) StandIn(ctx context.Context) {
	t := time.NewTicker(Every)
	defer t.Stop()
	var mine time.Time // the last pass this instance made while filling in
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !sc.q.Running() {
			continue // starting or stopping: jobs cannot be enqueued
		}
		var (
			idle time.Duration
			last time.Time
		)
		if err := sc.db.QueryRow(ctx, "SELECT now() - last_pass, last_pass FROM scheduler").Scan(&idle, &last); err != nil {
			continue // the database is away: the outage alarm says so
		}
		standing := !mine.IsZero()
		// Alone, an instance is its own leader: handing over to it is no
		// news, and the log says nothing of leaders.
		info, warn := sc.log.Info, sc.log.Warn
		if (standing && !last.Equal(mine) || !standing && idle > standInAfter) && !sc.othersAlive(ctx) {
			info, warn = sc.log.Debug, sc.log.Debug
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
		at, err := sc.Pass(ctx)
		switch {
		case err == nil:
			mine = at
		case !standing:
			mine = last // filling in from now, though this pass failed
		}
		if err != nil && ctx.Err() == nil && !errors.Is(err, context.Canceled) {
			sc.log.Warn("check-all: scheduling pass failed", "err", err)
		}
	}
}
