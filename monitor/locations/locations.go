// Package locations keeps where checks are made from: each instance's
// beat in the instance table, the locations known and lost, the live ones
// the decisions count, and their API and metric.
package locations

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"uptime/internal/api"
	"uptime/internal/dbutil"
	"uptime/internal/errs"
	"uptime/internal/pubsub"
	"uptime/internal/queue"
	"uptime/internal/text"
	"uptime/monitor/event"
	"uptime/site"
)

// Each instance says every instanceBeat that it is checking, and from
// where; one not heard from for InstanceAlive, three of the shortest
// intervals a site may have, is taken for gone, and its row is dropped
// after instanceForget. A location none of whose instances is alive is
// lost: it is reported, no rounds are given to it, and it is left out of
// the quorums until it checks again.
const (
	instanceBeat   = 10 * time.Second
	InstanceAlive  = 3 * site.MinInterval
	instanceForget = time.Hour
	// scrapeTimeout bounds the reads of one scrape.
	scrapeTimeout = 10 * time.Second
)

// Options describe this instance.
type Options struct {
	// Here is this instance's location.
	Here string
	// Version is this instance's version, as its beat shows it.
	Version string
	// Checked counts the checks this instance has recorded, for its rate.
	Checked func() int64
}

// Locations are the locations in the monitor's database, seen from this
// instance.
type Locations struct {
	db          *pgxpool.Pool
	q           *queue.Queue
	transitions *pubsub.Topic[event.Transition]
	opts        Options
	log         *slog.Logger
	// InstanceID is this process, in the instance table.
	InstanceID string

	// live holds the live locations, read at most once a second.
	live struct {
		mu    sync.Mutex
		at    time.Time
		names []string
	}
	// alone tells whether no other instance of this location was alive,
	// read at most once a second.
	alone struct {
		mu    sync.Mutex
		at    time.Time
		alone bool
	}
}

// New returns the locations kept in db; lost locations' waiting rounds
// are dropped from q, and their changes published on transitions.
func New(db *pgxpool.Pool, q *queue.Queue, transitions *pubsub.Topic[event.Transition], opts Options, log *slog.Logger) *Locations {
	return &Locations{db: db, q: q, transitions: transitions, opts: opts, log: log, InstanceID: newInstanceID()}
}

// Live returns the locations that are not lost, as the
// scheduler last found them (so a location is left out of quorums exactly
// when it is reported lost), by name, this instance's own among them. They
// are read through db, at most once a second; no lock is held while they
// are read, and a caller in a transaction passes it, so that reading
// never waits for a second connection of the pool.
func (s *Locations) Live(ctx context.Context, db dbutil.Querier) ([]string, error) {
	s.live.mu.Lock()
	names, at := s.live.names, s.live.at
	s.live.mu.Unlock()
	if time.Since(at) < time.Second {
		return names, nil
	}
	rows, err := db.Query(ctx, `SELECT name FROM location WHERE lost_since IS NULL`)
	if err != nil {
		return nil, fmt.Errorf("read the live locations: %w", err)
	}
	names, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("read the live locations: %w", err)
	}
	if !slices.Contains(names, s.opts.Here) {
		names = append(names, s.opts.Here)
	}
	slices.Sort(names)
	s.live.mu.Lock()
	s.live.at, s.live.names = time.Now(), names
	s.live.mu.Unlock()
	return names, nil
}

// Alone tells whether this instance is the only live one of its
// location, as read through db at most once a second: then every check
// from here is this instance's.
func (s *Locations) Alone(ctx context.Context, db dbutil.Querier) (bool, error) {
	s.alone.mu.Lock()
	alone, at := s.alone.alone, s.alone.at
	s.alone.mu.Unlock()
	if time.Since(at) < time.Second {
		return alone, nil
	}
	rows, err := db.Query(ctx, `SELECT NOT EXISTS (SELECT FROM instance
			WHERE location = $1 AND id <> $2 AND last_seen > now() - $3::interval)`,
		s.opts.Here, s.InstanceID, InstanceAlive)
	if err == nil {
		alone, err = pgx.CollectExactlyOneRow(rows, pgx.RowTo[bool])
	}
	if err != nil {
		return false, fmt.Errorf("read the instances of location %s: %w", s.opts.Here, err)
	}
	s.alone.mu.Lock()
	s.alone.at, s.alone.alone = time.Now(), alone
	s.alone.mu.Unlock()
	return alone, nil
}

