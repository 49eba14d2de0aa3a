// Package queue is River in a service's database: background jobs, cron
// (periodic jobs, enqueued by the elected leader only) and the deliveries of
// topics. Services register their workers and periodic jobs while the
// program is wired, then insert jobs once it has started.
package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"
)

// Queue names. Cron runs alone on its queue, one job at a time per process.
// Scheduled checks have a queue of their own, so that deliveries and other
// jobs never wait behind them, nor they behind deliveries.
const (
	Default = river.QueueDefault
	Cron    = "cron"
	Checks  = "checks"
)

// DefaultLocation is the location of an instance not told its own.
const DefaultLocation = "local"

// MaxLocationName is the longest a location's name may be.
const MaxLocationName = 32

// LocationPattern is a location's name, of any length: a-z and 0-9 in
// words joined by single dashes, as River names queues (one is named
// after each location).
var LocationPattern = regexp.MustCompile(`^(?:[a-z0-9]+-)*[a-z0-9]+$`)

// ValidLocation tells whether name may name a location.
func ValidLocation(name string) bool {
	return len(name) <= MaxLocationName && LocationPattern.MatchString(name)
}

// LocationRule says what ValidLocation accepts.
const LocationRule = "1 to 32 of a-z and 0-9, with single dashes between them"

// ChecksOf names the queue of the scheduled checks made from a location:
// each location's instances work their own. The default location's keeps
// the name it had before there were locations.
func ChecksOf(location string) string {
	if location == DefaultLocation || location == "" {
		return Checks
	}
	return Checks + "-" + location
}

// MaxCheckJobs bounds the check-sites jobs one process runs at once. Each
// waits for its sites' due times, then for their checks, which a separate
// bound limits.
const MaxCheckJobs = 500

// RescueAfter is how long a job left running by a process that died waits
// before River retries it (or discards it, for a job of one attempt).
const RescueAfter = 2 * time.Minute

// Queue collects workers and periodic jobs, then runs them on River.
type Queue struct {
	workers  *river.Workers
	periodic []*river.PeriodicJob
	client   *river.Client[pgx.Tx]
	// MaxWorkers bounds the jobs one process runs at once on the default
	// queue. Defaults to 100: most jobs spend their time waiting on a
	// site, a re-check's pause or Slack, not on this machine.
	MaxWorkers int
	// Location is where this process checks from: it works the scheduled
	// checks of that location's queue (ChecksOf). Defaults to
	// DefaultLocation.
	Location string
	// ChecksOnly makes the process work its location's checks and nothing
	// else: no other queue, no cron, and it never leads. A probe runs so.
	ChecksOnly bool
	// PollOnly makes River look for jobs, pauses and cancellations in its
	// tables, every PollEvery, instead of listening for PostgreSQL's
	// notifications, which any role connected to the database can send:
	// a forged one pauses every queue of every process, or cancels the
	// jobs running. Where roles other than the owner's connect (probes),
	// every process runs so.
	PollOnly bool
	// ID names this process to River, as its leader and the worker of
	// each job; empty lets River make one up.
	ID string
}

// PollEvery is how often a process in poll-only mode looks for jobs on each
// of its queues.
const PollEvery = 200 * time.Millisecond

// New returns an empty queue.
func New() *Queue {
	return &Queue{workers: river.NewWorkers(), MaxWorkers: 100}
}

// Workers is where services add their workers, before Start.
func (q *Queue) Workers() *river.Workers { return q.workers }

// Cron adds a periodic job, before Start. Only the elected leader among the
// processes sharing the database enqueues it, so it runs once per tick
// however many instances there are. A run is tried once; the job itself
// must guard against overlapping the previous run (check-all holds an
// advisory lock), because the queue does not: a job left running by a
// process that was killed must never stop the next tick from being
// enqueued.
func (q *Queue) Cron(every time.Duration, args river.JobArgs) {
	q.periodic = append(q.periodic, river.NewPeriodicJob(
		river.PeriodicInterval(every),
		func() (river.JobArgs, *river.InsertOpts) {
			return args, &river.InsertOpts{Queue: Cron, MaxAttempts: 1}
		},
		&river.PeriodicJobOpts{ID: args.Kind(), RunOnStart: true},
	))
}

// Migrate brings River's tables in the database up to date.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	m, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		return err
	}
	// River's migrator takes no lock: instances starting together on a
	// new database would each create the same types and tables. One at a
	// time, the later ones find nothing left to do.
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate River's tables: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrateLock); err != nil {
		return fmt.Errorf("migrate River's tables: take the lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrateLock)
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("migrate River's tables: %w", err)
	}
	return nil
}

