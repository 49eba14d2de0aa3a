// Package app wires the services together and runs them: the one place
// where databases, services and the HTTP server meet.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"uptime/frontend"
	"uptime/internal/alarm"
	"uptime/internal/api"
	"uptime/internal/config"
	"uptime/internal/egress"
	"uptime/internal/metrics"
	"uptime/internal/pubsub"
	"uptime/internal/queue"
	"uptime/internal/seal"
	"uptime/internal/secrets"
	"uptime/internal/text"
	"uptime/internal/version"
	"uptime/monitor"
	"uptime/monitor/event"
	"uptime/notify"
	"uptime/site"
	"uptime/slack"
	"uptime/statuspage"
)

// Options are what tests may change beyond the configuration.
type Options struct {
	// CheckTransport carries the monitor's checks; nil means the real one.
	CheckTransport http.RoundTripper
	// RetryBackoff is the first wait before a failed delivery is retried;
	// zero means Encore's 10 seconds.
	RetryBackoff time.Duration
	// Getenv reads the environment (for secrets); nil means os.Getenv.
	Getenv func(string) string
}

// App is the whole program. Tests start it as main does, on a free port.
type App struct {
	cfg   config.Config
	opts  Options
	log   *slog.Logger
	ready chan struct{}
	addr  string
}

// New returns an app for the configuration.
func New(cfg config.Config, log *slog.Logger) *App {
	return NewWithOptions(cfg, Options{}, log)
}

// NewWithOptions returns an app with options beyond the configuration.
// Every log line it writes has URL passwords hidden.
func NewWithOptions(cfg config.Config, opts Options, log *slog.Logger) *App {
	log = slog.New(text.RedactHandler(log.Handler()))
	return &App{cfg: cfg, opts: opts, log: log, ready: make(chan struct{})}
}

// Ready is closed once the app serves requests.
func (a *App) Ready() <-chan struct{} { return a.ready }

// Addr is the address the API listens on, valid once Ready is closed.
func (a *App) Addr() string { return a.addr }

