package history

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// Uptime is the share of checks that found a site up, in percent, over
// recent windows; null for a window without checks. 24h and 7d count whole
// hours back from the present one (24 and 168 of them, the present one
// included); 30d, 90d and 365d count whole UTC days back from today.
// Checks inside a maintenance window are left out.
type Uptime struct {
	Day     *float64 `json:"24h"`
	Week    *float64 `json:"7d"`
	Month   *float64 `json:"30d"`
	Quarter *float64 `json:"90d"`
	Year    *float64 `json:"365d"`
}

// DayRecord is one UTC day of a site's checks.
type DayRecord struct {
	// Date is the day, as 2006-01-02.
	Date string `json:"date"`
	// Uptime is the share of the day's checks that found the site up, in
	// percent; null without checks.
	Uptime *float64 `json:"uptime"`
	// Checks is how many checks the day had, outside maintenance.
	Checks int64 `json:"checks"`
	// LatencyMS is the mean time to an answer, in milliseconds; null
	// without one.
	LatencyMS *float64 `json:"latency_ms"`
}

// DaysResponse is a site's daily series.
type DaysResponse struct {
	// SiteID is the site's id.
	SiteID int64 `json:"site_id"`
	// Days are the last days, oldest first, today last.
	Days []DayRecord `json:"days"`
}

// MaxDays is the longest daily series.
const MaxDays = 400

// tally is the figures of a span of checks: a rolled-up day or hour, or an
// hour of raw checks not rolled up yet. Uptime reads no latency.
type tally struct {
	start      time.Time
	day        bool
	checks, up int64
	mchecks    int64 // checks inside maintenance
	mup        int64
	latCount   int64
	latSum     float64
}

func (t *tally) add(o tally) {
	t.checks += o.checks
	t.up += o.up
	t.mchecks += o.mchecks
	t.mup += o.mup
	t.latCount += o.latCount
	t.latSum += o.latSum
}

func (t *tally) uptime() *float64 {
	n := t.checks - t.mchecks
	if n <= 0 {
		return nil
	}
	u := round3(100 * float64(t.up-t.mup) / float64(n))
	return &u
}

// round3 rounds a figure given in JSON (a percentage, a latency in
// milliseconds) to three decimals: 85.714, not 85.71428571428571, and
// 4.124, not 4.1240000000000006.
func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

// tallies reads a site's figures from from on: its day rollups, the hour
// rollups of the days not rolled up yet and of the hours from hoursFrom
// (which sums of whole hours need), and its raw checks of the hours not
// rolled up yet, grouped by hour. Its cost does not grow with the number
// of raw checks, as long as the roll-ups keep up.
func (s *History) tallies(ctx context.Context, siteID int64, from, hoursFrom time.Time) ([]tally, error) {
	hoursUntil, daysUntil, err := s.rolledUntil(ctx, from)
	if err != nil {
		return nil, err
	}
	rawFrom := from
	if hoursUntil.After(from) {
		rawFrom = hoursUntil
	}
	const figures = `checks, up, maintenance_checks, maintenance_up`
	rows, err := s.db.Query(ctx, `SELECT true, day, `+figures+` FROM rollup_day
			WHERE site_id = $1 AND day >= $2 AND day < $4
		UNION ALL
		SELECT false, hour, `+figures+` FROM rollup_hour
			WHERE site_id = $1 AND hour >= greatest($2::timestamptz, least($3::timestamptz, $4::timestamptz)) AND hour < $5
			AND (hour >= $4 OR hour >= $3)
		UNION ALL
		SELECT false, date_trunc('hour', checked_at, 'UTC'), count(*), count(*) FILTER (WHERE up),
			count(*) FILTER (WHERE maintenance), count(*) FILTER (WHERE maintenance AND up)
			FROM checks WHERE site_id = $1 AND checked_at >= $6
			GROUP BY 2`, siteID, from, hoursFrom, daysUntil, hoursUntil, rawFrom)
	if err != nil {
		return nil, fmt.Errorf("read the uptime of site %d: %w", siteID, err)
	}
	ts, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (tally, error) {
		var t tally
		err := row.Scan(&t.day, &t.start, &t.checks, &t.up, &t.mchecks, &t.mup)
		t.start = t.start.UTC() // a map key: one location for all
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("read the uptime of site %d: %w", siteID, err)
	}
	return ts, nil
}

