package monitor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5"

	"uptime/site"
)

// A site may depend on others (its database, its gateway): while one of
// them is down, its own down is recorded as "dependency down: <name>" and
// held back from alerts (see decide.Round.DependencyDown), so that an
// outage of one site needed by many is alerted once, as its own. A site
// found down before what it depends on was has its dependencies checked
// at once (checkParents), as a round of their own, so that the order in
// which their rounds fall does not decide which is alerted.

// dependencyDown returns the name of a site of the ids that is down, in
// tx; empty for none.
func dependencyDown(ctx context.Context, tx pgx.Tx, ids []int64) (string, error) {
	if len(ids) == 0 {
		return "", nil
	}
	var name, shown string
	err := tx.QueryRow(ctx, `SELECT COALESCE(m.settings->>'name', ''), m.url FROM site_state s
		JOIN monitored m ON m.site_id = s.site_id
		WHERE s.site_id = ANY($1) AND NOT s.up AND NOT m.paused ORDER BY s.site_id LIMIT 1`, ids).Scan(&name, &shown)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the state of the sites depended on: %w", err)
	}
	return site.NameOf(name, shown), nil
}

// checkParents gives each site t depends on that is not down already a
// round of its own now, recorded and decided as any: called when t is
// found down, before its down is decided. A site's round asked for by
// several at once is made once.
func (s *Service) checkParents(ctx context.Context, t *target) {
	if len(t.dependsOn) == 0 || s.opts.Probe {
		return
	}
	targets, err := s.scheduledTargets(ctx, t.dependsOn)
	if err != nil {
		s.log.Warn("could not read the sites a site down depends on", "site_id", t.ID, "err", err)
		return
	}
	for _, id := range t.dependsOn {
		pt, ok := targets[id]
		if !ok || pt.push {
			continue // paused, gone, or a job's signals: nothing to fetch
		}
		if l := pt.policy.Locations; len(l) > 0 && !slices.Contains(l, s.opts.Location) {
			continue // not checked from here: its own locations decide it
		}
		_, err, _ := s.parentRounds.Do(strconv.FormatInt(id, 10), func() (any, error) {
			return nil, s.parentRound(ctx, pt.target)
		})
		if err != nil {
			s.log.Warn("could not check a site depended on", "site_id", id, "for", t.ID, "err", err)
		}
	}
}

// parentRound checks a site depended on, confirms a failure unless it is
// down already, and records the round.
func (s *Service) parentRound(ctx context.Context, t *target) error {
	var up bool
	err := s.db.QueryRow(ctx, `SELECT up FROM site_state WHERE site_id = $1`, t.ID).Scan(&up)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		up = true // never checked counts as up
	case err != nil:
		return err
	case !up:
		return nil // down already: what the site depending on it needs to know
	}
	attempts := []Result{s.checker.Run(ctx, t.check)}
	if !attempts[0].Up {
		if attempts, err = s.confirm(ctx, t, attempts, nil); err != nil {
			return s.recordAttempts(context.WithoutCancel(ctx), t, s.opts.Location, attempts)
		}
	}
	return s.record(ctx, t, s.opts.Location, attempts)
}
