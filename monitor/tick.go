package monitor

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"uptime/monitor/check"
	"uptime/monitor/decide"
	"uptime/monitor/event"
	"uptime/monitor/locations"
	"uptime/site"
)

// Batching of a tick's writes: the checks that change nothing are written a
// batch at a time, when batchSize have gathered or batchWait has passed
// since the first of them.
const (
	batchSize = 1000
	batchWait = 250 * time.Millisecond
)

// slots bounds how many checks run at once; a nil slots bounds nothing.
type slots chan struct{}

func (s slots) acquire(ctx context.Context) error {
	if s == nil {
		return nil
	}
	select {
	case s <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s slots) release() {
	if s != nil {
		<-s
	}
}

// target is a site as a round of checks sees it: what to send, and how
// many re-checks and passing checks decide a change.
type target struct {
	site.Site
	// shown is the URL as open reads show it, credentials hidden: what
	// the site's state keeps.
	shown         string
	check         *check.Site
	confirmations int
	// policy is how its settings decide its state; the service adds its
	// own (see Service.policy).
	policy decide.Policy
	// tags are the site's, for maintenance windows.
	tags []string
	// name is the site's name, its URL's host unless it was given one.
	name string
	// push tells a push site, whose checks are its job's signals: they
	// come to whichever instance, and alone decide.
	push bool
	// dependsOn are the sites it depends on, by id.
	dependsOn []int64
}

// givenName is the site's name when it was given one, for its alerts;
// empty when it goes by its URL's host.
func (t *target) givenName() string {
	if u, err := url.Parse(t.URL); err == nil && t.name == u.Hostname() {
		return ""
	}
	return t.name
}

// newTarget returns the target of a site with its settings; shown is its
// URL as open reads show it.
func newTarget(st site.Site, shown string, c site.Config) *target {
	t := &target{Site: st, shown: shown, check: check.New(st.URL, c), confirmations: c.Confirmations, tags: c.Tags, name: c.Name,
		policy: decide.Policy{Recoveries: c.Recoveries, Locations: c.Locations}, push: c.Kind == site.KindPush, dependsOn: c.DependsOn}
	if c.Quorum != nil {
		t.policy.Quorum = *c.Quorum
	}
	if c.RemindEvery != nil {
		t.policy.RemindEvery = time.Duration(*c.RemindEvery)
	}
	if c.MaxLatency != nil {
		t.policy.SlowNeeded = c.Confirmations + 1
	}
	return t
}

// event is what a decision announces of the target, as published.
func (t *target) event(ev decide.Event) event.Transition {
	return event.Transition{Event: ev.Kind, Site: t.Site.Public(), Name: t.givenName(), Up: ev.Up, Reason: ev.Reason,
		At: ev.At, Since: ev.Since, Locations: ev.Locations}
}

// fetched tells whether the monitor fetches a site: not while it is
// paused, nor a push site, whose job reports in instead.
func fetched(c site.Config) bool { return !c.Paused && c.Kind != site.KindPush }

// fetchedFrom tells whether the site is fetched from the location: see
// fetched, and the site's locations.
func fetchedFrom(c site.Config, location string) bool {
	return fetched(c) && (len(c.Locations) == 0 || slices.Contains(c.Locations, location))
}

// config returns a site's settings with the monitor's defaults filled in:
// the flags of this process decide how a site without settings is checked.
func (s *Service) config(e *site.Entry) site.Config { return s.copy.Config(e) }

// confirm re-checks a failing site whose confirmed state is up, pausing
// ConfirmInterval before each re-check, until one passes or the site's
// confirmations more have failed. Each check holds one of sl; the pauses
// hold none, so a site being confirmed does not hold up the others. It
// returns every attempt so far, and ctx's error if it was cut short.
func (s *Service) confirm(ctx context.Context, t *target, attempts []Result, sl slots) ([]Result, error) {
	for i := 0; i < t.confirmations && !attempts[len(attempts)-1].Up; i++ {
		select {
		case <-ctx.Done():
			return attempts, ctx.Err()
		case <-time.After(s.opts.ConfirmInterval):
		}
		if err := sl.acquire(ctx); err != nil {
			return attempts, err
		}
		res := s.checker.Run(ctx, t.check)
		sl.release()
		if ctx.Err() != nil {
			return attempts, ctx.Err()
		}
		attempts = append(attempts, res)
	}
	return attempts, nil
}

// CheckAll checks every site that is not paused, at most
// Options.Concurrency at once. A site that hangs costs one timeout and
// holds up no other.
//
// The confirmed state of every site is read once, at the start. A check
// that agrees with it, as nearly all do, is decided with others in a
// batch, whose decisions that announce nothing are written where the
// state row has not changed since; a check that disagrees, and any the
// batch did not apply, goes through the per-site transaction that decides
// under the state row's lock. Both decide by decide.Decide. Every check is
// recorded either way. Failures to record are counted, not allowed to
// stop the others.
func (s *Service) CheckAll(ctx context.Context) error {
	list, err := s.sites.List(ctx)
	if err != nil {
		return fmt.Errorf("list sites: %w", err)
	}
	states, err := s.confirmedStates(ctx)
	if err != nil {
		return err
	}
	if err := s.forgetDeleted(ctx, list.Sites, states); err != nil {
		return err
	}

	var fails failures
	w := s.startBatchWriter(&fails)
	sl := make(slots, s.opts.Concurrency)
	var wg sync.WaitGroup
	n := 0
	for _, e := range list.Sites {
		c := s.config(e)
		if !fetched(c) {
			continue
		}
		if sl.acquire(ctx) != nil {
			break
		}
		n++
		t := newTarget(e.Site, e.Site.Public().URL, c)
		wg.Go(func() {
			up := states[t.ID]
			s.round(ctx, t, up != nil && *up, up != nil, nil, sl, w, &fails)
		})
	}
	return s.endRounds(ctx, &wg, w, &fails, "check-all", len(list.Sites))
}

// endRounds waits for the rounds started and for their checks to be
// written, and says how many could not be recorded.
func (s *Service) endRounds(ctx context.Context, wg *sync.WaitGroup, w *batchWriter, fails *failures, what string, of int) error {
	wg.Wait()
	close(w.in)
	<-w.done
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if n, first := fails.get(); n > 0 {
		return fmt.Errorf("%s: %d of %d checks could not be recorded; first: %w", what, n, of, first)
	}
	return nil
}

// round checks a site once, holding one of sl that the caller acquired,
// re-checks it if it fails while confirmed up, and records what it saw:
// through w when the result agrees with the confirmed state the caller
// read (known tells whether there was one; a site never checked counts as
// up), through the locked decision otherwise. seen is the site's state as
// the caller read it, if it did, from which the batch decides unless the
// row is written meanwhile. A probe sends every round through w, whose
// batches it reports (see report).
func (s *Service) round(ctx context.Context, t *target, wasUp, known bool, seen *seenState, sl slots, w *batchWriter, fails *failures) {
	res := s.checker.Run(ctx, t.check)
	sl.release()
	if ctx.Err() != nil {
		return // cut short: that says nothing of the site
	}
	r := tickResult{target: t, attempts: []Result{res}, from: s.opts.Location, seen: seen}
	if !known {
		wasUp = true // never checked counts as up
	}
	if !res.Up && wasUp {
		var err error
		if r.attempts, err = s.confirm(ctx, t, r.attempts, sl); err != nil {
			r.cutShort = true
		} else if !r.attempts[len(r.attempts)-1].Up {
			s.checkParents(ctx, t) // before its down is decided
		}
	}
	switch {
	case s.opts.Probe || r.attempts[len(r.attempts)-1].Up == wasUp && !r.cutShort:
		// A probe reports every round, as a batch; see report.
		w.in <- r
	case r.cutShort:
		fails.add(s.recordAttempts(context.WithoutCancel(ctx), t, r.from, r.attempts))
	default:
		fails.add(s.record(ctx, t, r.from, r.attempts))
	}
}

// failures counts the errors of a tick and keeps the first.
type failures struct {
	mu    sync.Mutex
	n     int
	first error
}

func (f *failures) add(err error) {
	if err == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	if f.first == nil {
		f.first = err
	}
}

func (f *failures) get() (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n, f.first
}

// confirmedStates returns the state of every site that has one: as this
// location sees it, for the sites it has checked.
func (s *Service) confirmedStates(ctx context.Context) (map[int64]*bool, error) {
	rows, err := s.db.Query(ctx, "SELECT site_id, (locations->$1->>'up')::boolean FROM site_state", s.opts.Location)
	if err != nil {
		return nil, fmt.Errorf("read site states: %w", err)
	}
	defer rows.Close()
	states := make(map[int64]*bool)
	var (
		id int64
		up *bool
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &up}, func() error {
		states[id] = up
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read site states: %w", err)
	}
	return states, nil
}

// forgetDeleted removes the state and history of every site with a state
// but no longer on the list: the ones deleted while a notice of it was lost.
func (s *Service) forgetDeleted(ctx context.Context, listed []*site.Entry, states map[int64]*bool) error {
	on := make(map[int64]bool, len(listed))
	for _, st := range listed {
		on[st.ID] = true
	}
	var gone []int64
	for id := range states {
		if !on[id] {
			gone = append(gone, id)
			delete(states, id)
		}
	}
	return s.forget(ctx, gone)
}

// tickResult is a round of a site's checks made from a location.
type tickResult struct {
	target   *target
	attempts []Result
	from     string
	// cutShort marks a confirmation cut short: its attempts are recorded,
	// and decide nothing.
	cutShort bool
	// reported marks a round a probe reported: this process records it,
	// but did not make it.
	reported bool
	// seen is the site's state as read before the round, nil if it was
	// not read or the site had none.
	seen *seenState
}

// batchWriter writes a tick's agreeing checks a batch at a time.
type batchWriter struct {
	in   chan tickResult
	done chan struct{}
}

// startBatchWriter starts writing what is sent on the writer's in channel;
// done is closed once in is closed and everything sent has been written.
// Writes outlive the tick's context: checks already made are recorded even
// when the tick is stopped.
func (s *Service) startBatchWriter(fails *failures) *batchWriter {
	w := &batchWriter{in: make(chan tickResult, batchSize), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		batch := make([]tickResult, 0, batchSize)
		flush := func() {
			switch {
			case len(batch) == 0:
			case s.opts.Probe:
				fails.add(s.report(batch))
			default:
				s.writeBatch(batch, fails)
			}
			batch = batch[:0]
		}
		timer := time.NewTimer(time.Hour)
		defer timer.Stop()
		for {
			select {
			case r, ok := <-w.in:
				if !ok {
					flush()
					return
				}
				batch = append(batch, r)
				if len(batch) == 1 {
					timer.Reset(batchWait)
				}
				if len(batch) == batchSize {
					flush()
				}
			case <-timer.C:
				flush()
			}
		}
	}()
	return w
}

// writeBatch records a batch of checks and the quiet decisions they make
// (see recordAgreeing), in one transaction. The others, and those whose
// row a concurrent check wrote meanwhile, go through record's locked
// decision one by one.
func (s *Service) writeBatch(batch []tickResult, fails *failures) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// One order for the row locks of every batch.
	slices.SortFunc(batch, func(a, b tickResult) int { return cmp.Compare(a.target.ID, b.target.ID) })
	disagree, err := s.recordAgreeing(ctx, batch)
	if err != nil {
		for range batch {
			fails.add(err)
		}
		return
	}
	for _, r := range disagree {
		fails.add(s.decide(ctx, r.target, r.from, r.attempts))
	}
}

