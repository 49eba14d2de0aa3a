package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"

	"uptime/internal/api"
	"uptime/internal/config"
	"uptime/internal/dbutil"
	"uptime/internal/metrics"
	"uptime/internal/pubsub"
	"uptime/internal/queue"
	"uptime/internal/seal"
	"uptime/internal/version"
	"uptime/monitor"
	"uptime/monitor/event"
	"uptime/notify"
	"uptime/slack"
)

// runProbe runs a probe: an instance that checks its location's share of
// the rounds and decides what it saw, with the monitor's database alone,
// whose schema it leaves to the full instances, and no secret but the key
// that opens the sites' credentials it checks with: the alerts it decides
// are delivered by the full instances. It serves /healthz, /readyz and
// /metrics.
func (a *App) runProbe(ctx context.Context, ln net.Listener, dbs *DatabaseServer, box *seal.Box) (err error) {
	monitorURL, err := dbs.ServiceURL(MonitorDatabase)
	if err != nil {
		return err
	}
	monitorDB, err := openPool(ctx, monitorURL, dbs.MaxConns(MonitorDatabase, maxConns))
	if err != nil {
		return err
	}
	defer monitorDB.Close()
	if err := dbutil.CheckVersion(ctx, monitorDB, monitor.Migrations, "migrations"); err != nil {
		return fmt.Errorf("the monitor database: %w", err)
	}

	targets := a.targets(ln, dbs)
	q := queue.New()
	// Its location's checks alone, found by polling: a probe's role may
	// not listen for River's notifications.
	q.Location, q.ChecksOnly, q.PollOnly = a.cfg.Location, true, true
	transitions := pubsub.NewTopic[event.Transition](q, event.Topic, a.log)
	transitions.Elsewhere(slack.Subscription, notify.Subscription)
	mon := monitor.New(monitorDB, nil, q, transitions, a.monitorOptions(targets, box), a.log)
	q.ID = mon.InstanceID()
	if err := mon.CheckKey(ctx); err != nil {
		return err
	}

	srv := api.NewServer(a.log, a.cfg.APIKey)
	srv.LogRequests(a.cfg.LogRequests)
	srv.AllowHosts(config.List(a.cfg.AllowedHosts)...)
	srv.HandleHTTP("GET /metrics", metrics.Handler(metrics.Registry(mon.LocationCollector()), a.log),
		api.Doc{Summary: "Prometheus metrics, in its text format", ContentType: "text/plain"})
	h := health{monitorDB: monitorDB, mon: mon, queue: q, draining: new(atomic.Bool)}
	registerHealth(srv, h)

	web := newWebServer(ln, srv, a.log)
	stop, err := startParts(ctx, []part{
		queuePart(q, monitorDB, quiet(a.log, srv.DatabaseDown)),
		watchPart(h, srv.DatabaseDown),
		web.part(),
		monitorPart(mon),
	})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, stop(context.WithoutCancel(ctx))) }()

	a.addr = ln.Addr().String()
	a.log.Info("uptime is running as a probe", "version", version.Version, "location", a.cfg.Location,
		"health", "http://"+a.addr+"/readyz")
	close(a.ready)
	return a.serve(ctx, web, h, 0)
}