// Run provisions the databases, serves the API and runs the background
// work until ctx is cancelled, then shuts down in order: stop accepting
// requests and finish those in flight, stop cron and workers, close the
// databases, stop a local cluster.
func (a *App) Run(ctx context.Context) (err error) {
	// Listen first, so that a port in use fails at once, not after the
	// database has been provisioned.
	ln, err := net.Listen("tcp", a.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w; choose another address with --addr or UPTIME_ADDR (make run ARGS=\"--addr 127.0.0.1:4001\")", a.cfg.Addr, err)
	}
	defer ln.Close()

	getenv := a.opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	infra, err := LoadInfra(a.cfg, getenv, a.log)
	if err != nil {
		return err
	}
	dbs, err := OpenDatabaseServer(ctx, a.cfg, infra, a.log, false)
	if err != nil {
		return err
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if cerr := dbs.Close(stopCtx); cerr != nil {
			err = errors.Join(err, fmt.Errorf("stop local PostgreSQL: %w", cerr))
		}
	}()

	// Every instance holds the key that seals channels and sites'
	// credentials; a probe opens the credentials it checks with.
	box, err := seal.Load(a.cfg.StateDir, getenv)
	if err != nil {
		return err
	}
	if a.cfg.Probe {
		return a.runProbe(ctx, ln, dbs, box)
	}

	siteURL, err := dbs.PrepareService(ctx, SiteDatabase)
	if err != nil {
		return err
	}
	monitorURL, err := dbs.PrepareService(ctx, MonitorDatabase)
	if err != nil {
		return err
	}
	statusPageURL, err := dbs.PrepareService(ctx, StatusPageDatabase)
	if err != nil {
		return err
	}
	notifyURL, err := dbs.PrepareService(ctx, NotifyDatabase)
	if err != nil {
		return err
	}

	siteDB, err := site.OpenDB(siteURL)
	if err != nil {
		return err
	}
	siteSQL, err := siteDB.DB()
	if err != nil {
		return err
	}
	defer siteSQL.Close()
	siteSQL.SetMaxOpenConns(dbs.MaxConns(SiteDatabase, maxConns))

	monitorDB, err := openPool(ctx, monitorURL, dbs.MaxConns(MonitorDatabase, maxConns))
	if err != nil {
		return err
	}
	defer monitorDB.Close()
	statusPageDB, err := openPool(ctx, statusPageURL, dbs.MaxConns(StatusPageDatabase, 10))
	if err != nil {
		return err
	}
	defer statusPageDB.Close()
	notifyDB, err := openPool(ctx, notifyURL, dbs.MaxConns(NotifyDatabase, 10))
	if err != nil {
		return err
	}
	defer notifyDB.Close()

	targets := a.targets(ln, dbs)

	q := queue.New()
	q.Location = a.cfg.Location // its checks' queue
	transitions := pubsub.NewTopic[event.Transition](q, event.Topic, a.log)
	if a.opts.RetryBackoff > 0 {
		transitions.MinBackoff = a.opts.RetryBackoff
	}
	notifier := slack.New(secrets.NewStore(a.cfg.StateDir, infra.Getenv(getenv)), a.log)
	notifier.Subscribe(transitions)
	sites := site.New(siteDB)
	channels := notify.New(notifyDB, box, sites, q, notify.Options{RetryBackoff: a.opts.RetryBackoff, Targets: targets}, a.log)
	if err := channels.CheckKey(ctx); err != nil {
		return err
	}
	channels.Subscribe(transitions)
	sites.CheckTargets(targets)
	sites.SetDefaults(site.Defaults{Interval: a.cfg.CheckEvery, Timeout: a.cfg.CheckTimeout, Confirmations: a.cfg.ConfirmChecks})
	sites.SealWith(box)
	if err := sites.CheckKey(ctx); err != nil {
		return err
	}
	if dups, err := sites.SealOlder(ctx); err != nil {
		return err
	} else if len(dups) > 0 {
		a.log.Warn("sites added by an earlier version during the upgrade repeat the URL of another site, and are left "+
			"unsealed: delete them", "site_ids", dups)
	}
	mon := monitor.New(monitorDB, sites, q, transitions, a.monitorOptions(targets, box), a.log)
	if err := mon.CheckKey(ctx); err != nil {
		return err
	}
	if err := mon.SealOlder(ctx); err != nil {
		return err
	}
	if q.PollOnly, err = mon.HasProbes(ctx); err != nil {
		return err
	} else if q.PollOnly {
		a.log.Info("probes check from some locations: River's jobs are polled for, not announced by notifications",
			"poll_every", queue.PollEvery)
	}
	sites.Listen(mon)

	srv := api.NewServer(a.log, a.cfg.APIKey)
	srv.LogRequests(a.cfg.LogRequests)
	srv.AllowOrigins(config.List(a.cfg.CORSOrigins)...)
	srv.AllowHosts(config.List(a.cfg.AllowedHosts)...)
	if u, err := url.Parse(a.cfg.PublicURL); err == nil && u.Host != "" {
		srv.AllowHosts(u.Hostname())
		srv.AllowOrigins(u.Scheme + "://" + u.Host)
	}
	sites.Register(srv)
	mon.Register(srv)
	notifier.Register(srv)
	channels.Register(srv)
	statuspage.New(statusPageDB, sites, mon).Register(srv)
	scraped := []prometheus.Collector{mon.LocationCollector()}
	if a.cfg.MetricsPerSite {
		scraped = append(scraped, mon.SiteCollector())
	}
	srv.HandleHTTP("GET /metrics", metrics.Handler(metrics.Registry(scraped...), a.log), api.Doc{
		Summary: "Prometheus metrics, in its text format", ContentType: "text/plain"})
	srv.Handle("GET /openapi.json", func(*http.Request) (any, error) {
		return srv.OpenAPI("Uptime", "1.0"), nil
	}, api.Doc{Summary: "This document: the API as OpenAPI 3.1", Response: map[string]any{}})
	frontend.Register(srv)
	h := health{monitorDB: monitorDB, siteDB: siteSQL, statusPageDB: statusPageDB, notifyDB: notifyDB, mon: mon, queue: q,
		draining: new(atomic.Bool)}
	registerHealth(srv, h)

	// The days' partitions are made before checking starts; a check that
	// finds none would wait in the default partition until the next try.
	if _, err := mon.History().PreparePartitions(ctx, time.Now()); err != nil {
		a.log.Warn("could not make the partitions of the checks; trying again within the hour", "err", err)
	}
	stopWork, err := a.startWork(ctx, q, monitorDB, mon, h, srv.DatabaseDown)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, stopWork()) }()

	// Requests keep their context through a graceful shutdown; it is
	// cancelled only if they outlast it.
	reqCtx, cancelRequests := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRequests()
	httpSrv := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return reqCtx },
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- httpSrv.Serve(ln) }()
	if a.cfg.DebugAddr != "" {
		stop, err := serveDebug(a.cfg.DebugAddr, a.log)
		if err != nil {
			return err
		}
		defer stop()
	}
	a.addr = ln.Addr().String()
	a.log.Info("uptime is running", "version", version.Version, "api", "http://"+a.addr, "dashboard", "http://"+a.addr+"/frontend/",
		"local_database", dbs.Local(), "check_every", a.cfg.CheckEvery)
	if a.cfg.ListensBeyondLoopback() && a.cfg.PublicURL == "" && a.cfg.AllowedHosts == "" {
		a.log.Warn("answering only to addresses and localhost: requests that name this server by a host name are " +
			"refused; give the name with --public-url or --allowed-hosts")
	}
	close(a.ready)

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	}
	// Unready at once, so that load balancers stop sending requests; they
	// are served as usual until the delay is over, and checks go on.
	h.draining.Store(true)
	if d := a.cfg.ShutdownDelay; d > 0 {
		a.log.Info("shutting down: /readyz answers 503; serving on while load balancers notice", "for", d)
		select {
		case <-time.After(d):
		case err := <-serveErr:
			return fmt.Errorf("serve: %w", err)
		}
	}
	a.log.Info("shutting down")
	// A check-all run going is cut short first, so that the requests
	// waiting for it end now rather than at the shutdown's deadline.
	mon.Stop()
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	defer cancel()
	if err := httpSrv.Shutdown(shutCtx); err != nil {
		cancelRequests()
		httpSrv.Close()
	}
	return nil
}