// recordAgreeing inserts every attempt of the batch with COPY and decides
// each site's state from its attempts (see decide.Decide), in one
// transaction. It writes the states of the decisions that announce
// nothing, each only if its row has not been written since it was read,
// and returns the results it did not apply: those whose decision
// announces something or found the row changed, to be decided again
// under the row's lock, as are the rows whose state changes. A round
// brings the state read before it, if it was: it is decided from that
// first, and from the state as it is now only if its row was written
// since.
func (s *Service) recordAgreeing(ctx context.Context, batch []tickResult) ([]tickResult, error) {
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("record the checks of %d sites: %w", len(batch), err)
	}
	defer tx.Rollback(ctx)
	batch, err = s.scheduledOnly(ctx, tx, batch)
	if err != nil || len(batch) == 0 {
		return nil, err
	}
	var rows [][]any
	for _, r := range batch {
		s.markMaintenance(ctx, r.target, r.attempts)
		for _, a := range r.attempts {
			rows = append(rows, []any{r.target.ID, a.Up, a.CheckedAt, a.StatusOrNil(), a.LatencyMS(), a.Reason, a.CertExpiry, a.Degraded, a.Maintenance, r.from})
		}
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"checks"},
		[]string{"site_id", "up", "checked_at", "status_code", "latency_ms", "reason", "cert_expires_at", "degraded", "maintenance", "location"},
		pgx.CopyFromRows(rows)); err != nil {
		return nil, fmt.Errorf("record %d checks: %w", len(rows), err)
	}
	live, err := s.locations.Live(ctx, tx)
	if err != nil {
		return nil, err
	}
	var (
		rest    []tickResult
		pending []tickResult // to decide from the states as they are now
		decided = make(map[int64]bool, len(batch))
		early   = make(map[int64]seenState, len(batch))
	)
	for _, r := range batch {
		id := r.target.ID
		switch {
		case r.cutShort:
			// Recorded, deciding nothing.
		case decided[id]:
			// A second round of a site in the batch: decided under its lock.
			rest = append(rest, r)
		case r.seen != nil:
			decided[id] = true
			early[id] = *r.seen
			pending = append(pending, r)
		default:
			decided[id] = true
			pending = append(pending, r)
		}
	}
	// The rounds that bring their states are decided from them; those
	// whose rows were written since, and the others, from the states read
	// now.
	written := make(map[int64]seenState, len(batch))
	again, more, err := s.decideQuiet(ctx, tx, pending, early, live, written)
	if err != nil {
		return nil, err
	}
	rest = append(rest, more...)
	if len(again) > 0 {
		slices.SortFunc(again, func(a, b tickResult) int { return cmp.Compare(a.target.ID, b.target.ID) })
		ids := make([]int64, len(again))
		for i, r := range again {
			ids[i] = r.target.ID
		}
		now, err := s.batchStates(ctx, tx, again, ids)
		if err != nil {
			return nil, err
		}
		again, more, err = s.decideQuiet(ctx, tx, again, now, live, written)
		if err != nil {
			return nil, err
		}
		rest = append(rest, more...)
		rest = append(rest, again...)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("record %d checks: %w", len(rows), err)
	}
	s.states.put(written, time.Now())
	for _, r := range batch {
		if !r.reported {
			s.countChecks(r.target.URL, r.attempts)
		}
	}
	return rest, nil
}