// With returns the live locations with here among them: a
// location whose checks are being decided is checking.
func With(live []string, here string) []string {
	if _, found := slices.BinarySearch(live, here); found {
		return live
	}
	out := append(slices.Clone(live), here)
	slices.Sort(out)
	return out
}

// readLive reads the locations with an instance alive, by name. This
// instance's own is among them: it is checking, though its first beat
// may not be written yet. The scheduler's passes compare it with the
// locations known.
func (s *Locations) readLive(ctx context.Context, db dbutil.Querier) ([]string, error) {
	rows, err := db.Query(ctx, `SELECT DISTINCT location FROM instance WHERE last_seen > now() - $1::interval`, InstanceAlive)
	if err != nil {
		return nil, fmt.Errorf("read the live locations: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("read the live locations: %w", err)
	}
	if !slices.Contains(names, s.opts.Here) {
		names = append(names, s.opts.Here)
	}
	slices.Sort(names)
	return names, nil
}

// Track compares the live locations with the ones known, in the
// scheduler's transaction (so passes on several instances take turns),
// publishes a location_lost event for each location that stopped and a
// location_back for each that returned, and returns the live ones.
func (s *Locations) Track(ctx context.Context, tx pgx.Tx) ([]string, error) {
	live, err := s.readLive(ctx, tx)
	if err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, `SELECT l.name, l.lost_since,
			(SELECT max(last_seen) FROM instance i WHERE i.location = l.name)
		FROM location l`)
	if err != nil {
		return nil, fmt.Errorf("read the locations: %w", err)
	}
	type known struct {
		name      string
		lostSince *time.Time
		lastSeen  *time.Time
	}
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (k known, err error) {
		err = r.Scan(&k.name, &k.lostSince, &k.lastSeen)
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("read the locations: %w", err)
	}
	now := time.Now()
	for _, k := range all {
		alive := slices.Contains(live, k.name)
		switch {
		case !alive && k.lostSince == nil:
			if _, err := tx.Exec(ctx, `UPDATE location SET lost_since = $2 WHERE name = $1`, k.name, now); err != nil {
				return nil, fmt.Errorf("mark location %s lost: %w", k.name, err)
			}
			reason := "its instances stopped; its sites are decided by the other locations"
			if k.lastSeen != nil {
				reason = fmt.Sprintf("none of its instances has checked since %s; its sites are decided by the other locations",
					k.lastSeen.UTC().Format("15:04:05 MST"))
			}
			// Its rounds given out before it was found lost would wait for
			// it forever, and be counted missed when it returns.
			dropped, err := s.q.DropWaitingTx(ctx, tx, queue.ChecksOf(k.name))
			if err != nil {
				return nil, err
			}
			s.log.Warn("location lost: no instance of it checks", "location", k.name, "reason", reason, "rounds_dropped", dropped)
			if err := s.transitions.PublishTx(ctx, tx, event.Transition{Event: event.LocationLost, Location: k.name, Reason: reason, At: now, Since: k.lastSeen}); err != nil {
				return nil, err
			}
		case alive && k.lostSince != nil:
			if _, err := tx.Exec(ctx, `UPDATE location SET lost_since = NULL WHERE name = $1`, k.name); err != nil {
				return nil, fmt.Errorf("mark location %s back: %w", k.name, err)
			}
			s.log.Info("location back: it checks again", "location", k.name, "lost_for", now.Sub(*k.lostSince).Round(time.Second))
			if err := s.transitions.PublishTx(ctx, tx, event.Transition{Event: event.LocationBack, Location: k.name, At: now, Since: k.lostSince}); err != nil {
				return nil, err
			}
		}
	}
	for _, name := range live {
		if !slices.ContainsFunc(all, func(k known) bool { return k.name == name }) {
			if _, err := tx.Exec(ctx, `INSERT INTO location (name) VALUES ($1) ON CONFLICT DO NOTHING`, name); err != nil {
				return nil, fmt.Errorf("add location %s: %w", name, err)
			}
			s.log.Info("location checks", "location", name)
		}
	}
	return live, nil
}

