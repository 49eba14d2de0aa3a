// Package maintenance keeps the maintenance windows: their API, their
// table, and a copy in memory that answers, for every check, whether a
// site is in a window at a time.
package maintenance

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	_ "time/tzdata" // time zones for recurring windows, also in an image without them

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/robfig/cron/v3"

	"uptime/internal/api"
	"uptime/internal/errs"
	"uptime/internal/text"
	"uptime/site"
)

// Window is a maintenance window: during it the sites it covers are
// checked as usual, their checks are marked and left out of uptime, and
// their alerts wait for its end. It is one-off (start and end) or
// recurring (cron, duration and timezone), and covers every site, or the
// sites and tags it names.
type Window struct {
	ID    int64  `json:"id"`
	Title string `json:"title"`
	// Sites and Tags: the sites it covers, by id or by tag; neither, all.
	Sites []int64  `json:"sites"`
	Tags  []string `json:"tags"`
	// Start and End bound a one-off window.
	Start *time.Time `json:"start"`
	End   *time.Time `json:"end"`
	// Cron (five fields, as "0 2 * * SUN"), Duration (as "2h") and
	// Timezone (as "Europe/Berlin") make a recurring one.
	Cron     string `json:"cron,omitempty"`
	Duration string `json:"duration,omitempty"`
	Timezone string `json:"timezone,omitempty"`
	// AnnounceBefore is how long before each of its periods the status
	// pages of the sites it covers announce it, as "24h" (the default);
	// "0s" announces it only once it is on.
	AnnounceBefore string `json:"announce_before"`
	// Active tells whether it is on now, and Current is then its period
	// on now; Next is its next period that starts after now, if any.
	Active    bool      `json:"active"`
	Current   *Period   `json:"current"`
	Next      *Period   `json:"next"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`

	schedule cron.Schedule
	duration time.Duration
	announce time.Duration
}

// Period is one occurrence of a window.
type Period struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// WindowParams are the fields of a window to create or change.
type WindowParams struct {
	Title *string   `json:"title,omitempty"`
	Sites *[]int64  `json:"sites,omitempty"`
	Tags  *[]string `json:"tags,omitempty"`
	// Start and End are RFC 3339 times.
	Start    *string `json:"start,omitempty"`
	End      *string `json:"end,omitempty"`
	Cron     *string `json:"cron,omitempty"`
	Duration *string `json:"duration,omitempty"`
	Timezone *string `json:"timezone,omitempty"`
	// AnnounceBefore is a duration, as "24h" or "3d", from 0s to 30d.
	AnnounceBefore *string `json:"announce_before,omitempty"`
}

// WindowList is every maintenance window.
type WindowList struct {
	Windows []Window `json:"windows"`
}

var windowFields = []string{"title", "sites", "tags", "start", "end", "cron", "duration", "timezone", "announce_before"}

// cronParser reads standard five-field expressions and descriptors such
// as @daily.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Limits of a window.
const (
	maxWindowTitle    = 200
	maxWindowDuration = 7 * 24 * time.Hour
	maxWindowLength   = 366 * 24 * time.Hour
	maxAnnounceBefore = 30 * 24 * time.Hour
	// defaultAnnounceBefore is how long before it starts a window is
	// announced unless it says.
	defaultAnnounceBefore = 24 * time.Hour
)

// period returns the occurrence covering at, or else the next one.
func (w *Window) period(at time.Time) *Period {
	if w.schedule == nil {
		if w.Start == nil || !w.End.After(at) {
			return nil
		}
		return &Period{Start: *w.Start, End: *w.End}
	}
	// The first start after at-duration covers at if it is not after it.
	start := w.schedule.Next(at.Add(-w.duration))
	if start.IsZero() {
		return nil
	}
	return &Period{Start: start, End: start.Add(w.duration)}
}

// overlap finds two starts of the schedule, in the year after from, less
// than d apart or exactly d apart: occurrences of a window that overlap, or
// follow each other without a gap, would hold alerts for ever. A year
// holds every pattern a five-field expression can make, except 29
// February's.
func overlap(sched cron.Schedule, d time.Duration, from time.Time) (a, b time.Time, found bool) {
	prev := sched.Next(from)
	for horizon := from.AddDate(1, 0, 1); !prev.IsZero() && prev.Before(horizon); {
		next := sched.Next(prev)
		if !next.IsZero() && next.Sub(prev) <= d {
			return prev, next, true
		}
		prev = next
	}
	return time.Time{}, time.Time{}, false
}