// startWork starts the job queue, the monitor's own work and the watch on
// the databases. The stop it returns ends them in the reverse order,
// letting running jobs finish for up to 30 seconds.
func (a *App) startWork(ctx context.Context, q *queue.Queue, monitorDB *pgxpool.Pool, mon *monitor.Service, h health,
	down *alarm.Alarm) (stop func() error, err error) {
	if err := q.Start(context.WithoutCancel(ctx), monitorDB, quiet(a.log, down)); err != nil {
		return nil, err
	}
	mon.Start()
	watchCtx, stopWatching := context.WithCancel(context.WithoutCancel(ctx))
	watching := make(chan struct{})
	go func() {
		defer close(watching)
		watchDatabases(watchCtx, h, down)
	}()
	return func() error {
		stopWatching()
		<-watching
		mon.Stop()
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := q.Stop(stopCtx); err != nil {
			return fmt.Errorf("stop the job queue: %w", err)
		}
		return nil
	}, nil
}

// monitorOptions are the monitor's options from the configuration.
func (a *App) monitorOptions(targets *egress.Targets, box *seal.Box) monitor.Options {
	return monitor.Options{
		Box:             box,
		CheckTimeout:    a.cfg.CheckTimeout,
		Confirmations:   a.cfg.ConfirmChecks,
		ConfirmInterval: a.cfg.ConfirmInterval,
		Location:        a.cfg.Location,
		Probe:           a.cfg.Probe,
		Version:         version.Version,
		FlapChanges:     a.cfg.FlapChanges,
		FlapWindow:      a.cfg.FlapWindow,
		Concurrency:     a.cfg.CheckConcurrency,
		CheckEvery:      a.cfg.CheckEvery,
		Retention:       a.cfg.Retention,
		RollupRetention: a.cfg.RollupRetention,
		Transport:       a.opts.CheckTransport,
		HeartbeatURL:    a.cfg.HeartbeatURL,
		Targets:         targets,
	}
}

// maxConns bounds each service's connections to PostgreSQL. Checks hold a
// connection only while they record, so a few dozen serve any concurrency,
// and two services stay well inside a managed server's usual limit of 100.
const maxConns = 25

// openPool opens a connection pool of at most maxConns connections.
func openPool(ctx context.Context, dbURL string, maxConns int) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return nil, fmt.Errorf("parse database URL: %w", err)
	}
	cfg.MaxConns = int32(maxConns)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	return pool, nil
}

// serveDebug serves Go's profiler on addr, a loopback address, until stop.
func serveDebug(addr string, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on --debug-addr %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	log.Info("profiler listening", "url", "http://"+ln.Addr().String()+"/debug/pprof/")
	return func() { srv.Close() }, nil
}
