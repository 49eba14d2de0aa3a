package monitor

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"uptime/internal/queue"
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

// phase returns the site's fixed offset inside its interval. Multiples of
// the golden ratio, taken modulo one, spread the ids 1, 2, 3... evenly
// over the interval however many there are, so checks arrive at an even
// rate rather than in bursts.
func phase(id int64, interval time.Duration) time.Duration {
	const phi = 0.6180339887498949
	f := math.Mod(float64(id)*phi, 1)
	return time.Duration(f*float64(interval.Milliseconds())) * time.Millisecond
}

// nextDue returns the site's first due time at or after t.
func nextDue(id int64, interval time.Duration, t time.Time) time.Time {
	iv := interval.Milliseconds()
	if iv <= 0 {
		return t
	}
	return time.UnixMilli(slotAtOrAfter(t.UnixMilli(), iv, phase(id, interval).Milliseconds()))
}

// slotAtOrAfter returns the first time at or after t, in Unix
// milliseconds, that is ph past a multiple of iv.
func slotAtOrAfter(t, iv, ph int64) int64 {
	return t + mod(ph-t, iv)
}

func mod(a, b int64) int64 { return ((a % b) + b) % b }

// phaseRange is the sites of one interval whose phase is in [lo, hi),
// each due at most once in the window being claimed.
type phaseRange struct{ iv, lo, hi int64 }

// ranges returns, for each interval, the phases due in the window [a, b):
// one range, two when the window wraps around a multiple of the interval,
// or every phase when the window is as long as the interval.
func ranges(intervals []int64, a, b int64) []phaseRange {
	var out []phaseRange
	for _, iv := range intervals {
		if b-a >= iv {
			out = append(out, phaseRange{iv, 0, iv})
			continue
		}
		lo, hi := mod(a, iv), mod(b, iv)
		if lo < hi {
			out = append(out, phaseRange{iv, lo, hi})
		} else {
			out = append(out, phaseRange{iv, lo, iv}, phaseRange{iv, 0, hi})
		}
	}
	return out
}

// due returns when a site of the interval and phase is due in the window
// [a, b): its one slot there, or its last when the window holds more, with
// how many of them it skips.
func due(iv, ph, a, b int64) (at int64, skipped int64) {
	first := slotAtOrAfter(a, iv, ph)
	if first >= b {
		return first, 0 // not in the window: cannot happen for a claimed phase
	}
	n := (b - 1 - first) / iv
	return first + n*iv, n
}

// claimed is a round a pass claimed.
type claimed struct {
	site, due int64
	// locations are the site's own; empty for every location.
	locations []string
}

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
	live, err := s.trackLocations(ctx, tx)
	if err != nil {
		return time.Time{}, err
	}
	var rounds []claimed
	var missed int64
	if a < b {
		if rounds, missed, err = s.claim(ctx, tx, a, b); err != nil {
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
	s.stats.scheduled(len(rounds), int(missed))
	if missed > 0 {
		s.log.Warn("check-all: rounds missed while no instance scheduled; each site is checked once now",
			"missed", missed, "claimed", len(rounds), "since", time.UnixMilli(a).UTC().Format(time.RFC3339))
	}
	return at, nil
}

// claim reads the rounds due in the window [a, b), in the order they are
// due, and counts the rounds it skips because the window holds more than
// one of a site's.
func (s *Service) claim(ctx context.Context, tx pgx.Tx, a, b int64) ([]claimed, int64, error) {
	// The intervals in use, each found by one probe of the index.
	rows, err := tx.Query(ctx, `WITH RECURSIVE iv AS (
			SELECT min(interval_ms) AS ms FROM monitored WHERE NOT paused
			UNION ALL
			SELECT (SELECT min(interval_ms) FROM monitored WHERE NOT paused AND interval_ms > iv.ms) FROM iv WHERE iv.ms IS NOT NULL)
		SELECT ms FROM iv WHERE ms IS NOT NULL`)
	if err != nil {
		return nil, 0, fmt.Errorf("schedule: %w", err)
	}
	intervals, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, 0, fmt.Errorf("schedule: %w", err)
	}
	if len(intervals) == 0 {
		return nil, 0, nil
	}
	rs := ranges(intervals, a, b)
	ivs, los, his := make([]int64, len(rs)), make([]int64, len(rs)), make([]int64, len(rs))
	for i, r := range rs {
		ivs[i], los[i], his[i] = r.iv, r.lo, r.hi
	}
	rows, err = tx.Query(ctx, `SELECT m.site_id, m.interval_ms, m.phase_ms, m.first_check_at,
			ARRAY(SELECT jsonb_array_elements_text(m.settings->'locations'))
		FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS r(iv, lo, hi)
		JOIN monitored m ON m.interval_ms = r.iv AND m.phase_ms >= r.lo AND m.phase_ms < r.hi AND NOT m.paused`,
		ivs, los, his)
	if err != nil {
		return nil, 0, fmt.Errorf("schedule: %w", err)
	}
	var (
		out        []claimed
		missed     int64
		id, iv, ph int64
		first      *time.Time
		locations  []string
	)
	if _, err := pgx.ForEachRow(rows, []any{&id, &iv, &ph, &first, &locations}, func() error {
		at, skipped := due(iv, ph, a, b)
		if first != nil && at < first.UnixMilli()+iv/2 {
			return nil // the check asked for when it was added is this round's
		}
		out = append(out, claimed{site: id, due: at, locations: locations})
		missed += skipped
		return nil
	}); err != nil {
		return nil, 0, fmt.Errorf("schedule: %w", err)
	}
	slices.SortFunc(out, func(x, y claimed) int { return int(x.due - y.due) })
	return out, missed, nil
}

// enqueue hands the rounds out as check-sites jobs, in tx: each round to
// each of its site's locations that is live, on that location's queue. A
// site none of whose locations is live is not checked until one is.
func (s *Service) enqueue(ctx context.Context, tx pgx.Tx, rounds []claimed, live []string) error {
	var jobs []river.InsertManyParams
	for _, loc := range live {
		var mine []claimed
		for _, r := range rounds {
			if len(r.locations) == 0 || slices.Contains(r.locations, loc) {
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
func appendCheckJobs(jobs []river.InsertManyParams, rounds []claimed, queue string) []river.InsertManyParams {
	if len(rounds) == 0 {
		return jobs
	}
	size := min(jobSites, max(1, (len(rounds)+minJobs-1)/minJobs))
	for start := 0; start < len(rounds); start += size {
		part := rounds[start:min(start+size, len(rounds))]
		args := CheckSitesArgs{From: part[0].due, Sites: make([]int64, len(part)), Due: make([]int64, len(part))}
		for i, r := range part {
			args.Sites[i], args.Due[i] = r.site, r.due-args.From
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
		s.instanceID, instanceAlive).Scan(&others)
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