// migrateLock is the advisory lock Migrate holds: a number of its own,
// apart from golang-migrate's, which it derives from the database name.
const migrateLock int64 = 0x75707469_6d65_7276 // "uptimerv"

// Start starts working jobs and, on the leader, enqueuing cron. It stops
// when Stop is called.
func (q *Queue) Start(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	queues := map[string]river.QueueConfig{
		Default:              {MaxWorkers: q.MaxWorkers},
		Cron:                 {MaxWorkers: 1},
		ChecksOf(q.Location): {MaxWorkers: MaxCheckJobs},
	}
	periodic := q.periodic
	if q.ChecksOnly {
		queues = map[string]river.QueueConfig{ChecksOf(q.Location): {MaxWorkers: MaxCheckJobs}}
		periodic = nil
	}
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		ID:           q.ID,
		Logger:       log,
		Queues:       queues,
		Workers:      q.workers,
		PeriodicJobs: periodic,
		// A process that only checks never leads: the leader enqueues cron
		// and runs River's upkeep, which need more than checking does.
		LeaderElectionDisabled: q.ChecksOnly,
		PollOnly:               q.PollOnly,
		FetchPollInterval:      pollInterval(q.PollOnly),
		// A job left running by a process that died is retried after this,
		// or after its own timeout if that is longer: longer than any
		// delivery's deadline, short enough that a notification interrupted
		// by a crash is not held up for long. Every worker has a finite
		// timeout, so every job is rescued.
		RescueStuckJobsAfter: RescueAfter,
		// The scheduler makes several jobs a second; kept for River's
		// default day, finished jobs would be millions of rows.
		CompletedJobRetentionPeriod: time.Hour,
	})
	if err != nil {
		return fmt.Errorf("create River client: %w", err)
	}
	if err := client.Start(ctx); err != nil {
		return fmt.Errorf("start River: %w", err)
	}
	q.client = client
	return nil
}

// pollInterval is River's FetchPollInterval: its default of a second while
// notifications say when jobs arrive, PollEvery otherwise.
func pollInterval(pollOnly bool) time.Duration {
	if pollOnly {
		return PollEvery
	}
	return time.Second
}

// Stop lets running jobs finish until ctx is done, then cancels them.
func (q *Queue) Stop(ctx context.Context) error {
	if q.client == nil {
		return nil
	}
	err := q.client.Stop(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		cancelCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		return q.client.StopAndCancel(cancelCtx)
	}
	return err
}

// Insert enqueues a job.
func (q *Queue) Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) error {
	if q.client == nil {
		return errors.New("queue not started")
	}
	_, err := q.client.Insert(ctx, args, opts)
	return err
}

// InsertTx enqueues a job inside tx: it exists if and only if tx commits.
func (q *Queue) InsertTx(ctx context.Context, tx pgx.Tx, args river.JobArgs, opts *river.InsertOpts) error {
	if q.client == nil {
		return errors.New("queue not started")
	}
	_, err := q.client.InsertTx(ctx, tx, args, opts)
	return err
}

// InsertMany enqueues jobs.
func (q *Queue) InsertMany(ctx context.Context, jobs []river.InsertManyParams) error {
	if q.client == nil {
		return errors.New("queue not started")
	}
	_, err := q.client.InsertMany(ctx, jobs)
	return err
}

// InsertManyTx enqueues jobs inside tx: they exist if and only if tx
// commits.
func (q *Queue) InsertManyTx(ctx context.Context, tx pgx.Tx, jobs []river.InsertManyParams) error {
	if q.client == nil {
		return errors.New("queue not started")
	}
	_, err := q.client.InsertManyTx(ctx, tx, jobs)
	return err
}

// DropWaitingTx deletes, in tx, the jobs waiting on a queue that no process
// works any more (the checks of a lost location), at most 10,000, and
// returns how many.
func (q *Queue) DropWaitingTx(ctx context.Context, tx pgx.Tx, queue string) (int, error) {
	if q.client == nil {
		return 0, errors.New("queue not started")
	}
	res, err := q.client.JobDeleteManyTx(ctx, tx, river.NewJobDeleteManyParams().Queues(queue).
		States(rivertype.JobStateAvailable, rivertype.JobStateScheduled, rivertype.JobStateRetryable).First(10_000))
	if err != nil {
		return 0, fmt.Errorf("drop the jobs waiting on %s: %w", queue, err)
	}
	return len(res.Jobs), nil
}

// Running reports whether the queue has started and not stopped.
func (q *Queue) Running() bool {
	if q.client == nil {
		return false
	}
	select {
	case <-q.client.Stopped():
		return false
	default:
		return true
	}
}
