// Package history keeps what the checks leave: the partitions of the raw
// checks and their retention, the hourly and daily roll-ups, uptime over
// windows of time, daily series and incidents. The monitor's record path
// writes the checks; this package owns every other statement about them.
package history

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Options are how long history is kept.
type Options struct {
	// Retention is how long raw checks are kept when they are not packed.
	Retention time.Duration
	// Compact packs the checks of each closed day, which are then kept
	// CompactedRetention.
	Compact            bool
	CompactedRetention time.Duration
	// RollupRetention is how long the roll-ups are kept.
	RollupRetention time.Duration
}

// History is the history kept in the monitor's database.
type History struct {
	db   *pgxpool.Pool
	opts Options
	log  *slog.Logger
}

// New returns the history kept in db.
func New(db *pgxpool.Pool, opts Options, log *slog.Logger) *History {
	return &History{db: db, opts: opts, log: log}
}

// tables are the tables that hold a site's history, by site_id; shown
// are those of them that a view reads without the site's id (its
// incidents, today's and the recent days' figures), small enough to be
// deleted at once.
var (
	tables = []string{"checks", "checks_packed", "checks_day", "rollup_hour", "rollup_day", "rollup_recent", "rollup_late", "incident"}
	shown  = []string{"checks_day", "rollup_recent", "incident"}
)

// ForgetShown deletes, in tx, the history of the sites that views show
// without being asked for the site: what must go with its schedule. The
// rest goes with Forget.
func ForgetShown(ctx context.Context, tx pgx.Tx, ids []int64) error {
	return forgetIn(ctx, tx, shown, ids)
}

// Forget deletes the history of the sites, in tx.
func Forget(ctx context.Context, tx pgx.Tx, ids []int64) error {
	return forgetIn(ctx, tx, tables, ids)
}

func forgetIn(ctx context.Context, tx pgx.Tx, tables []string, ids []int64) error {
	for _, table := range tables {
		if _, err := tx.Exec(ctx, "DELETE FROM "+table+" WHERE site_id = ANY($1)", ids); err != nil {
			return fmt.Errorf("forget the history of %d sites: %w", len(ids), err)
		}
	}
	return nil
}
