package monitor

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"uptime/internal/errs"
	"uptime/site"
)

// The monitor's copy of the sites keeps their credentials sealed with the
// instances' secret key, as the site database does (see site.Sealed):
// probes, which check with them, hold the same key.

// open returns the site of a row of the monitor's copy, credentials
// included.
func (s *Service) open(id int64, shownURL, settings string, sealed []byte, version int64) (site.Entry, error) {
	u, st, err := site.Sealed{URL: shownURL, Settings: settings, Secrets: sealed}.Open(s.opts.Box)
	if err != nil {
		return site.Entry{}, fmt.Errorf("site %d: %w", id, err)
	}
	return site.Entry{Site: site.Site{ID: id, URL: u}, Given: st, Version: version}, nil
}

// CheckKey makes sure this instance's key opens the credentials the
// monitor's database holds; before any was sealed, any key will do.
func (s *Service) CheckKey(ctx context.Context) error {
	var probe []byte
	err := s.db.QueryRow(ctx, `SELECT probe FROM sealing_key WHERE id = 1`).Scan(&probe)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check the secret key: %w", err)
	}
	return s.opts.Box.CheckProbe(probe, site.SealedWhat("monitor"))
}

// claimKey leaves, before sealed is written, the probe of this instance's
// key if the database has none yet, and refuses to seal with a key other
// than the database's. Once this process's key is known to be the
// database's, it is not asked again; nothing sealed asks nothing.
func (s *Service) claimKey(ctx context.Context, sealed ...[]byte) error {
	if s.keyClaimed.Load() || !slices.ContainsFunc(sealed, func(b []byte) bool { return b != nil }) {
		return nil
	}
	if _, err := s.db.Exec(ctx, `INSERT INTO sealing_key (id, probe) VALUES (1, $1) ON CONFLICT (id) DO NOTHING`,
		s.opts.Box.Probe()); err != nil {
		return fmt.Errorf("claim the secret key: %w", err)
	}
	if err := s.CheckKey(ctx); err != nil {
		s.log.Error("refusing to seal the sites' credentials", "err", err)
		return errs.Errorf(errs.FailedPrecondition, "%s", err.Error())
	}
	s.keyClaimed.Store(true)
	return nil
}

// SealOlder seals the credentials of the copies written by versions
// before they were sealed, in place, a batch a transaction, and hides
// them in the URL each site's state keeps. It is run at start-up.
func (s *Service) SealOlder(ctx context.Context) error {
	for {
		rows, err := s.db.Query(ctx, `SELECT site_id, url, settings FROM monitored WHERE in_clear ORDER BY site_id LIMIT 1000`)
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
			v := site.Seal(s.opts.Box, rawURL, e.Given)
			ids, urls, settings, secrets = append(ids, id), append(urls, v.URL), append(settings, v.Settings), append(secrets, v.Secrets)
			return nil
		}); err != nil {
			return fmt.Errorf("read the schedule to seal: %w", err)
		}
		if len(ids) == 0 {
			return nil
		}
		if err := s.claimKey(ctx, secrets...); err != nil {
			return err
		}
		err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `UPDATE monitored m SET url = v.url, settings = v.settings, sealed = v.sealed, in_clear = false
				FROM unnest($1::bigint[], $2::text[], $3::jsonb[], $4::bytea[]) AS v(site_id, url, settings, sealed)
				WHERE m.site_id = v.site_id`, ids, urls, settings, secrets); err != nil {
				return err
			}
			return writeShownURLs(ctx, tx, ids, urls)
		})
		if err != nil {
			return fmt.Errorf("seal the schedule of %d sites: %w", len(ids), err)
		}
	}
}
