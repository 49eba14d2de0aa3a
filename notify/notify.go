// Package notify is the service that delivers alerts to the channels users
// add at run time: a generic JSON webhook for plain http(s) URLs, signed
// when the channel has a secret, and every service shoutrrr knows
// (discord://, teams://, telegram://, smtp://, ntfy://...) for the rest.
// Each event reaches each matching channel through a River job of its own,
// with Encore's retry policy, so one failing channel never holds up
// another.
package notify

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"uptime/internal/egress"
	"uptime/internal/errs"
	"uptime/internal/queue"
	"uptime/internal/seal"
	"uptime/site"
)

// Migrations are the notify database's schema.
//
//go:embed migrations/*.sql
var Migrations embed.FS

// Events are the events a channel may ask for; a channel that names none
// hears them all.
var Events = []string{"down", "up", "reminder", "degraded", "degraded_end", "cert_expiring", "flapping", "unstable",
	"location_lost", "location_back"}

// Event is what a channel hears, and the body a webhook channel receives.
type Event struct {
	// Event is one of Events, or "test" for a test message.
	Event string `json:"event"`
	// Site is the site it is about.
	Site EventSite `json:"site"`
	// Reason says why: the failure of a down site, the certificate's
	// expiry, the share of failed checks.
	Reason string `json:"reason"`
	// At is when it happened.
	At time.Time `json:"at"`
	// Since is when the state it ends began (how long a site was down),
	// when known.
	Since *time.Time `json:"since"`
	// Locations are, for a site down, the locations that saw it fail.
	Locations []string `json:"locations,omitempty"`
	// Location is the location a location_lost or location_back event is
	// about; its site is empty.
	Location string `json:"location,omitempty"`
}

// EventSite names a site in an event.
type EventSite struct {
	ID   int64  `json:"id"`
	URL  string `json:"url"`
	Name string `json:"name"`
}

// Sites is what the service needs of the site service.
type Sites interface {
	Entry(ctx context.Context, id int64) (*site.Entry, error)
	Entries(ctx context.Context, ids []int64) ([]*site.Entry, error)
	Tags(ctx context.Context) ([]string, error)
}

// Options tune the service.
type Options struct {
	// RetryBackoff is the first wait before a failed delivery is tried
	// again; it doubles up to ten minutes. Defaults to Encore's 10 seconds.
	RetryBackoff time.Duration
	// Transport carries webhook requests; nil means one that connects only
	// where Targets allows.
	Transport http.RoundTripper
	// Targets is where channels may connect, as checks may; nil allows
	// everything.
	Targets *egress.Targets
}

// Service keeps the channels and delivers to them.
type Service struct {
	db     *pgxpool.Pool
	box    *seal.Box
	sites  Sites
	q      *queue.Queue
	log    *slog.Logger
	opts   Options
	client *http.Client
}

// New returns the service, keeping channels in db, sealed with box. Call
// CheckKey before use, and register its workers before the queue starts.
func New(db *pgxpool.Pool, box *seal.Box, sites Sites, q *queue.Queue, opts Options, log *slog.Logger) *Service {
	if opts.RetryBackoff <= 0 {
		opts.RetryBackoff = 10 * time.Second
	}
	transport := opts.Transport
	if transport == nil {
		transport = egress.Transport(opts.Targets)
	}
	s := &Service{db: db, box: box, sites: sites, q: q, log: log, opts: opts,
		client: &http.Client{Timeout: 20 * time.Second, Transport: transport,
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if len(via) >= 5 {
					return errors.New("more than 5 redirects")
				}
				return opts.Targets.CheckLiteral(req.URL)
			}}}
	s.registerWorkers()
	return s
}

// CheckKey makes sure this instance's key opens what the database holds:
// the first channel sealed leaves a value sealed with its key, and an
// instance holding another key is refused, saying how to give it the
// right one. Before any channel, any key will do.
func (s *Service) CheckKey(ctx context.Context) error {
	var probe []byte
	err := s.db.QueryRow(ctx, `SELECT probe FROM sealing_key WHERE id = 1`).Scan(&probe)
	if noRows(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check the secret key: %w", err)
	}
	return s.box.CheckProbe(probe, "the channels in the notify database")
}

// claimKey leaves the probe of this instance's key if there is none yet,
// in tx, and refuses to seal under a key other than the one in use.
func (s *Service) claimKey(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `INSERT INTO sealing_key (id, probe) VALUES (1, $1) ON CONFLICT (id) DO NOTHING`,
		s.box.Probe()); err != nil {
		return err
	}
	var probe []byte
	if err := tx.QueryRow(ctx, `SELECT probe FROM sealing_key WHERE id = 1`).Scan(&probe); err != nil {
		return err
	}
	if err := s.box.CheckProbe(probe, "the channels in the notify database"); err != nil {
		s.log.Error("refusing to seal a channel", "err", err)
		return errs.Errorf(errs.FailedPrecondition, "%s", err.Error())
	}
	return nil
}

// errNoChannel is a channel that does not exist (any more).
var errNoChannel = errors.New("no such channel")

// noRows reports a query that found nothing.
func noRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }
