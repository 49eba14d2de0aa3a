package schedule

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// Claim reads the rounds due in the window [a, b), in the order they are
// due, and counts the rounds it skips because the window holds more than
// one of a site's.
func Claim(ctx context.Context, tx pgx.Tx, a, b int64) ([]Round, int64, error) {
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
	rows, err = tx.Query(ctx, `SELECT m.site_id, m.version, m.interval_ms, m.phase_ms, m.first_check_at,
			ARRAY(SELECT jsonb_array_elements_text(m.settings->'locations'))
		FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS r(iv, lo, hi)
		JOIN monitored m ON m.interval_ms = r.iv AND m.phase_ms >= r.lo AND m.phase_ms < r.hi AND NOT m.paused`,
		ivs, los, his)
	if err != nil {
		return nil, 0, fmt.Errorf("schedule: %w", err)
	}
	var (
		out       []Round
		missed    int64
		id, v     int64
		iv, ph    int64
		first     *time.Time
		locations []string
	)
	if _, err := pgx.ForEachRow(rows, []any{&id, &v, &iv, &ph, &first, &locations}, func() error {
		at, skipped := due(iv, ph, a, b)
		if first != nil && at < first.UnixMilli()+iv/2 {
			return nil // the check asked for when it was added is this round's
		}
		out = append(out, Round{Site: id, Version: v, Due: at, Locations: locations})
		missed += skipped
		return nil
	}); err != nil {
		return nil, 0, fmt.Errorf("schedule: %w", err)
	}
	slices.SortFunc(out, func(x, y Round) int { return int(x.Due - y.Due) })
	return out, missed, nil
}