// decideQuiet decides the rounds, one a site, from the states seen and
// writes in tx the states of the decisions that announce nothing, each
// only where its row is at the version seen, adding them to written as
// their rows hold them now. It returns the rounds to decide again:
// unwritten, those whose state was not seen or whose row was written
// since (their sites contended, see stateCache); rest, those whose
// decision announces something, to be decided under the row's lock.
func (s *Service) decideQuiet(ctx context.Context, tx pgx.Tx, batch []tickResult, seen map[int64]seenState, live []string, written map[int64]seenState) (unwritten, rest []tickResult, err error) {
	var (
		writes []stateWrite
		quiet  []tickResult // the results of writes, in their order
	)
	for _, r := range batch {
		id := r.target.ID
		st, ok := seen[id]
		if !ok {
			unwritten = append(unwritten, r)
			continue
		}
		out := decide.Decide(st.state, decide.Round{Here: r.from, Attempts: r.attempts, Live: locations.With(live, r.from)}, s.policy(r.target))
		switch {
		case out.Stale:
			// Older than this location's latest check: nothing to write.
		case out.Quiet():
			writes = append(writes, stateWrite{id: id, url: r.target.shown, state: out.State, version: &st.version})
			quiet = append(quiet, r)
		default:
			rest = append(rest, r)
		}
	}
	if len(writes) == 0 {
		return unwritten, rest, nil
	}
	done, err := writeStates(ctx, tx, writes)
	if err != nil {
		return nil, nil, err
	}
	maps.Copy(written, done)
	if len(done) == len(writes) {
		return unwritten, rest, nil
	}
	var missed []int64
	for i, w := range writes {
		if _, ok := done[w.id]; !ok {
			unwritten = append(unwritten, quiet[i])
			missed = append(missed, w.id)
		}
	}
	s.states.contended(missed, time.Now())
	return unwritten, rest, nil
}

