package monitor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/riverqueue/river"

	"uptime/internal/api"
	"uptime/internal/seal"
	"uptime/monitor/schedule"
	"uptime/site"
)

// CheckSitesArgs is a share of the sites due in the next moments, for any
// instance to check.
type CheckSitesArgs = schedule.CheckSitesArgs

// checkDue checks the sites of a check-sites job, each at its due time,
// with the settings the site has then. A site checked less than half an
// interval before its round (when it was added, or through /check) is not
// checked again. A round claimed late, after an outage, is checked at
// once. A round whose job waited longer than half the site's interval
// after its due time and its claim (a job rescued from a dead process,
// stuck behind others, or fetched late while River's notifications are
// away) is counted as missed, not run: the next one is nearer, and two
// checks of a site are never less than half an interval apart.
func (s *Service) checkDue(ctx context.Context, args CheckSitesArgs, claimed time.Time) error {
	if len(args.Sites) != len(args.Due) {
		return fmt.Errorf("check-sites: %d sites but %d due times", len(args.Sites), len(args.Due))
	}
	// The states this process kept are as good as read only while no other
	// instance checks from here: a site another checked this round (when
	// it was added, or through /check) must be seen so, and not checked
	// again.
	alone, err := s.locations.Alone(ctx, s.db)
	if err != nil {
		return err
	}
	s.states.share(!alone)
	targets, states, err := s.dueSites(ctx, args.Sites, args.Versions, alone)
	if err != nil {
		return err
	}
	var (
		fails failures
		wg    sync.WaitGroup
		timer = time.NewTimer(0)
	)
	defer timer.Stop()
	w := s.startBatchWriter(&fails)
	for i, id := range args.Sites {
		t, ok := targets[id]
		if !ok {
			continue // deleted or paused since it was claimed
		}
		due := args.DueAt(i)
		if wait := time.Until(due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
			case <-timer.C:
			}
		}
		if ctx.Err() != nil {
			break
		}
		if time.Since(later(due, claimed)) > t.interval/2 {
			s.stats.MissedRound()
			s.log.Warn("check-all: round missed, because it started later than half the site's interval",
				"site_id", id, "late", time.Since(due).Round(time.Millisecond), "interval", t.interval)
			continue
		}
		seen := states[id]
		here, known := seen.at(s.opts.Location)
		if known && here.CheckedAt.After(due.Add(-t.interval/2)) {
			// Checked already this round, when it was added or asked for.
			continue
		}
		if s.inflight.acquire(ctx) != nil {
			break
		}
		s.stats.Started(time.Since(due))
		wg.Go(func() {
			s.round(ctx, t.target, here.Up, known, seen, s.inflight, w, &fails)
		})
	}
	return s.endRounds(ctx, &wg, w, &fails, "check-sites", len(args.Sites))
}

