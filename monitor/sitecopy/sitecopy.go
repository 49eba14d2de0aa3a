// Package sitecopy keeps the monitor's copy of each site's settings (the
// monitored table), so that scheduling and checking never wait on the
// site database: the site service's notices keep it, and reconciliation
// repairs what a lost notice left stale. The copy keeps the sites'
// credentials sealed with the instances' secret key, as the site database
// does (see site.Sealed): probes, which check with them, hold the same key.
package sitecopy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"uptime/internal/errs"
	"uptime/internal/seal"
	"uptime/monitor/schedule"
	"uptime/site"
)

// Copy is the monitor's copy of the sites' settings.
type Copy struct {
	db              *pgxpool.Pool
	box             *seal.Box
	defaults        site.Defaults
	confirmInterval time.Duration
	log             *slog.Logger
	keyClaimed      atomic.Bool // the sealing key is known to be the database's
}

// New returns the copy in db, sealed with box. A site's settings are
// completed with defaults, and its re-checks are confirmInterval apart.
func New(db *pgxpool.Pool, box *seal.Box, defaults site.Defaults, confirmInterval time.Duration, log *slog.Logger) *Copy {
	return &Copy{db: db, box: box, defaults: defaults, confirmInterval: confirmInterval, log: log}
}

// Config returns a site's settings with the defaults filled in: the flags
// of this process decide how a site without settings is checked.
func (c *Copy) Config(e *site.Entry) site.Config {
	return e.Given.Config(e.URL, c.defaults)
}

// tag names the defaults a copy was written with: a site's interval and
// round budget follow them where its settings say nothing, so rows
// written with other defaults are rewritten.
func (c *Copy) tag() string {
	d := c.defaults
	return fmt.Sprintf("%s/%s/%d/%s", d.Interval, d.Timeout, d.Confirmations, c.confirmInterval)
}

// budget is how long one round of a site may take: its checks, its
// re-checks and the pauses between them.
func (c *Copy) budget(cfg site.Config) time.Duration {
	n := time.Duration(cfg.Confirmations)
	return (n+1)*time.Duration(cfg.Timeout) + n*c.confirmInterval
}

// Keep writes the copy of the sites' settings in one statement, unless it
// holds a newer one of a site.
func (c *Copy) Keep(ctx context.Context, entries ...site.Entry) error {
	n := len(entries)
	var (
		ids, versions, ivs, phases, budgets = make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		urls, settings                      = make([]string, n), make([]string, n)
		secrets                             = make([][]byte, n)
		paused                              = make([]bool, n)
	)
	for i := range entries {
		e := &entries[i]
		cfg := c.Config(e)
		v := site.Seal(c.box, e.URL, e.Given)
		iv := time.Duration(cfg.Interval)
		ids[i], urls[i], settings[i], secrets[i], versions[i] = e.ID, v.URL, v.Settings, v.Secrets, e.Version
		ivs[i], phases[i], budgets[i] = iv.Milliseconds(), schedule.Phase(e.ID, iv).Milliseconds(), c.budget(cfg).Milliseconds()
		// A push site is never fetched: the scheduler leaves it alone as it
		// does a paused one, and its signals and deadline are heartbeat's.
		paused[i] = cfg.Paused || cfg.Kind == site.KindPush
	}
	if err := c.claimKey(ctx, secrets...); err != nil {
		return err
	}
	_, err := c.db.Exec(ctx, `INSERT INTO monitored (site_id, url, settings, sealed, version, defaults, interval_ms, phase_ms, budget_ms, paused)
		SELECT v.site_id, v.url, v.settings, v.sealed, v.version, $10, v.interval_ms, v.phase_ms, v.budget_ms, v.paused
		FROM unnest($1::bigint[], $2::text[], $3::jsonb[], $4::bytea[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::boolean[])
			AS v(site_id, url, settings, sealed, version, interval_ms, phase_ms, budget_ms, paused)
		ON CONFLICT (site_id) DO UPDATE SET url = excluded.url, settings = excluded.settings, sealed = excluded.sealed,
			in_clear = false, version = excluded.version,
			defaults = excluded.defaults, interval_ms = excluded.interval_ms, phase_ms = excluded.phase_ms,
			budget_ms = excluded.budget_ms, paused = excluded.paused
		WHERE monitored.version <= excluded.version`,
		ids, urls, settings, secrets, versions, ivs, phases, budgets, paused, c.tag())
	if err != nil {
		return fmt.Errorf("keep settings of %d sites: %w", n, err)
	}
	return c.keepHeartbeats(ctx, entries)
}

