package monitor

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"uptime/monitor/decide"
)

// A site's state row (site_state) holds what decide.Decide decides of it;
// this file is the one that writes it (forget deletes it with the rest of
// a site), for the per-site path and the bulk path alike.

// stateColumns are the columns of a decided state, in the order of
// stateFields, each named as of the table called of ("s." for example,
// or "" for none); a row made before its first decision has no latency.
func stateColumns(of string) string {
	names := []string{"up", "since", "checked_at", "status_code", "latency_ms", "reason", "cert_expires_at", "degraded",
		"streak", "locations", "announced_up", "next_reminder_at", "flapping_since", "slow_streak", "degraded_since",
		"recent", "recent_n", "unstable_since", "cert_warned_for", "cert_warned_days", "changes"}
	for i, n := range names {
		names[i] = of + n
		if n == "latency_ms" {
			names[i] = "COALESCE(" + of + n + ", 0)"
		}
	}
	return strings.Join(names, ", ")
}

func stateFields(st *decide.State) []any {
	return []any{&st.Up, &st.Since, &st.CheckedAt, &st.Status, &st.LatencyMS, &st.Reason, &st.CertExpiry, &st.Degraded,
		&st.Streak, &st.Locations,
		&st.AnnouncedUp, &st.NextReminderAt, &st.FlappingSince, &st.SlowStreak, &st.DegradedSince, &st.Recent,
		&st.RecentN, &st.UnstableSince, &st.CertWarnedFor, &st.CertWarnedDays, &st.Changes}
}

// makeStates makes the state rows of the sites with the ids that have
// none, as a site never checked has it: up, since nothing. urls are their
// URLs as open reads show them.
func makeStates(ctx context.Context, tx pgx.Tx, ids []int64, urls []string) error {
	if _, err := tx.Exec(ctx, `INSERT INTO site_state (site_id, url, up)
		SELECT id, url, true FROM unnest($1::bigint[], $2::text[]) AS v(id, url)
		ON CONFLICT (site_id) DO NOTHING`, ids, urls); err != nil {
		return fmt.Errorf("make the state of %d sites: %w", len(ids), err)
	}
	return nil
}

// seenState is a site's state as read, with the version of its row: the
// row's xmin, which every write of the row changes.
type seenState struct {
	state   decide.State
	version int64
}

// readStates reads the states of the sites with the ids that have one;
// with lock, it holds their rows until tx ends.
func readStates(ctx context.Context, tx pgx.Tx, ids []int64, lock bool) (map[int64]seenState, error) {
	rows, err := tx.Query(ctx, statesQuery(lock), ids)
	if err != nil {
		return nil, fmt.Errorf("read the state of %d sites: %w", len(ids), err)
	}
	out := make(map[int64]seenState, len(ids))
	if err := scanStates(rows, func(id int64, seen *seenState) { out[id] = *seen }); err != nil {
		return nil, fmt.Errorf("read the state of %d sites: %w", len(ids), err)
	}
	return out, nil
}

// queueStates queues on b the read of the states of the sites with the
// ids that have one, into out once b is sent.
func queueStates(b *pgx.Batch, ids []int64, out map[int64]*seenState) {
	b.Queue(statesQuery(false), ids).Query(func(rows pgx.Rows) error {
		if err := scanStates(rows, func(id int64, seen *seenState) {
			c := *seen
			out[id] = &c
		}); err != nil {
			return fmt.Errorf("read the state of %d sites: %w", len(ids), err)
		}
		return nil
	})
}

func statesQuery(lock bool) string {
	q := `SELECT site_id, xmin::text::bigint, ` + stateColumns("") + ` FROM site_state WHERE site_id = ANY($1)`
	if lock {
		q += ` ORDER BY site_id FOR UPDATE`
	}
	return q
}

// scanStates calls f with each state of rows, which f copies to keep: it
// is scanned over for the next.
func scanStates(rows pgx.Rows, f func(id int64, seen *seenState)) error {
	var (
		id   int64
		seen = new(seenState)
	)
	_, err := pgx.ForEachRow(rows, append([]any{&id, &seen.version}, stateFields(&seen.state)...), func() error {
		f(id, seen)
		*seen = seenState{}
		return nil
	})
	return err
}

// at returns the location's own view of the site in the state, if it
// has one; a nil state has none.
func (ss *seenState) at(location string) (decide.Location, bool) {
	if ss == nil {
		return decide.Location{}, false
	}
	l, ok := ss.state.Locations[location]
	return l, ok
}

// stateWrite is a decided state to write: the state, the site's URL as open
// reads show it, and, for a write on the bulk path, the version of the row
// it was decided from (nil on the per-site path, which holds the row).
type stateWrite struct {
	id      int64
	url     string
	state   decide.State
	version *int64
}