// activeAt tells whether the window is on at at.
func (w *Window) activeAt(at time.Time) bool {
	p := w.period(at)
	return p != nil && !p.Start.After(at) && p.End.After(at)
}

// covers tells whether the window is about a site with the id and tags.
func (w *Window) covers(id int64, tags []string) bool {
	if len(w.Sites) == 0 && len(w.Tags) == 0 {
		return true
	}
	if slices.Contains(w.Sites, id) {
		return true
	}
	for _, t := range tags {
		if slices.Contains(w.Tags, t) {
			return true
		}
	}
	return false
}

// Sites are what windows ask of the sites they name.
type Sites interface {
	Entries(ctx context.Context, ids []int64) ([]*site.Entry, error)
	Tags(ctx context.Context) ([]string, error)
}

// Windows are the maintenance windows, in the database and in memory for
// every check to consult. They are read again after a change through this
// instance and every few seconds, for changes made through another.
type Windows struct {
	db    *pgxpool.Pool
	sites Sites

	mu      sync.RWMutex
	all     []*Window
	loaded  time.Time
	reading atomic.Bool
}

// New returns the windows kept in db, about the sites.
func New(db *pgxpool.Pool, sites Sites) *Windows {
	return &Windows{db: db, sites: sites}
}

const windowsRefresh = 5 * time.Second

// current returns the windows, read again if they are older than
// windowsRefresh: by one caller, the others going on with what there is.
func (s *Windows) current(ctx context.Context) []*Window {
	s.mu.RLock()
	stale := time.Since(s.loaded) > windowsRefresh
	all := s.all
	s.mu.RUnlock()
	if stale && s.reading.CompareAndSwap(false, true) {
		if fresh, err := s.load(ctx); err == nil {
			all = fresh
		}
		s.reading.Store(false)
	}
	return all
}

// Covers tells whether a site, by its id and tags, is in a maintenance
// window at at.
func (s *Windows) Covers(ctx context.Context, id int64, tags []string, at time.Time) bool {
	for _, w := range s.current(ctx) {
		if w.covers(id, tags) && w.activeAt(at) {
			return true
		}
	}
	return false
}

// Announcement is a period of a window that status pages announce.
type Announcement struct {
	// Window is the window's id.
	Window int64
	Title  string
	Period
	// Active tells that the period has begun.
	Active bool
	// Sites are those of the sites asked about that the window covers.
	Sites []int64
}

// Announced returns the periods that the windows covering any of the
// sites announce at now: begun, or starting within their window's
// announce_before. The soonest come first.
func (s *Windows) Announced(ctx context.Context, sites []*site.Entry, now time.Time) []Announcement {
	var out []Announcement
	for _, w := range s.current(ctx) {
		p := w.period(now)
		if p == nil || p.Start.Sub(now) > w.announce {
			continue
		}
		a := Announcement{Window: w.ID, Title: w.Title, Period: *p, Active: !p.Start.After(now)}
		for _, e := range sites {
			if w.covers(e.ID, e.Tags) {
				a.Sites = append(a.Sites, e.ID)
			}
		}
		if len(a.Sites) > 0 {
			out = append(out, a)
		}
	}
	slices.SortStableFunc(out, func(a, b Announcement) int { return a.Start.Compare(b.Start) })
	return out
}

// Of returns which of the sites a maintenance window covers at at, by id,
// as their checks are marked.
func (s *Windows) Of(ctx context.Context, sites []*site.Entry, at time.Time) map[int64]bool {
	out := map[int64]bool{}
	for _, e := range sites {
		if s.Covers(ctx, e.ID, e.Tags, at) {
			out[e.ID] = true
		}
	}
	return out
}

