package app

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"uptime/internal/alarm"
	"uptime/internal/api"
	"uptime/internal/errs"
	"uptime/internal/queue"
	"uptime/internal/text"
	"uptime/monitor"
)

// health is what readiness depends on.
type health struct {
	monitorDB    *pgxpool.Pool
	siteDB       *sql.DB
	statusPageDB *pgxpool.Pool
	notifyDB     *pgxpool.Pool
	accountDB    *pgxpool.Pool
	mon          *monitor.Service
	queue        *queue.Queue
	// draining is set once the process is shutting down.
	draining *atomic.Bool
}

// ping checks that the databases answer.
func (h health) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := h.monitorDB.Ping(ctx); err != nil {
		return fmt.Errorf("the monitor database does not answer: %w", err)
	}
	if h.siteDB == nil {
		return nil // a probe has the monitor's database alone
	}
	if err := h.siteDB.PingContext(ctx); err != nil {
		return fmt.Errorf("the site database does not answer: %w", err)
	}
	if err := h.statusPageDB.Ping(ctx); err != nil {
		return fmt.Errorf("the statuspage database does not answer: %w", err)
	}
	if err := h.notifyDB.Ping(ctx); err != nil {
		return fmt.Errorf("the notify database does not answer: %w", err)
	}
	if err := h.accountDB.Ping(ctx); err != nil {
		return fmt.Errorf("the account database does not answer: %w", err)
	}
	return nil
}

// watchDatabases pings the databases every few seconds until ctx is done,
// raising down while they do not answer and clearing it once they do, so
// that an outage is logged when it starts, once a minute, and when it ends.
func watchDatabases(ctx context.Context, h health, down *alarm.Alarm) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := h.ping(ctx); err != nil {
			if ctx.Err() == nil {
				down.Raise(err.Error())
			}
			continue
		}
		down.Clear()
	}
}

// registerHealth adds GET /healthz (the process answers) and GET /readyz
// (it can do its work: the databases answer, the queue runs, and checks
// are completing).
func registerHealth(srv *api.Server, h health) {
	srv.Handle("GET /healthz", func(*http.Request) (any, error) {
		return map[string]string{"status": "ok"}, nil
	}, api.Doc{Summary: "Whether the process answers", Response: map[string]string{}, Role: api.Public})
	srv.Handle("GET /readyz", func(r *http.Request) (any, error) {
		if h.draining.Load() {
			return nil, errs.Errorf(errs.Unavailable, "not ready: shutting down")
		}
		if err := h.ping(r.Context()); err != nil {
			return nil, errs.Errorf(errs.Unavailable, "not ready: %s", text.Clip(err.Error()))
		}
		if !h.queue.Running() {
			return nil, errs.Errorf(errs.Unavailable, "not ready: the job queue is not running")
		}
		if stalled, why := h.mon.Stalled(); stalled {
			return nil, errs.Errorf(errs.Unavailable, "not ready: %s", why)
		}
		return map[string]string{"status": "ready"}, nil
	}, api.Doc{Summary: "Whether the instance can do its work: 503 unavailable, saying why, when not",
		Response: map[string]string{}, Role: api.Public})
}