// batchStates reads the states of the batch's sites, making those of the
// sites that have none yet, as the per-site path does.
func (s *Service) batchStates(ctx context.Context, tx pgx.Tx, batch []tickResult, ids []int64) (map[int64]seenState, error) {
	seen, err := readStates(ctx, tx, ids, false)
	if err != nil || len(seen) == len(ids) {
		return seen, err
	}
	var (
		newIDs []int64
		urls   []string
	)
	for _, r := range batch { // in the order of their ids
		id := r.target.ID
		if _, ok := seen[id]; !ok && (len(newIDs) == 0 || newIDs[len(newIDs)-1] != id) {
			newIDs, urls = append(newIDs, id), append(urls, r.target.shown)
		}
	}
	if err := makeStates(ctx, tx, newIDs, urls); err != nil {
		return nil, err
	}
	made, err := readStates(ctx, tx, newIDs, false)
	if err != nil {
		return nil, err
	}
	maps.Copy(seen, made)
	return seen, nil
}

// scheduledOnly holds the schedule of the batch's sites in tx (see
// lockScheduled) and returns the batch without the sites no longer
// scheduled: deleted while they were checked, they get nothing recorded.
func (s *Service) scheduledOnly(ctx context.Context, tx pgx.Tx, batch []tickResult) ([]tickResult, error) {
	ids := make([]int64, len(batch))
	for i, r := range batch {
		ids[i] = r.target.ID
	}
	held, err := lockScheduled(ctx, tx, ids)
	if err != nil || len(held) == len(ids) {
		return batch, err
	}
	return slices.DeleteFunc(batch, func(r tickResult) bool {
		_, ok := slices.BinarySearch(held, r.target.ID)
		return !ok
	}), nil
}
