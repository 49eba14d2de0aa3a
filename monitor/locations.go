package monitor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"uptime/internal/api"
)

// Each instance says every instanceBeat that it is checking, and from
// where; one not heard from for instanceAlive is taken for gone, and its
// row is dropped after instanceForget.
const (
	instanceBeat   = 10 * time.Second
	instanceAlive  = 3 * instanceBeat
	instanceForget = time.Hour
)

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
	ChecksPerSecond float64    `json:"checks_per_second"`
	Instances       []Instance `json:"instances"`
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

// announceInstance says, every instanceBeat until ctx ends, that this instance checks
// from its location, with its rate of checks since the last beat; at the
// end it takes its row away, so that a stopped instance is not listed.
func (s *Service) announceInstance(ctx context.Context) {
	started, last, lastChecks := time.Now(), time.Now(), s.checked.Load()
	t := time.NewTicker(instanceBeat)
	defer t.Stop()
	for {
		now, checks := time.Now(), s.checked.Load()
		rate := float64(checks-lastChecks) / max(now.Sub(last).Seconds(), 1)
		if _, err := s.db.Exec(ctx, `INSERT INTO instance (id, location, version, started_at, last_seen, checks_per_second)
			VALUES ($1, $2, $3, $4, now(), $5)
			ON CONFLICT (id) DO UPDATE SET last_seen = now(), checks_per_second = $5`,
			s.instanceID, s.opts.Location, s.opts.Version, started, rate); err == nil {
			last, lastChecks = now, checks
			s.db.Exec(ctx, `DELETE FROM instance WHERE last_seen < now() - $1::interval`, instanceForget)
		}
		select {
		case <-ctx.Done():
			stop, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			s.db.Exec(stop, `DELETE FROM instance WHERE id = $1`, s.instanceID)
			cancel()
			return
		case <-t.C:
		}
	}
}

// Locations lists the locations whose instances were seen in the last
// hour, by name, with their instances.
func (s *Service) Locations(ctx context.Context) (*LocationsResponse, error) {
	rows, err := s.db.Query(ctx, `SELECT location, id, version, started_at, last_seen, checks_per_second,
			last_seen > now() - $1::interval
		FROM instance ORDER BY location, started_at`, instanceAlive)
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
	return out, nil
}

func (s *Service) handleLocations(r *http.Request) (any, error) {
	return s.Locations(r.Context())
}

// registerLocations adds GET /location.
func (s *Service) registerLocations(srv *api.Server) {
	srv.Handle("GET /location", s.handleLocations, api.Doc{
		Summary:  "Where checks are made from: each location's instances, when last seen, and their rate of checks",
		Response: LocationsResponse{}})
}
