// Package monitor is the service that checks sites, records every check in
// its own database, and announces when a site goes down or comes back.
package monitor

import (
	"context"
	"embed"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/singleflight"

	"uptime/internal/alarm"
	"uptime/internal/egress"
	"uptime/internal/pubsub"
	"uptime/internal/queue"
	"uptime/internal/seal"
	"uptime/monitor/check"
	"uptime/monitor/decide"
	"uptime/monitor/event"
	"uptime/monitor/history"
	"uptime/monitor/locations"
	"uptime/monitor/maintenance"
	"uptime/monitor/schedule"
	"uptime/monitor/sitecopy"
	"uptime/monitor/status"
	"uptime/monitor/watchdog"
	"uptime/site"
)

// Result is the outcome of one check of one site.
type Result = decide.Result

// Migrations is the monitor database's schema, applied at start-up.
//
//go:embed migrations/*.sql
var Migrations embed.FS

// Sites is what the monitor needs of the site service.
type Sites interface {
	Entry(ctx context.Context, id int64) (*site.Entry, error)
	Entries(ctx context.Context, ids []int64) ([]*site.Entry, error)
	List(ctx context.Context) (*site.ListResponse, error)
	Versions(ctx context.Context) (map[int64]int64, error)
	Count(ctx context.Context) (int64, error)
	Tags(ctx context.Context) ([]string, error)
}

// Options tune the monitor.
type Options struct {
	// CheckTimeout bounds one check. Defaults to 10 seconds.
	CheckTimeout time.Duration
	// Confirmations is how many quick re-checks must also fail before a site
	// that was up is declared down. Zero means none: the first failure counts.
	Confirmations int
	// ConfirmInterval is the pause before each re-check. Defaults to 3 seconds.
	ConfirmInterval time.Duration
	// Concurrency bounds how many sites check-all checks at once. Defaults to 100.
	Concurrency int
	// CheckEvery is how often a site is checked where its settings do not
	// say. Defaults to 5 minutes.
	CheckEvery time.Duration
	// MaxInFlight bounds the scheduled checks one instance makes at once.
	// Defaults to 1000: a check mostly waits on its site.
	MaxInFlight int
	// Retention is how long raw checks are kept when their days are not
	// packed. Defaults to 30 days.
	Retention time.Duration
	// CompactedRetention is how long checks are kept once their day is
	// packed. Defaults to 400 days; negative packs nothing.
	CompactedRetention time.Duration
	// RollupRetention is how long the hourly and daily rollups are kept.
	// Defaults to 400 days.
	RollupRetention time.Duration
	// Transport carries the checks; nil means NewTransport's.
	Transport http.RoundTripper
	// Targets is what checks may reach; nil allows everything.
	Targets *egress.Targets
	// FlapChanges and FlapWindow: a site changing state more than
	// FlapChanges times in FlapWindow is reported once as flapping, and its
	// changes are held back until it has not changed for FlapWindow.
	// Default to 4 and 30 minutes.
	FlapChanges int
	FlapWindow  time.Duration
	// Location names where this instance checks from. Defaults to "local".
	Location string
	// Probe makes the service only check its location's share of the
	// rounds: no scheduling, no cron, no other jobs.
	Probe bool
	// Version is this program's version, for GET /location.
	Version string
	// HeartbeatURL is fetched after each healthy round of checks, so that
	// an outside dead man's switch notices when checking stops. Defaults
	// to none.
	HeartbeatURL string
	// Box seals the sites' credentials in the monitor's copy of them, with
	// the key every instance and probe shares. Defaults to a key of this
	// process alone, as tests have it.
	Box *seal.Box
}

func (o *Options) setDefaults() {
	if o.CheckTimeout == 0 {
		o.CheckTimeout = 10 * time.Second
	}
	if o.ConfirmInterval == 0 {
		o.ConfirmInterval = 3 * time.Second
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 100
	}
	if o.CheckEvery == 0 {
		o.CheckEvery = 5 * time.Minute
	}
	if o.Retention == 0 {
		o.Retention = 30 * 24 * time.Hour
	}
	if o.RollupRetention == 0 {
		o.RollupRetention = 400 * 24 * time.Hour
	}
	if o.CompactedRetention == 0 {
		o.CompactedRetention = 400 * 24 * time.Hour
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 1000
	}
	if o.Location == "" {
		o.Location = queue.DefaultLocation
	}
	if o.FlapChanges <= 0 {
		o.FlapChanges = 4
	}
	if o.FlapWindow <= 0 {
		o.FlapWindow = 30 * time.Minute
	}
	if o.Box == nil {
		o.Box = seal.Ephemeral()
	}
}

// siteDefaults are the settings of a site that was given none.
func (o *Options) siteDefaults() site.Defaults {
	return site.Defaults{Interval: o.CheckEvery, Timeout: o.CheckTimeout, Confirmations: o.Confirmations}
}

