package monitor

import (
	"context"
	"fmt"
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
	SiteID int `json:"site_id"`
	// Days are the last days, oldest first, today last.
	Days []DayRecord `json:"days"`
}

// MaxDays is the longest daily series.
const MaxDays = 400

// tally is the figures of a span of checks: a rolled-up day or hour, or an
// hour of raw checks not rolled up yet.
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
	u := 100 * float64(t.up-t.mup) / float64(n)
	return &u
}

func (t *tally) latency() *float64 {
	if t.latCount == 0 {
		return nil
	}
	l := t.latSum / float64(t.latCount)
	return &l
}

// tallies reads the figures of sites from from on: the day rollups, the
// hour rollups of the days not rolled up yet and of the hours from
// hoursFrom, and the raw checks of the hours not rolled up yet, grouped by
// hour. Its cost does not grow with the number of raw checks, as long as
// the roll-ups keep up.
func (s *Service) tallies(ctx context.Context, ids []int64, from, hoursFrom time.Time) (map[int64][]tally, error) {
	const figures = `checks, up, maintenance_checks, maintenance_up, latency_count, latency_sum`
	rows, err := s.db.Query(ctx, `WITH done AS (SELECT hours_until, days_until FROM rollup_done)
		SELECT site_id, true, day, `+figures+` FROM rollup_day, done
			WHERE site_id = ANY($1) AND day >= $2 AND day < done.days_until
		UNION ALL
		SELECT site_id, false, hour, `+figures+` FROM rollup_hour, done
			WHERE site_id = ANY($1) AND hour >= $2 AND hour < done.hours_until AND (hour >= done.days_until OR hour >= $3)
		UNION ALL
		SELECT site_id, false, date_trunc('hour', checked_at, 'UTC'), count(*), count(*) FILTER (WHERE up),
			count(*) FILTER (WHERE maintenance), count(*) FILTER (WHERE maintenance AND up),
			count(latency_ms) FILTER (WHERE status_code IS NOT NULL),
			COALESCE(sum(latency_ms) FILTER (WHERE status_code IS NOT NULL), 0)
			FROM checks, done
			WHERE site_id = ANY($1) AND checked_at >= greatest($2, COALESCE(done.hours_until, $2))
			GROUP BY 1, 3`, ids, from, hoursFrom)
	if err != nil {
		return nil, fmt.Errorf("read uptime: %w", err)
	}
	out := make(map[int64][]tally, len(ids))
	var (
		id int64
		t  tally
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &t.day, &t.start, &t.checks, &t.up, &t.mchecks, &t.mup, &t.latCount, &t.latSum}, func() error {
		t.start = t.start.UTC() // a map key: one location for all
		out[id] = append(out[id], t)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read uptime: %w", err)
	}
	return out, nil
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
func (s *Service) Uptime(ctx context.Context, siteID int, now time.Time) (Uptime, error) {
	day, week, month, quarter, year := windowStarts(now)
	all, err := s.tallies(ctx, []int64{int64(siteID)}, year, week)
	if err != nil {
		return Uptime{}, err
	}
	ts := all[int64(siteID)]
	d, w, m, q, y := since(ts, day), since(ts, week), since(ts, month), since(ts, quarter), since(ts, year)
	return Uptime{Day: d.uptime(), Week: w.uptime(), Month: m.uptime(), Quarter: q.uptime(), Year: y.uptime()}, nil
}

// Days returns a site's last n UTC days, oldest first, today included.
func (s *Service) Days(ctx context.Context, siteID, n int, now time.Time) (*DaysResponse, error) {
	all, err := s.DaysOf(ctx, []int64{int64(siteID)}, n, now)
	if err != nil {
		return nil, err
	}
	return &DaysResponse{SiteID: siteID, Days: all[int64(siteID)]}, nil
}

// DaysOf returns the last n UTC days of each of the sites, oldest first,
// today included, in one query: the bars of a whole status page.
func (s *Service) DaysOf(ctx context.Context, ids []int64, n int, now time.Time) (map[int64][]DayRecord, error) {
	today := checksTable.period(now)
	first := today.AddDate(0, 0, 1-n)
	_, week, _, _, _ := windowStarts(now)
	all, err := s.tallies(ctx, ids, first, week)
	if err != nil {
		return nil, err
	}
	out := make(map[int64][]DayRecord, len(ids))
	for _, id := range ids {
		out[id] = dailySeries(all[id], first, today)
	}
	return out, nil
}

// dailySeries sums tallies by day from first to last: a day's rollup where
// there is one, else its hours.
func dailySeries(ts []tally, first, last time.Time) []DayRecord {
	byDay := map[time.Time]*tally{}
	for i := range ts {
		if ts[i].day {
			byDay[ts[i].start] = &ts[i]
		}
	}
	rolled := make(map[time.Time]bool, len(byDay))
	for d := range byDay {
		rolled[d] = true
	}
	for _, t := range ts {
		d := checksTable.period(t.start)
		if t.day || rolled[d] {
			continue
		}
		if byDay[d] == nil {
			byDay[d] = &tally{start: d}
		}
		byDay[d].add(t)
	}
	var days []DayRecord
	for d := first; !d.After(last); d = d.AddDate(0, 0, 1) {
		rec := DayRecord{Date: d.Format(time.DateOnly)}
		if t := byDay[d]; t != nil {
			rec.Uptime, rec.Checks, rec.LatencyMS = t.uptime(), t.checks-t.mchecks, t.latency()
		}
		days = append(days, rec)
	}
	return days
}