// writeStates writes the states in one statement, each only where its row
// is still at the version it was decided from, and returns those written,
// as their rows hold them now, with their new versions. A row written
// meanwhile, by another location's check or a round decided on the
// per-site path, is left for the caller to decide again.
func writeStates(ctx context.Context, tx pgx.Tx, writes []stateWrite) (map[int64]seenState, error) {
	n := len(writes)
	var (
		ids        = make([]int64, n)
		urls       = make([]string, n)
		versions   = make([]*int64, n)
		ups        = make([]bool, n)
		since      = make([]*time.Time, n)
		checkedAt  = make([]*time.Time, n)
		statuses   = make([]*int, n)
		latency    = make([]float64, n)
		reasons    = make([]string, n)
		certs      = make([]*time.Time, n)
		degraded   = make([]bool, n)
		streaks    = make([]int32, n)
		locations  = make([]string, n)
		announced  = make([]bool, n)
		remindAt   = make([]*time.Time, n)
		flapping   = make([]*time.Time, n)
		slow       = make([]int32, n)
		degrSince  = make([]*time.Time, n)
		recent     = make([]int64, n)
		recentN    = make([]int32, n)
		unstable   = make([]*time.Time, n)
		warnedFor  = make([]*time.Time, n)
		warnedDays = make([]*int, n)
		changes    = make([]string, n)
	)
	for i, w := range writes {
		st := w.state
		locs, err := json.Marshal(st.Locations)
		if err != nil {
			return nil, fmt.Errorf("write the state of site %d: %w", w.id, err)
		}
		ch := st.Changes
		if ch == nil {
			ch = []time.Time{}
		}
		chs, err := json.Marshal(ch)
		if err != nil {
			return nil, fmt.Errorf("write the state of site %d: %w", w.id, err)
		}
		ids[i], urls[i], versions[i] = w.id, w.url, w.version
		ups[i], since[i], checkedAt[i], statuses[i], latency[i] = st.Up, st.Since, st.CheckedAt, st.Status, st.LatencyMS
		reasons[i], certs[i], degraded[i], streaks[i], locations[i] = st.Reason, st.CertExpiry, st.Degraded, int32(st.Streak), string(locs)
		announced[i], remindAt[i], flapping[i], slow[i], degrSince[i] = st.AnnouncedUp, st.NextReminderAt, st.FlappingSince, int32(st.SlowStreak), st.DegradedSince
		recent[i], recentN[i], unstable[i], warnedFor[i], warnedDays[i] = st.Recent, int32(st.RecentN), st.UnstableSince, st.CertWarnedFor, st.CertWarnedDays
		changes[i] = string(chs)
	}
	rows, err := tx.Query(ctx, `UPDATE site_state s SET url = v.url, up = v.up, since = v.since, checked_at = v.checked_at,
			status_code = v.status_code, latency_ms = v.latency_ms, reason = v.reason, cert_expires_at = v.cert_expires_at,
			degraded = v.degraded, streak = v.streak, locations = v.locations, announced_up = v.announced_up,
			next_reminder_at = v.next_reminder_at, flapping_since = v.flapping_since, slow_streak = v.slow_streak,
			degraded_since = v.degraded_since, recent = v.recent, recent_n = v.recent_n, unstable_since = v.unstable_since,
			cert_warned_for = v.cert_warned_for, cert_warned_days = v.cert_warned_days, changes = v.changes
		FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::boolean[], $5::timestamptz[], $6::timestamptz[],
			$7::integer[], $8::double precision[], $9::text[], $10::timestamptz[], $11::boolean[], $12::integer[],
			$13::jsonb[], $14::boolean[], $15::timestamptz[], $16::timestamptz[], $17::integer[], $18::timestamptz[],
			$19::bigint[], $20::integer[], $21::timestamptz[], $22::timestamptz[], $23::integer[], $24::jsonb[])
			AS v(site_id, url, version, up, since, checked_at, status_code, latency_ms, reason, cert_expires_at, degraded,
				streak, locations, announced_up, next_reminder_at, flapping_since, slow_streak, degraded_since, recent,
				recent_n, unstable_since, cert_warned_for, cert_warned_days, changes)
		WHERE s.site_id = v.site_id AND (v.version IS NULL OR s.xmin::text::bigint = v.version)
		RETURNING s.site_id, s.xmin::text::bigint, `+stateColumns("s."),
		ids, urls, versions, ups, since, checkedAt, statuses, latency, reasons, certs, degraded, streaks,
		locations, announced, remindAt, flapping, slow, degrSince, recent, recentN, unstable, warnedFor, warnedDays, changes)
	if err != nil {
		return nil, fmt.Errorf("write the state of %d sites: %w", n, err)
	}
	written := make(map[int64]seenState, n)
	if err := scanStates(rows, func(id int64, seen *seenState) { written[id] = *seen }); err != nil {
		return nil, fmt.Errorf("write the state of %d sites: %w", n, err)
	}
	return written, nil
}

// writeShownURLs writes the URLs the sites' states show, as sealing older
// rows masks them.
func writeShownURLs(ctx context.Context, tx pgx.Tx, ids []int64, urls []string) error {
	_, err := tx.Exec(ctx, `UPDATE site_state s SET url = v.url
		FROM unnest($1::bigint[], $2::text[]) AS v(site_id, url) WHERE s.site_id = v.site_id`, ids, urls)
	return err
}

// forgetStates deletes the state rows of the sites, in tx.
func forgetStates(ctx context.Context, tx pgx.Tx, ids []int64) error {
	if _, err := tx.Exec(ctx, "DELETE FROM site_state WHERE site_id = ANY($1)", ids); err != nil {
		return fmt.Errorf("forget the state of %d sites: %w", len(ids), err)
	}
	return nil
}