// LocationsResponse is every location with instances seen lately.
type LocationsResponse struct {
	Locations []Location `json:"locations"`
}

// Location is where checks are made from, with its instances.
type Location struct {
	Name string `json:"name"`
	// Alive tells whether an instance of it was heard from lately.
	Alive bool `json:"alive"`
	// LastSeen is when one of its instances was last heard from.
	LastSeen time.Time `json:"last_seen"`
	// ChecksPerSecond is the rate of its live instances together.
	ChecksPerSecond float64 `json:"checks_per_second"`
	// LostSince is when it was found lost; null while it checks.
	LostSince *time.Time `json:"lost_since"`
	// Instances are its instances seen in the last hour.
	Instances []Instance `json:"instances"`
}

// Instance is one running program.
type Instance struct {
	ID              string    `json:"id"`
	Version         string    `json:"version"`
	StartedAt       time.Time `json:"started_at"`
	LastSeen        time.Time `json:"last_seen"`
	Alive           bool      `json:"alive"`
	ChecksPerSecond float64   `json:"checks_per_second"`
}

func newInstanceID() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Announce says, every instanceBeat until ctx ends, that this instance checks
// from its location, with its rate of checks since the last beat; at the
// end it takes its row away, so that a stopped instance is not listed.
func (s *Locations) Announce(ctx context.Context) {
	started, last, lastChecks := time.Now(), time.Now(), s.opts.Checked()
	t := time.NewTicker(instanceBeat)
	defer t.Stop()
	for {
		now, checks := time.Now(), s.opts.Checked()
		rate := float64(checks-lastChecks) / max(now.Sub(last).Seconds(), 1)
		if _, err := s.db.Exec(ctx, `INSERT INTO instance (id, location, version, started_at, last_seen, checks_per_second)
			VALUES ($1, $2, $3, $4, now(), $5)
			ON CONFLICT (id) DO UPDATE SET last_seen = now(), checks_per_second = $5`,
			s.InstanceID, s.opts.Here, s.opts.Version, started, rate); err == nil {
			last, lastChecks = now, checks
			// Known from its first beat, so that it is reported lost if it
			// stops before a scheduling pass has seen it.
			s.db.Exec(ctx, `INSERT INTO location (name) VALUES ($1) ON CONFLICT DO NOTHING`, s.opts.Here)
			s.db.Exec(ctx, `DELETE FROM instance WHERE last_seen < now() - $1::interval`, instanceForget)
		}
		select {
		case <-ctx.Done():
			stop, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			s.db.Exec(stop, `DELETE FROM instance WHERE id = $1`, s.InstanceID)
			cancel()
			return
		case <-t.C:
		}
	}
}