// rolledUntil returns where the hour and day rollups end; from for both
// when nothing is rolled up yet. Passed as parameters, these times let the
// planner skip the partitions out of range, and keep its estimates small.
func (s *History) rolledUntil(ctx context.Context, from time.Time) (hours, days time.Time, err error) {
	hoursUntil, daysUntil, err := s.rollupProgress(ctx)
	if err != nil || hoursUntil == nil || daysUntil == nil {
		return from, from, err
	}
	return *hoursUntil, *daysUntil, nil
}

// since sums the tallies from start on. A day rolled up stands for its
// hours: an hour's tally counts only where its day's does not.
func since(ts []tally, start time.Time) tally {
	sum := tally{start: start}
	days := map[time.Time]bool{}
	for _, t := range ts {
		if t.day && !t.start.Before(start) {
			sum.add(t)
			days[t.start] = true
		}
	}
	for _, t := range ts {
		if !t.day && !t.start.Before(start) && !days[checksTable.period(t.start)] {
			sum.add(t)
		}
	}
	return sum
}

// windowStarts returns where each uptime window starts at now.
func windowStarts(now time.Time) (day, week, month, quarter, year time.Time) {
	hour := now.UTC().Truncate(time.Hour)
	today := checksTable.period(now)
	return hour.Add(-23 * time.Hour), hour.Add(-167 * time.Hour),
		today.AddDate(0, 0, -29), today.AddDate(0, 0, -89), today.AddDate(0, 0, -364)
}

// Uptime returns a site's uptime over 24 hours, 7, 30, 90 and 365 days.
func (s *History) Uptime(ctx context.Context, siteID int64, now time.Time) (Uptime, error) {
	day, week, month, quarter, year := windowStarts(now)
	ts, err := s.tallies(ctx, siteID, year, week)
	if err != nil {
		return Uptime{}, err
	}
	d, w, m, q, y := since(ts, day), since(ts, week), since(ts, month), since(ts, quarter), since(ts, year)
	return Uptime{Day: d.uptime(), Week: w.uptime(), Month: m.uptime(), Quarter: q.uptime(), Year: y.uptime()}, nil
}

// Days returns a site's last n UTC days, oldest first, today included.
func (s *History) Days(ctx context.Context, siteID int64, n int, now time.Time) (*DaysResponse, error) {
	all, err := s.DaysOf(ctx, []int64{siteID}, n, now)
	if err != nil {
		return nil, err
	}
	return &DaysResponse{SiteID: siteID, Days: all[siteID]}, nil
}