// keepHeartbeats writes the push sites' token, schedule and grace, and
// forgets those of the sites that are push sites no more. The run awaited
// follows a new schedule from the last success; a site paused, or paused
// until now, awaits nothing until its next success.
func (c *Copy) keepHeartbeats(ctx context.Context, entries []site.Entry) error {
	type push struct {
		cfg site.Config
		e   *site.Entry
	}
	var (
		pushes []push
		others []int64
	)
	for i := range entries {
		e := &entries[i]
		cfg := c.Config(e)
		if cfg.Kind != site.KindPush || e.Given.TokenHash == nil || cfg.Grace == nil {
			others = append(others, e.ID)
			continue
		}
		pushes = append(pushes, push{cfg, e})
	}
	if len(others) > 0 {
		// Those that were push sites, and their signals with them.
		if _, err := c.db.Exec(ctx, `WITH gone AS (DELETE FROM heartbeat WHERE site_id = ANY($1) RETURNING site_id)
			DELETE FROM heartbeat_signal WHERE site_id IN (SELECT site_id FROM gone)`, others); err != nil {
			return fmt.Errorf("forget the heartbeats of sites that are push sites no more: %w", err)
		}
	}
	if len(pushes) == 0 {
		return nil
	}
	slices.SortFunc(pushes, func(a, b push) int { return cmp.Compare(a.e.ID, b.e.ID) })
	tx, err := c.db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("keep the heartbeats of %d push sites: %w", len(pushes), err)
	}
	defer tx.Rollback(ctx)
	ids := make([]int64, len(pushes))
	for i, p := range pushes {
		ids[i] = p.e.ID
	}
	type held struct {
		periodMS              int64
		cron, timezone        string
		paused                bool
		lastSuccess, expected *time.Time
	}
	before := make(map[int64]held, len(pushes))
	rows, err := tx.Query(ctx, `SELECT site_id, period_ms, cron, timezone, paused, last_success_at, expected_at
		FROM heartbeat WHERE site_id = ANY($1) ORDER BY site_id FOR UPDATE`, ids)
	if err != nil {
		return fmt.Errorf("read the heartbeats of %d push sites: %w", len(pushes), err)
	}
	var (
		id int64
		h  held
	)
	if _, err := pgx.ForEachRow(rows, []any{&id, &h.periodMS, &h.cron, &h.timezone, &h.paused, &h.lastSuccess, &h.expected}, func() error {
		before[id] = h
		return nil
	}); err != nil {
		return fmt.Errorf("read the heartbeats of %d push sites: %w", len(pushes), err)
	}
	n := len(pushes)
	var (
		versions, periods, graces = make([]int64, n), make([]int64, n), make([]int64, n)
		hashes, crons, zones      = make([]string, n), make([]string, n), make([]string, n)
		paused                    = make([]bool, n)
		expected                  = make([]*time.Time, n)
	)
	for i, p := range pushes {
		cfg := p.cfg
		versions[i], hashes[i] = p.e.Version, *p.e.Given.TokenHash
		periods[i], graces[i] = time.Duration(cfg.Interval).Milliseconds(), time.Duration(*cfg.Grace).Milliseconds()
		crons[i], zones[i], paused[i] = cfg.Cron, cfg.Timezone, cfg.Paused
		h, found := before[p.e.ID]
		if !found || h.paused || cfg.Paused || h.expected == nil {
			continue
		}
		expected[i] = h.expected
		if h.periodMS == periods[i] && h.cron == crons[i] && h.timezone == zones[i] || h.lastSuccess == nil {
			continue
		}
		sched, err := cfg.Due()
		if err != nil {
			return fmt.Errorf("the schedule of push site %d: %w", p.e.ID, err)
		}
		next := sched.Next(*h.lastSuccess)
		expected[i] = &next
	}
	_, err = tx.Exec(ctx, `INSERT INTO heartbeat AS h (site_id, token_hash, version, period_ms, grace_ms, paused, cron, timezone, expected_at)
		SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::boolean[], $7::text[], $8::text[], $9::timestamptz[])
		ON CONFLICT (site_id) DO UPDATE SET token_hash = excluded.token_hash, version = excluded.version,
			period_ms = excluded.period_ms, grace_ms = excluded.grace_ms, paused = excluded.paused,
			cron = excluded.cron, timezone = excluded.timezone, expected_at = excluded.expected_at,
			due_at = CASE WHEN NOT excluded.paused THEN
				LEAST(excluded.expected_at, (SELECT min(started_at) FROM heartbeat_run r WHERE r.site_id = h.site_id))
				+ excluded.grace_ms * interval '1 millisecond' END
		WHERE h.version <= excluded.version`, ids, hashes, versions, periods, graces, paused, crons, zones, expected)
	if err != nil {
		return fmt.Errorf("keep the heartbeats of %d push sites: %w", n, err)
	}
	// A paused site's runs going are forgotten: it is not told of them.
	if _, err := tx.Exec(ctx, `DELETE FROM heartbeat_run r USING heartbeat h
		WHERE r.site_id = h.site_id AND h.paused AND h.site_id = ANY($1)`, ids); err != nil {
		return fmt.Errorf("forget the runs of paused push sites: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("keep the heartbeats of %d push sites: %w", n, err)
	}
	return nil
}