// load reads every window and keeps them for the checks.
func (s *Windows) load(ctx context.Context) ([]*Window, error) {
	rows, err := s.db.Query(ctx, `SELECT `+windowColumns+` FROM maintenance ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("read the maintenance windows: %w", err)
	}
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Window, error) { return scanWindow(r) })
	if err != nil {
		return nil, fmt.Errorf("read the maintenance windows: %w", err)
	}
	s.mu.Lock()
	s.all, s.loaded = all, time.Now()
	s.mu.Unlock()
	return all, nil
}

const windowColumns = `id, title, sites, tags, starts_at, ends_at, COALESCE(cron, ''), COALESCE(duration_s, 0),
	COALESCE(timezone, ''), announce_before_s, created_at, updated_at`

func scanWindow(row pgx.Row) (*Window, error) {
	var w Window
	var seconds, announce int
	if err := row.Scan(&w.ID, &w.Title, &w.Sites, &w.Tags, &w.Start, &w.End, &w.Cron, &seconds, &w.Timezone,
		&announce, &w.CreatedAt, &w.UpdatedAt); err != nil {
		return nil, err
	}
	w.announce = time.Duration(announce) * time.Second
	w.AnnounceBefore = site.Duration(w.announce).String()
	if w.Cron != "" {
		w.duration = time.Duration(seconds) * time.Second
		w.Duration = site.Duration(w.duration).String()
		sched, err := parseSchedule(w.Cron, w.Timezone)
		if err != nil {
			return nil, fmt.Errorf("window %d: %w", w.ID, err)
		}
		w.schedule = sched
	}
	return &w, nil
}

func parseSchedule(expr, tz string) (cron.Schedule, error) {
	if _, err := time.LoadLocation(tz); err != nil {
		return nil, fmt.Errorf("timezone %s is not a time zone, like Europe/Berlin or UTC", text.Quote(tz))
	}
	if strings.Contains(expr, "TZ=") {
		return nil, fmt.Errorf("cron %s: give the time zone in timezone, not in the expression", text.Quote(expr))
	}
	sched, err := cronParser.Parse("CRON_TZ=" + tz + " " + expr)
	if err != nil {
		return nil, fmt.Errorf("cron %s is not a cron expression like \"0 2 * * SUN\": %v", text.Quote(expr), err)
	}
	return sched, nil
}

// withNow fills in what a window is at now.
func (w *Window) withNow(now time.Time) Window {
	out := *w
	out.Active = w.activeAt(now)
	p := w.period(now)
	if out.Active {
		out.Current = p
		p = w.period(p.End)
	}
	if p != nil && !p.Start.After(now) {
		p = nil // a one-off window begun
	}
	out.Next = p
	return out
}

// checkWindow validates a window whole: its fields, the sites and tags it
// names, and that it is one-off or recurring.
func (s *Windows) checkWindow(ctx context.Context, w *WindowParams) error {
	if w.Title == nil {
		return errs.Errorf(errs.InvalidArgument, "title is required")
	}
	if err := api.CheckText("title", *w.Title, 1, maxWindowTitle, false); err != nil {
		return err
	}
	oneOff := w.Start != nil || w.End != nil
	recurring := w.Cron != nil || w.Duration != nil || w.Timezone != nil
	switch {
	case oneOff && recurring:
		return errs.Errorf(errs.InvalidArgument, "a window is one-off (start, end) or recurring (cron, duration, timezone), not both")
	case oneOff:
		if w.Start == nil || w.End == nil {
			return errs.Errorf(errs.InvalidArgument, "a one-off window needs start and end, as RFC 3339 times")
		}
		start, err := parseTime("start", *w.Start)
		if err != nil {
			return err
		}
		end, err := parseTime("end", *w.End)
		if err != nil {
			return err
		}
		if !end.After(start) {
			return errs.Errorf(errs.InvalidArgument, "end must be after start")
		}
		if end.Sub(start) > maxWindowLength {
			return errs.Errorf(errs.InvalidArgument, "a window lasts at most a year")
		}
	case recurring:
		if w.Cron != nil && w.Timezone == nil {
			// A bad expression is said first, whatever else is missing.
			if _, err := parseSchedule(*w.Cron, "UTC"); err != nil {
				return errs.Errorf(errs.InvalidArgument, "%s", err.Error())
			}
		}
		var missing []string
		for _, f := range []struct {
			name string
			v    *string
		}{{"cron", w.Cron}, {"duration", w.Duration}, {"timezone", w.Timezone}} {
			if f.v == nil {
				missing = append(missing, f.name)
			}
		}
		if len(missing) > 0 {
			return errs.Errorf(errs.InvalidArgument, "a recurring window needs cron, duration and timezone; %s missing (as \"0 2 * * SUN\", \"2h\", \"Europe/Berlin\")",
				strings.Join(missing, " and ")+map[bool]string{true: " is", false: " are"}[len(missing) == 1])
		}
		if _, err := parseSchedule(*w.Cron, *w.Timezone); err != nil {
			return errs.Errorf(errs.InvalidArgument, "%s", err.Error())
		}
		d, err := site.ParseDuration(*w.Duration)
		if err != nil || d < time.Minute || d > maxWindowDuration {
			return errs.Errorf(errs.InvalidArgument, "duration must be from 1m to 168h, like 2h, got %s", text.Quote(*w.Duration))
		}
		// In UTC: a clock set back in the window's zone repeats a start an
		// hour after itself once a year, which is no overlap of the pattern.
		utc, _ := parseSchedule(*w.Cron, "UTC")
		if a, b, ok := overlap(utc, d, time.Now()); ok {
			return errs.Errorf(errs.InvalidArgument,
				"cron %s starts a window at %s and again at %s, before the %s of the first are over: each must end before the next starts (a longer gap between starts, or a shorter duration)",
				text.Quote(*w.Cron), a.Format(time.RFC3339), b.Format(time.RFC3339), *w.Duration)
		}
	default:
		return errs.Errorf(errs.InvalidArgument, "give start and end for a one-off window, or cron, duration and timezone for a recurring one")
	}
	if w.AnnounceBefore != nil {
		if _, err := announceBefore(*w.AnnounceBefore); err != nil {
			return err
		}
	}
	if w.Sites != nil && len(*w.Sites) > 0 {
		ids := *w.Sites
		found, err := s.sites.Entries(ctx, ids)
		if err != nil {
			return err
		}
		for i, id := range ids {
			if !slices.ContainsFunc(found, func(e *site.Entry) bool { return e.ID == id }) {
				return errs.Errorf(errs.InvalidArgument, "sites[%d]: no site has the id %d", i, id)
			}
		}
	}
	if w.Tags != nil && len(*w.Tags) > 0 {
		known, err := s.sites.Tags(ctx)
		if err != nil {
			return err
		}
		for i, tag := range *w.Tags {
			if !slices.Contains(known, tag) {
				return errs.Errorf(errs.InvalidArgument, "tags[%d]: no site has the tag %s", i, text.Quote(tag))
			}
		}
	}
	return nil
}

// announceBefore reads a window's announce_before.
func announceBefore(v string) (time.Duration, error) {
	d, err := site.ParseDuration(v)
	if err != nil || d < 0 || d > maxAnnounceBefore {
		return 0, errs.Errorf(errs.InvalidArgument, "announce_before must be a duration from 0s to 30d, like 24h, got %s", text.Quote(v))
	}
	return d, nil
}

func parseTime(field, v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, errs.Errorf(errs.InvalidArgument, "%s must be an RFC 3339 time, like 2026-11-22T02:00:00Z, got %s", field, text.Quote(v))
	}
	return t, nil
}

func timeOrNil(v *string) *time.Time {
	if v == nil {
		return nil
	}
	t, _ := time.Parse(time.RFC3339, *v) // checked by checkWindow
	return &t
}

func stringOrNil(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := t.Format(time.RFC3339Nano)
	return &s
}

// saveWindow inserts a window, or replaces window id's fields.
func (s *Windows) saveWindow(ctx context.Context, id int64, w WindowParams) (*Window, error) {
	if err := s.checkWindow(ctx, &w); err != nil {
		return nil, err
	}
	var seconds *int
	if w.Duration != nil {
		d, _ := site.ParseDuration(*w.Duration)
		n := int(d / time.Second)
		seconds = &n
	}
	announce := defaultAnnounceBefore
	if w.AnnounceBefore != nil {
		announce, _ = announceBefore(*w.AnnounceBefore) // checked by checkWindow
	}
	args := []any{*w.Title, api.OrEmpty(w.Sites), api.OrEmpty(w.Tags), timeOrNil(w.Start), timeOrNil(w.End), w.Cron, seconds, w.Timezone,
		int(announce / time.Second)}
	var row pgx.Row
	if id == 0 {
		row = s.db.QueryRow(ctx, `INSERT INTO maintenance (title, sites, tags, starts_at, ends_at, cron, duration_s, timezone, announce_before_s)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING `+windowColumns, args...)
	} else {
		row = s.db.QueryRow(ctx, `UPDATE maintenance SET title = $1, sites = $2, tags = $3, starts_at = $4, ends_at = $5,
			cron = $6, duration_s = $7, timezone = $8, announce_before_s = $9, updated_at = now()
			WHERE id = $10 RETURNING `+windowColumns, append(args, id)...)
	}
	saved, err := scanWindow(row)
	if err == pgx.ErrNoRows {
		return nil, errs.Errorf(errs.NotFound, "no maintenance window has the id %d", id)
	}
	if err != nil {
		return nil, fmt.Errorf("save the maintenance window: %w", err)
	}
	s.load(ctx)
	out := saved.withNow(time.Now())
	return &out, nil
}

func (s *Windows) getWindow(ctx context.Context, id int64) (*Window, error) {
	w, err := scanWindow(s.db.QueryRow(ctx, `SELECT `+windowColumns+` FROM maintenance WHERE id = $1`, id))
	if err == pgx.ErrNoRows {
		return nil, errs.Errorf(errs.NotFound, "no maintenance window has the id %d", id)
	}
	if err != nil {
		return nil, err
	}
	out := w.withNow(time.Now())
	return &out, nil
}

// Register adds /maintenance.
func (s *Windows) Register(srv *api.Server) {
	srv.Handle("POST /maintenance", func(r *http.Request) (any, error) {
		p, _, err := api.DecodeFields[WindowParams](r, "a maintenance window", windowFields)
		if err != nil {
			return nil, err
		}
		return s.saveWindow(r.Context(), 0, p)
	}, api.Doc{Summary: "Add a maintenance window: one-off (start, end) or recurring (cron, duration, timezone)",
		Request: WindowParams{}, Response: Window{}})
	srv.Handle("GET /maintenance", func(r *http.Request) (any, error) {
		all, err := s.load(r.Context())
		if err != nil {
			return nil, err
		}
		out := WindowList{Windows: []Window{}}
		now := time.Now()
		for _, w := range all {
			out.Windows = append(out.Windows, w.withNow(now))
		}
		return out, nil
	}, api.Doc{Summary: "Every maintenance window, with whether it is on now and its current or next period",
		Response: WindowList{}})
	srv.Handle("GET /maintenance/{id}", func(r *http.Request) (any, error) {
		id, err := api.PathID(r, "id")
		if err != nil {
			return nil, err
		}
		return s.getWindow(r.Context(), id)
	}, api.Doc{Summary: "A maintenance window", Response: Window{}})
	srv.Handle("PATCH /maintenance/{id}", func(r *http.Request) (any, error) {
		id, err := api.PathID(r, "id")
		if err != nil {
			return nil, err
		}
		p, nulls, err := api.DecodeFields[WindowParams](r, "a maintenance window", windowFields,
			"start", "end", "cron", "duration", "timezone")
		if err != nil {
			return nil, err
		}
		cur, err := s.getWindow(r.Context(), id)
		if err != nil {
			return nil, err
		}
		merged := WindowParams{Title: &cur.Title, Sites: &cur.Sites, Tags: &cur.Tags, Start: stringOrNil(cur.Start), End: stringOrNil(cur.End),
			AnnounceBefore: &cur.AnnounceBefore}
		if cur.Cron != "" {
			merged.Cron, merged.Duration, merged.Timezone = &cur.Cron, &cur.Duration, &cur.Timezone
		}
		// Changing to the other kind of window drops the first kind's fields.
		if p.Start != nil || p.End != nil {
			merged.Cron, merged.Duration, merged.Timezone = nil, nil, nil
		}
		if p.Cron != nil || p.Duration != nil || p.Timezone != nil {
			merged.Start, merged.End = nil, nil
		}
		for _, f := range []struct {
			given *string
			into  **string
			name  string
		}{{p.Cron, &merged.Cron, "cron"}, {p.Duration, &merged.Duration, "duration"}, {p.Timezone, &merged.Timezone, "timezone"}} {
			if f.given != nil {
				*f.into = f.given
			}
			if nulls[f.name] {
				*f.into = nil
			}
		}
		if p.Start != nil || nulls["start"] {
			merged.Start = p.Start
		}
		if p.End != nil || nulls["end"] {
			merged.End = p.End
		}
		if p.Title != nil {
			merged.Title = p.Title
		}
		if p.Sites != nil {
			merged.Sites = p.Sites
		}
		if p.Tags != nil {
			merged.Tags = p.Tags
		}
		if p.AnnounceBefore != nil {
			merged.AnnounceBefore = p.AnnounceBefore
		}
		return s.saveWindow(r.Context(), id, merged)
	}, api.Doc{Summary: "Change the fields given of a maintenance window", Request: WindowParams{}, Response: Window{}})
	srv.Handle("DELETE /maintenance/{id}", func(r *http.Request) (any, error) {
		id, err := api.PathID(r, "id")
		if err != nil {
			return nil, err
		}
		tag, err := s.db.Exec(r.Context(), `DELETE FROM maintenance WHERE id = $1`, id)
		if err != nil {
			return nil, err
		}
		if tag.RowsAffected() == 0 {
			return nil, errs.Errorf(errs.NotFound, "no maintenance window has the id %d", id)
		}
		s.load(r.Context())
		return nil, nil
	}, api.Doc{Summary: "Delete a maintenance window; alerts it held go out at the sites' next checks"})
}
