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
	"time"

	"uptime/internal/api"
	"uptime/internal/config"
	"uptime/internal/dbutil"
	"uptime/monitor"
	"uptime/site"
)

// App is the whole program. Tests start it as main does, on a free port.
type App struct {
	cfg   config.Config
	log   *slog.Logger
	ready chan struct{}
	addr  string
}

// New returns an app for the configuration.
func New(cfg config.Config, log *slog.Logger) *App {
	return &App{cfg: cfg, log: log, ready: make(chan struct{})}
}

// Ready is closed once the app serves requests.
func (a *App) Ready() <-chan struct{} { return a.ready }

// Addr is the address the API listens on, valid once Ready is closed.
func (a *App) Addr() string { return a.addr }

// Run provisions the databases, serves the API until ctx is cancelled, then
// shuts down in order: stop accepting requests, finish those in flight,
// stop background work, close the databases, stop a local cluster.
func (a *App) Run(ctx context.Context) (err error) {
	// Listen first, so that a port in use fails at once, not after the
	// database has been provisioned.
	ln, err := net.Listen("tcp", a.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", a.cfg.Addr, err)
	}
	defer ln.Close()

	dbs, err := OpenDatabaseServer(ctx, a.cfg, a.log, false)
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

	siteURL, err := dbutil.Prepare(ctx, dbs.url, dbs.prefix+SiteDatabase, site.Migrations, "migrations")
	if err != nil {
		return err
	}
	if _, err := dbutil.Prepare(ctx, dbs.url, dbs.prefix+MonitorDatabase, monitor.Migrations, "migrations"); err != nil {
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
	sites := site.New(siteDB, a.log)

	srv := api.NewServer(a.log, a.cfg.APIKey)
	sites.Register(srv)

	httpSrv := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- httpSrv.Serve(ln) }()
	a.addr = ln.Addr().String()
	a.log.Info("uptime is running", "api", "http://"+a.addr, "dashboard", "http://"+a.addr+"/frontend/",
		"local_database", dbs.Local())
	close(a.ready)

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	}
	a.log.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := httpSrv.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("shut down the HTTP server: %w", err)
	}
	return nil
}