// Stale compares the copy with the sites' versions in the site database:
// stale are the sites it lacks or holds another version of (or holds as
// written with other defaults), gone those it holds that are not listed.
func (c *Copy) Stale(ctx context.Context, versions map[int64]int64) (stale, gone []int64, err error) {
	rows, err := c.db.Query(ctx, "SELECT site_id, version, defaults FROM monitored")
	if err != nil {
		return nil, nil, fmt.Errorf("read schedule: %w", err)
	}
	var (
		id, version int64
		defaults    string
		current     = c.tag()
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
		return nil, nil, fmt.Errorf("read schedule: %w", err)
	}
	for id := range versions {
		if !seen[id] {
			stale = append(stale, id)
		}
	}
	return stale, gone, nil
}

// Orphans returns the sites with a state or recent figures but no copy,
// and those whose forgetting was cut short. An incident is opened with
// its site's state, and forgotten with it, so the state finds it.
func (c *Copy) Orphans(ctx context.Context) ([]int64, error) {
	rows, err := c.db.Query(ctx, `SELECT site_id FROM (
			SELECT site_id FROM site_state UNION SELECT site_id FROM rollup_recent
			UNION SELECT site_id FROM forgetting) o
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

// Entry returns the site with the id as the copy holds it, credentials
// included, with the URL open reads show; found is false when the copy
// has no such site.
func (c *Copy) Entry(ctx context.Context, id int64) (e site.Entry, shown string, found bool, err error) {
	var (
		settings string
		sealed   []byte
		version  int64
	)
	err = c.db.QueryRow(ctx, "SELECT url, settings, sealed, version FROM monitored WHERE site_id = $1", id).
		Scan(&shown, &settings, &sealed, &version)
	if errors.Is(err, pgx.ErrNoRows) {
		return e, "", false, nil
	}
	if err != nil {
		return e, "", false, fmt.Errorf("read settings of site %d: %w", id, err)
	}
	e, err = c.Open(id, shown, settings, sealed, version)
	return e, shown, err == nil, err
}

// Open returns the site of a row of the copy, credentials included.
func (c *Copy) Open(id int64, shownURL, settings string, sealed []byte, version int64) (site.Entry, error) {
	u, st, err := site.Sealed{URL: shownURL, Settings: settings, Secrets: sealed}.Open(c.box)
	if err != nil {
		return site.Entry{}, fmt.Errorf("site %d: %w", id, err)
	}
	return site.Entry{Site: site.Site{ID: id, URL: u}, Given: st, Version: version}, nil
}

// CheckKey makes sure this instance's key opens the credentials the
// monitor's database holds; before any was sealed, any key will do.
func (c *Copy) CheckKey(ctx context.Context) error {
	var probe []byte
	err := c.db.QueryRow(ctx, `SELECT probe FROM sealing_key WHERE id = 1`).Scan(&probe)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check the secret key: %w", err)
	}
	return c.box.CheckProbe(probe, site.SealedWhat("monitor"))
}

// claimKey leaves, before sealed is written, the probe of this instance's
// key if the database has none yet, and refuses to seal with a key other
// than the database's. Once this process's key is known to be the
// database's, it is not asked again; nothing sealed asks nothing.
func (c *Copy) claimKey(ctx context.Context, sealed ...[]byte) error {
	if c.keyClaimed.Load() || !slices.ContainsFunc(sealed, func(b []byte) bool { return b != nil }) {
		return nil
	}
	if _, err := c.db.Exec(ctx, `INSERT INTO sealing_key (id, probe) VALUES (1, $1) ON CONFLICT (id) DO NOTHING`,
		c.box.Probe()); err != nil {
		return fmt.Errorf("claim the secret key: %w", err)
	}
	if err := c.CheckKey(ctx); err != nil {
		c.log.Error("refusing to seal the sites' credentials", "err", err)
		return errs.Errorf(errs.FailedPrecondition, "%s", err.Error())
	}
	c.keyClaimed.Store(true)
	return nil
}

// SealOlder seals the credentials of the copies written by versions
// before they were sealed, in place, a batch a transaction; shown is
// called in each with the batch's sites and their URLs as now shown, for
// what else keeps a site's URL. It is run at start-up.
func (c *Copy) SealOlder(ctx context.Context, shown func(ctx context.Context, tx pgx.Tx, ids []int64, urls []string) error) error {
	for {
		rows, err := c.db.Query(ctx, `SELECT site_id, url, settings FROM monitored WHERE in_clear ORDER BY site_id LIMIT 1000`)
		if err != nil {
			return fmt.Errorf("read the schedule to seal: %w", err)
		}
		var (
			ids               []int64
			urls, settings    []string
			secrets           [][]byte
			id                int64
			rawURL, givenJSON string
		)
		if _, err := pgx.ForEachRow(rows, []any{&id, &rawURL, &givenJSON}, func() error {
			var e site.Entry
			if err := e.SetGiven([]byte(givenJSON)); err != nil {
				return fmt.Errorf("site %d: %w", id, err)
			}
			v := site.Seal(c.box, rawURL, e.Given)
			ids, urls, settings, secrets = append(ids, id), append(urls, v.URL), append(settings, v.Settings), append(secrets, v.Secrets)
			return nil
		}); err != nil {
			return fmt.Errorf("read the schedule to seal: %w", err)
		}
		if len(ids) == 0 {
			return nil
		}
		if err := c.claimKey(ctx, secrets...); err != nil {
			return err
		}
		err = pgx.BeginFunc(ctx, c.db, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `UPDATE monitored m SET url = v.url, settings = v.settings, sealed = v.sealed, in_clear = false
				FROM unnest($1::bigint[], $2::text[], $3::jsonb[], $4::bytea[]) AS v(site_id, url, settings, sealed)
				WHERE m.site_id = v.site_id`, ids, urls, settings, secrets); err != nil {
				return err
			}
			return shown(ctx, tx, ids, urls)
		})
		if err != nil {
			return fmt.Errorf("seal the schedule of %d sites: %w", len(ids), err)
		}
	}
}