// Locations lists the locations whose instances were seen in the last
// hour, by name, with their instances.
func (s *Locations) Locations(ctx context.Context) (*LocationsResponse, error) {
	rows, err := s.db.Query(ctx, `SELECT location, id, version, started_at, last_seen, checks_per_second,
			last_seen > now() - $1::interval
		FROM instance ORDER BY location, started_at`, InstanceAlive)
	if err != nil {
		return nil, fmt.Errorf("list locations: %w", err)
	}
	out := &LocationsResponse{Locations: []Location{}}
	var loc string
	var in Instance
	_, err = pgx.ForEachRow(rows, []any{&loc, &in.ID, &in.Version, &in.StartedAt, &in.LastSeen, &in.ChecksPerSecond, &in.Alive}, func() error {
		if n := len(out.Locations); n == 0 || out.Locations[n-1].Name != loc {
			out.Locations = append(out.Locations, Location{Name: loc})
		}
		l := &out.Locations[len(out.Locations)-1]
		l.Instances = append(l.Instances, in)
		if in.LastSeen.After(l.LastSeen) {
			l.LastSeen = in.LastSeen
		}
		if in.Alive {
			l.Alive = true
			l.ChecksPerSecond += in.ChecksPerSecond
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list locations: %w", err)
	}
	// The locations the scheduler knows: lost ones, with or without
	// instances left.
	rows, err = s.db.Query(ctx, `SELECT name, lost_since FROM location`)
	if err != nil {
		return nil, fmt.Errorf("list locations: %w", err)
	}
	var lostSince *time.Time
	_, err = pgx.ForEachRow(rows, []any{&loc, &lostSince}, func() error {
		i := slices.IndexFunc(out.Locations, func(l Location) bool { return l.Name == loc })
		if i < 0 {
			out.Locations = append(out.Locations, Location{Name: loc, Instances: []Instance{}})
			i = len(out.Locations) - 1
		}
		if !out.Locations[i].Alive {
			out.Locations[i].LostSince = lostSince
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list locations: %w", err)
	}
	slices.SortFunc(out.Locations, func(a, b Location) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Forget removes a location that checks no more, so that it is neither
// listed nor reported; one still checking cannot be forgotten.
func (s *Locations) Forget(ctx context.Context, name string) error {
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("forget location %s: %w", name, err)
	}
	defer tx.Rollback(ctx)
	// The scheduler's row first: a pass must not find it again half way.
	if _, err := tx.Exec(ctx, "SELECT 1 FROM scheduler FOR UPDATE"); err != nil {
		return fmt.Errorf("forget location %s: %w", name, err)
	}
	var known, alive bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM location WHERE name = $1) OR EXISTS (SELECT 1 FROM instance WHERE location = $1),
			EXISTS (SELECT 1 FROM instance WHERE location = $1 AND last_seen > now() - $2::interval)`,
		name, InstanceAlive).Scan(&known, &alive); err != nil {
		return fmt.Errorf("forget location %s: %w", name, err)
	}
	switch {
	case !known:
		return errs.Errorf(errs.NotFound, "no location is named %s", text.Quote(name))
	case alive || name == s.opts.Here:
		return errs.Errorf(errs.FailedPrecondition, "location %s is checking: stop its instances first", name)
	}
	if _, err := tx.Exec(ctx, "DELETE FROM location WHERE name = $1", name); err != nil {
		return fmt.Errorf("forget location %s: %w", name, err)
	}
	if _, err := tx.Exec(ctx, "DELETE FROM instance WHERE location = $1", name); err != nil {
		return fmt.Errorf("forget location %s: %w", name, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("forget location %s: %w", name, err)
	}
	s.log.Info("location forgotten", "location", name)
	return nil
}

// locationCollector gives Prometheus each location's liveness at every
// scrape.
type locationCollector struct {
	s  *Locations
	up *prometheus.Desc
}

// Collector returns the collector of uptime_location_up.
func (s *Locations) Collector() prometheus.Collector {
	return &locationCollector{s: s, up: prometheus.NewDesc("uptime_location_up",
		"Whether an instance of the location has checked lately (1) or the location is lost (0).", []string{"location"}, nil)}
}

func (c *locationCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.up }

func (c *locationCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	locs, err := c.s.Locations(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.up, err)
		return
	}
	for _, l := range locs.Locations {
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, alive(l.Alive), l.Name)
	}
}

func (s *Locations) handleLocations(r *http.Request) (any, error) {
	return s.Locations(r.Context())
}

// Register adds GET /location and DELETE /location/:name.
func (s *Locations) Register(srv *api.Server) {
	srv.Handle("GET /location", s.handleLocations, api.Doc{
		Summary:  "Where checks are made from: each location's instances, when last seen, their rate of checks, and since when a lost one is lost",
		Response: LocationsResponse{}})
	srv.Handle("DELETE /location/{name}", func(r *http.Request) (any, error) {
		name := r.PathValue("name")
		if !queue.ValidLocation(name) {
			return nil, errs.Errorf(errs.InvalidArgument, "%s is not a location's name: it must be %s", text.Quote(name), queue.LocationRule)
		}
		return nil, s.Forget(r.Context(), name)
	}, api.Doc{Summary: "Forgets a location that checks no more"})
}

func alive(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