// dueSites reads, in one round trip, the settings of the sites with the
// ids that are still on the schedule and not paused (see
// scheduledTargets) and the states of those that have one, as read before
// their rounds: the rounds are decided from them, unless their rows are
// written meanwhile. With kept, a state this process wrote last (see
// stateCache) is not read again. versions, when given, are the sites'
// versions when their rounds were claimed: the settings of a site this
// process holds at that version are not read again.
func (s *Service) dueSites(ctx context.Context, ids, versions []int64, kept bool) (map[int64]scheduled, map[int64]*seenState, error) {
	b := &pgx.Batch{}
	targets := s.queueTargets(b, ids, versions)
	states, missing := map[int64]*seenState{}, ids
	if kept {
		states, missing = s.states.get(ids, time.Now())
	}
	if len(missing) > 0 {
		queueStates(b, missing, states)
	}
	if b.Len() > 0 {
		if err := s.db.SendBatch(ctx, b).Close(); err != nil {
			return nil, nil, err
		}
	}
	return targets.out, states, nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// scheduled is a site as the schedule holds it.
type scheduled struct {
	*target
	interval time.Duration
}

// scheduledTargets reads the settings of the sites with the ids that are
// still on the schedule and not paused.
func (s *Service) scheduledTargets(ctx context.Context, ids []int64) (map[int64]scheduled, error) {
	b := &pgx.Batch{}
	targets := s.queueTargets(b, ids, nil)
	if err := s.db.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	return targets.out, nil
}

// queuedTargets are the targets of a batch's sites, complete once it is
// sent.
type queuedTargets struct {
	out      map[int64]scheduled
	unopened int
	firstErr error
}

// queueTargets makes the targets of the sites with the ids: those this
// process holds at the versions given (if any, one an id, 0 for unknown)
// at once, the others from a read queued on b.
func (s *Service) queueTargets(b *pgx.Batch, ids, versions []int64) *queuedTargets {
	q := &queuedTargets{out: make(map[int64]scheduled, len(ids))}
	now := time.Now()
	missing := ids
	if len(versions) == len(ids) {
		missing = nil
		for i, id := range ids {
			if r, ok := s.cached.get(id, versions[i], now); ok && versions[i] != 0 {
				if err := q.add(s, id, r); err != nil {
					s.log.Error("a site's settings in the copy do not open", "site_id", id, "err", err)
				}
				continue
			}
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 {
		q.done(s)
		return q
	}
	b.Queue(`SELECT site_id, url, settings, sealed, version FROM monitored
		WHERE site_id = ANY($1) AND NOT paused`, missing).Query(func(rows pgx.Rows) error {
		var (
			id int64
			r  cachedRow
		)
		if _, err := pgx.ForEachRow(rows, []any{&id, &r.shown, &r.settings, &r.sealed, &r.version}, func() error {
			row := r
			s.cached.put(id, &row, now)
			return q.add(s, id, &row)
		}); err != nil {
			return fmt.Errorf("read settings: %w", err)
		}
		q.done(s)
		return nil
	})
	return q
}

// add makes the target of a site from its row of the copy.
func (q *queuedTargets) add(s *Service, id int64, r *cachedRow) error {
	e, err := s.copy.Open(id, r.shown, r.settings, r.sealed, r.version)
	if errors.Is(err, seal.ErrWrongKey) {
		// Checked without its credentials, it would fail for want of
		// them: a false alarm. It is left out, and said.
		q.unopened++
		q.firstErr = cmp.Or(q.firstErr, err)
		return nil
	}
	if err != nil {
		return err
	}
	c := s.config(&e)
	q.out[id] = scheduled{target: newTarget(e.Site, r.shown, c), interval: time.Duration(c.Interval)}
	return nil
}

// done says, or stops saying, that sites were left out for want of the
// key that opens their credentials.
func (q *queuedTargets) done(s *Service) {
	if q.unopened > 0 {
		s.unopened.Raise(fmt.Sprintf("%d sites left out of a round: %v; give every instance the same %s",
			q.unopened, q.firstErr, seal.EnvName))
	} else {
		s.unopened.Clear()
	}
}

// targetOf returns the site with the settings the monitor holds for it,
// or the defaults when it holds none yet.
func (s *Service) targetOf(ctx context.Context, st site.Site) (*target, error) {
	e := site.Entry{Site: st}
	held, _, found, err := s.copy.Entry(ctx, st.ID)
	if err != nil {
		return nil, err
	}
	if found {
		e.Given = held.Given
	}
	return newTarget(st, st.Public().URL, s.config(&e)), nil
}

type checkSitesWorker struct {
	river.WorkerDefaults[CheckSitesArgs]
	s *Service
}

func (w *checkSitesWorker) Work(ctx context.Context, job *river.Job[CheckSitesArgs]) error {
	err := w.s.checkDue(ctx, job.Args, job.CreatedAt)
	// PostgreSQL refusing what recording needs (a role without a grant, a
	// constraint, a full disk) is said at ERROR, once a minute while it
	// lasts; the database being away, or shutting down, is the outage
	// alarm's.
	var refused *pgconn.PgError
	switch {
	case errors.As(err, &refused) && !api.Unreachable(err):
		w.s.unrecorded.Raise(err.Error())
	case err == nil:
		w.s.unrecorded.Clear()
	}
	return err
}

// Timeout leaves room for the wait until the last site is due and the
// longest round a site's settings allow.
func (w *checkSitesWorker) Timeout(job *river.Job[CheckSitesArgs]) time.Duration {
	wait := time.Duration(0)
	if n := len(job.Args.Due); n > 0 {
		wait = max(time.Until(job.Args.DueAt(n-1)), 0)
	}
	longest := (site.MaxConfirmations+1)*site.MaxTimeout + site.MaxConfirmations*w.s.opts.ConfirmInterval
	return wait + longest + time.Minute
}