// Service checks sites and keeps their history.
type Service struct {
	db          *pgxpool.Pool
	sites       Sites
	checker     *check.Checker
	q           *queue.Queue
	transitions *pubsub.Topic[event.Transition]
	opts        Options
	log         *slog.Logger
	watchdog    *watchdog.Watchdog
	copy        *sitecopy.Copy
	unrecorded  *alarm.Alarm // PostgreSQL refuses to record scheduled checks
	inflight    slots        // scheduled checks going on in this process
	stats       *schedule.Stats
	scheduler   *schedule.Scheduler
	rolling     sync.Mutex // held while this process rolls up
	compacting  sync.Mutex // held while this process packs closed days
	history     *history.History
	windows     *maintenance.Windows
	locations   *locations.Locations
	status      *status.Reader
	checked     atomic.Int64  // checks this process recorded
	unopened    *alarm.Alarm  // credentials in the schedule this key does not open
	pings       tokenLimit    // push sites' signals this second, by token
	pushSites   pushSites     // push sites by their token's hash, and their targets
	cached      settingsCache // the copy's rows this process read, by version
	states      stateCache    // the states this process wrote on the bulk path, by version
	// parentRounds makes one round at a time of a site depended on by
	// sites found down (see checkParents).
	parentRounds singleflight.Group

	// quit is closed by Stop, which ends the check-all run going and the
	// work Start began; wg counts them.
	quit chan struct{}
	wg   sync.WaitGroup

	mu      sync.Mutex
	running *run // the check-all run going in this process, if any
}

// New returns the monitor over its database. It registers its jobs and cron
// on q, and publishes transitions on the topic; q is to work the checks of
// opts.Location (and only them, for a probe).
func New(db *pgxpool.Pool, sites Sites, q *queue.Queue, transitions *pubsub.Topic[event.Transition], opts Options, log *slog.Logger) *Service {
	opts.setDefaults()
	s := &Service{
		db: db, sites: sites, q: q, transitions: transitions, opts: opts, log: log,
		checker:    check.NewChecker(opts.CheckTimeout, opts.Transport, opts.Targets),
		watchdog:   watchdog.New(db, opts.CheckEvery, opts.HeartbeatURL, log),
		copy:       sitecopy.New(db, opts.Box, opts.siteDefaults(), opts.ConfirmInterval, log),
		unrecorded: alarm.New(log, "checks cannot be recorded"),
		unopened:   alarm.New(log, "sites with credentials cannot be checked"),
		inflight:   make(slots, opts.MaxInFlight),
		windows:    maintenance.New(db, sites),
		stats:      schedule.NewStats(),
		history: history.New(db, history.Options{Retention: opts.Retention, RollupRetention: opts.RollupRetention,
			Compact: opts.CompactedRetention > 0, CompactedRetention: opts.CompactedRetention}, log),
	}
	s.locations = locations.New(db, q, transitions, locations.Options{Here: opts.Location, Version: opts.Version, Checked: s.checked.Load}, log)
	s.status = status.New(db, s.locations, log)
	s.scheduler = schedule.NewScheduler(db, q, s.locations, s.stats, log)
	s.checker.SetLocation(opts.Location)
	s.quit = make(chan struct{})
	s.registerJobs()
	return s
}

// CheckResponse is the result of checking a site.
type CheckResponse struct {
	// Up tells whether the site is up.
	Up bool `json:"up"`
	// StatusCode is the HTTP status of the final response; 0 without one.
	StatusCode int `json:"status_code"`
	// LatencyMS is the time to the response's headers, in milliseconds.
	LatencyMS float64 `json:"latency_ms"`
	// Reason says why the site is down; empty when it is up.
	Reason string `json:"reason"`
}

func checkResponse(r Result) *CheckResponse {
	return &CheckResponse{Up: r.Up, StatusCode: r.Status, LatencyMS: r.LatencyMS(), Reason: r.Reason}
}

// Ping checks a URL once without recording anything. A URL without http:
// or https: gets https://. An unreachable or invalid URL is down, not an
// error.
func (s *Service) Ping(ctx context.Context, url string) *CheckResponse {
	return checkResponse(s.checker.Check(ctx, check.WithScheme(url)))
}

// Check checks one site with its settings, records every attempt, and
// announces a transition if the site's state changed. A failure of a site
// that was up is confirmed by quick re-checks first.
func (s *Service) Check(ctx context.Context, st site.Site) (*CheckResponse, error) {
	t, err := s.targetOf(ctx, st)
	if err != nil {
		return nil, err
	}
	return s.checkTarget(ctx, t)
}

func (s *Service) checkTarget(ctx context.Context, t *target) (*CheckResponse, error) {
	res := s.checker.Run(ctx, t.check)
	if ctx.Err() != nil {
		// Cut short by shutdown or the caller: that says nothing of the site.
		return nil, ctx.Err()
	}
	attempts := []Result{res}
	if !res.Up && t.confirmations > 0 {
		wasUp, err := s.confirmedUp(ctx, t.ID)
		if err != nil {
			return nil, err
		}
		if wasUp {
			if attempts, err = s.confirm(ctx, t, attempts, nil); err != nil {
				return nil, errors.Join(err, s.recordAttempts(context.WithoutCancel(ctx), t, s.opts.Location, attempts))
			}
		}
	}
	if !attempts[len(attempts)-1].Up && len(t.dependsOn) > 0 {
		if up, err := s.confirmedUp(ctx, t.ID); err == nil && up {
			s.checkParents(ctx, t) // before its down is decided
		}
	}
	if err := s.record(ctx, t, s.opts.Location, attempts); err != nil {
		return nil, err
	}
	return checkResponse(attempts[len(attempts)-1]), nil
}

func (s *Service) enqueueFirstCheck(ctx context.Context, st site.Site) error {
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SET LOCAL synchronous_commit = off"); err != nil {
		return err
	}
	if err := s.q.InsertTx(ctx, tx, SiteAddedArgs{SiteID: st.ID}, nil); err != nil {
		return err
	}
	return tx.Commit(ctx)
}