// DaysOf returns the last n UTC days of each of the sites, oldest first,
// today included, in one round trip: the bars of a whole status page. The
// days rolled up come from the recent days' rows, one per site, or from
// the daily rollups when those rows do not cover them; the others, today
// at least, from the hour rollups and the raw checks of the hours not
// rolled up yet.
func (s *History) DaysOf(ctx context.Context, ids []int64, n int, now time.Time) (map[int64][]DayRecord, error) {
	today := checksTable.period(now)
	first := today.AddDate(0, 0, 1-n)
	p, err := s.readProgress(ctx)
	if err != nil {
		return nil, err
	}
	// Passed as parameters, these times let the planner skip the
	// partitions out of range, and keep its estimates small.
	hoursUntil, daysUntil := first, first
	if p.hours != nil && p.days != nil {
		hoursUntil, daysUntil = *p.hours, *p.days
	}
	recent := p.recent != nil && p.recent.Equal(daysUntil) && !p.recent.AddDate(0, 0, -recentDays).After(first)
	tailFrom := first
	if daysUntil.After(tailFrom) {
		tailFrom = daysUntil
	}
	live := p.live != nil && !p.live.After(tailFrom)

	batch := &pgx.Batch{}
	if recent {
		batch.Queue(`SELECT site_id, days_from, days FROM rollup_recent WHERE site_id = ANY($1)`, ids)
	} else {
		// Each site's days read through its own index range: no more
		// than the days asked for.
		batch.Queue(`SELECT s.id, $2::timestamptz, d.days FROM unnest($1::bigint[]) s(id) CROSS JOIN LATERAL (
			SELECT `+fmt.Sprintf(packDays, "$2")+` AS days FROM rollup_day WHERE site_id = s.id AND day >= $2 AND day < $3) d
			WHERE d.days IS NOT NULL`, ids, first, daysUntil)
	}
	// The days after: counted as their checks were added, or else from
	// their hour rollups and the raw checks not rolled up.
	const index = `floor((date_part('epoch', %s) - date_part('epoch', $2::timestamptz)) / 86400)::int`
	if live {
		batch.Queue(`SELECT site_id, `+fmt.Sprintf(index, "day")+`, checks - maintenance_checks, up - maintenance_up,
			latency_count, latency_sum FROM checks_day WHERE site_id = ANY($1) AND day >= $3`, ids, first, tailFrom)
	} else {
		batch.Queue(`SELECT site_id, `+fmt.Sprintf(index, "at")+`, sum(n), sum(up), sum(lc), sum(ls) FROM (
			SELECT site_id, hour AS at, checks - maintenance_checks AS n, up - maintenance_up AS up,
				latency_count AS lc, latency_sum AS ls
				FROM rollup_hour WHERE site_id = ANY($1) AND hour >= $3 AND hour < $4
			UNION ALL
			SELECT site_id, checked_at, (NOT maintenance)::int, (up AND NOT maintenance)::int,
				(status_code IS NOT NULL)::int, CASE WHEN status_code IS NOT NULL THEN latency_ms ELSE 0 END
				FROM checks WHERE site_id = ANY($1) AND checked_at >= greatest($3::timestamptz, $4::timestamptz)) r
		GROUP BY 1, 2`, ids, first, tailFrom, hoursUntil)
	}
	br := s.db.SendBatch(ctx, batch)
	defer br.Close()

	blank := make([]DayRecord, n)
	for i := range blank {
		blank[i].Date = first.AddDate(0, 0, i).Format(time.DateOnly)
	}
	out := make(map[int64][]DayRecord, len(ids))
	for _, id := range ids {
		out[id] = slices.Clone(blank)
	}
	set := func(d *DayRecord, t tally) {
		d.Checks = t.checks
		if t.checks > 0 {
			d.Uptime = ptrTo(round3(100 * float64(t.up) / float64(t.checks)))
		}
		if t.latCount > 0 {
			d.LatencyMS = ptrTo(round3(t.latSum / float64(t.latCount)))
		}
	}

	rows, err := br.Query()
	if err != nil {
		return nil, fmt.Errorf("read the days of %d sites: %w", len(ids), err)
	}
	var (
		id       int64
		from     time.Time
		packed   []byte
		rolledTo = int(daysUntil.Sub(first).Hours() / 24) // the index of the first day not rolled up
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &from, &packed}, func() error {
		days := out[id]
		offset := int(math.Round(from.Sub(first).Hours() / 24))
		for ; len(packed) >= packedDay; packed = packed[packedDay:] {
			i := offset + int(int16(binary.BigEndian.Uint16(packed)))
			if i < 0 || i >= min(len(days), rolledTo) {
				continue
			}
			t := tally{checks: int64(int32(binary.BigEndian.Uint32(packed[2:]))), up: int64(int32(binary.BigEndian.Uint32(packed[6:])))}
			if lat := math.Float32frombits(binary.BigEndian.Uint32(packed[10:])); !math.IsNaN(float64(lat)) {
				t.latCount, t.latSum = 1, float64(lat)
			}
			set(&days[i], t)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the days of %d sites: %w", len(ids), err)
	}
	rows, err = br.Query()
	if err != nil {
		return nil, fmt.Errorf("read the days of %d sites: %w", len(ids), err)
	}
	var (
		day int
		t   tally
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &day, &t.checks, &t.up, &t.latCount, &t.latSum}, func() error {
		if days := out[id]; day >= 0 && day < len(days) {
			set(&days[day], t)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the days of %d sites: %w", len(ids), err)
	}
	return out, nil
}

func ptrTo[T any](v T) *T { return &v }
