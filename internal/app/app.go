// Package app wires the services together and runs them: the one place
// where databases, services and the HTTP server meet.
package app

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"gorm.io/gorm"

	"uptime/account"
	"uptime/frontend"
	"uptime/internal/api"
	"uptime/internal/config"
	"uptime/internal/egress"
	"uptime/internal/mailer"
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
	// AnnounceEvery is how often status pages look for maintenance to
	// tell their subscribers of; zero means every minute.
	AnnounceEvery time.Duration
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

// Run provisions the databases, builds the services, starts the parts of
// the program (see startParts) and serves until ctx is cancelled. Then it
// stops the parts in the reverse order (the monitor's check-all runs cut
// short, requests in flight finished, the database watch, cron and
// workers), closes the databases and stops a local cluster.
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

	d, err := openDatabases(ctx, dbs)
	if err != nil {
		return err
	}
	defer d.close()
	q := queue.New()
	q.Location = a.cfg.Location // its checks' queue
	svc, err := a.services(ctx, d, q, a.targets(ln, dbs), box, infra.Getenv(getenv))
	if err != nil {
		return err
	}
	srv := a.apiServer(svc)
	h := health{monitorDB: d.monitor, siteDB: d.siteSQL, statusPageDB: d.statusPage, notifyDB: d.notify, accountDB: d.account, mon: svc.mon, queue: q,
		draining: new(atomic.Bool)}
	registerHealth(srv, h)

	// The days' partitions are made before checking starts; a check that
	// finds none would wait in the default partition until the next try.
	if _, err := svc.mon.History().PreparePartitions(ctx, time.Now()); err != nil {
		a.log.Warn("could not make the partitions of the checks; trying again within the hour", "err", err)
	}
	web := newWebServer(ln, srv, a.log)
	var parts []part
	if a.cfg.DebugAddr != "" {
		parts = append(parts, profilerPart(a.cfg.DebugAddr, a.log))
	}
	parts = append(parts,
		queuePart(q, d.monitor, quiet(a.log, srv.DatabaseDown)),
		watchPart(h, srv.DatabaseDown),
		web.part(),
		monitorPart(svc.mon),
	)
	stop, err := startParts(ctx, parts)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, stop(context.WithoutCancel(ctx))) }()

	a.addr = ln.Addr().String()
	a.log.Info("uptime is running", "version", version.Version, "api", "http://"+a.addr, "dashboard", "http://"+a.addr+"/frontend/",
		"local_database", dbs.Local(), "check_every", a.cfg.CheckEvery)
	if a.cfg.ListensBeyondLoopback() && a.cfg.PublicURL == "" && a.cfg.AllowedHosts == "" {
		a.log.Warn("answering only to addresses and localhost: requests that name this server by a host name are " +
			"refused; give the name with --public-url or --allowed-hosts")
	}
	close(a.ready)
	return a.serve(ctx, web, h, a.cfg.ShutdownDelay)
}

// databases are the services' own databases, open.
type databases struct {
	site       *gorm.DB
	siteSQL    *sql.DB
	monitor    *pgxpool.Pool
	statusPage *pgxpool.Pool
	notify     *pgxpool.Pool
	account    *pgxpool.Pool
}

// openDatabases prepares each service's database on the server (creating
// it and applying its migrations) and opens it.
func openDatabases(ctx context.Context, dbs *DatabaseServer) (_ *databases, err error) {
	d := &databases{}
	defer func() {
		if err != nil {
			d.close()
		}
	}()
	urls := map[string]string{}
	for _, name := range Databases {
		if urls[name], err = dbs.PrepareService(ctx, name); err != nil {
			return nil, err
		}
	}
	if d.site, err = site.OpenDB(urls[SiteDatabase]); err != nil {
		return nil, err
	}
	if d.siteSQL, err = d.site.DB(); err != nil {
		return nil, err
	}
	d.siteSQL.SetMaxOpenConns(dbs.MaxConns(SiteDatabase, maxConns))
	if d.monitor, err = openPool(ctx, urls[MonitorDatabase], dbs.MaxConns(MonitorDatabase, maxConns)); err != nil {
		return nil, err
	}
	if d.statusPage, err = openPool(ctx, urls[StatusPageDatabase], dbs.MaxConns(StatusPageDatabase, 10)); err != nil {
		return nil, err
	}
	if d.notify, err = openPool(ctx, urls[NotifyDatabase], dbs.MaxConns(NotifyDatabase, 10)); err != nil {
		return nil, err
	}
	if d.account, err = openPool(ctx, urls[AccountDatabase], dbs.MaxConns(AccountDatabase, 10)); err != nil {
		return nil, err
	}
	return d, nil
}

// close closes the databases that are open.
func (d *databases) close() {
	if d.siteSQL != nil {
		d.siteSQL.Close()
	}
	for _, p := range []*pgxpool.Pool{d.monitor, d.statusPage, d.notify, d.account} {
		if p != nil {
			p.Close()
		}
	}
}

// services are the program's services, built and tied together.
type services struct {
	sites    *site.Service
	mon      *monitor.Service
	notifier *slack.Service
	channels *notify.Service
	pages    *statuspage.Service
	accounts *account.Service
}

// services builds the services over their databases: the site service
// tells the monitor of changes, and the monitor's transitions go to Slack
// and the channels through the queue. Each checks that the sealing key is
// the one its database was sealed with.
func (a *App) services(ctx context.Context, d *databases, q *queue.Queue, targets *egress.Targets, box *seal.Box,
	getenv func(string) string) (*services, error) {
	transitions := pubsub.NewTopic[event.Transition](q, event.Topic, a.log)
	if a.opts.RetryBackoff > 0 {
		transitions.MinBackoff = a.opts.RetryBackoff
	}
	svc := &services{sites: site.New(d.site), notifier: slack.New(secrets.NewStore(a.cfg.StateDir, getenv), a.log)}
	svc.notifier.Subscribe(transitions)
	svc.channels = notify.New(d.notify, box, svc.sites, q, notify.Options{RetryBackoff: a.opts.RetryBackoff, Targets: targets}, a.log)
	if err := svc.channels.CheckKey(ctx); err != nil {
		return nil, err
	}
	svc.channels.Subscribe(transitions)
	sites := svc.sites
	sites.CheckTargets(targets)
	sites.SetDefaults(site.Defaults{Interval: a.cfg.CheckEvery, Timeout: a.cfg.CheckTimeout, Confirmations: a.cfg.ConfirmChecks})
	sites.SealWith(box)
	sites.SetPublicURL(a.cfg.PublicURL)
	if err := sites.CheckKey(ctx); err != nil {
		return nil, err
	}
	if dups, err := sites.SealOlder(ctx); err != nil {
		return nil, err
	} else if len(dups) > 0 {
		a.log.Warn("sites added by an earlier version during the upgrade repeat the URL of another site, and are left "+
			"unsealed: delete them", "site_ids", dups)
	}
	svc.mon = monitor.New(d.monitor, sites, q, transitions, a.monitorOptions(targets, box), a.log)
	if err := svc.mon.CheckKey(ctx); err != nil {
		return nil, err
	}
	if err := svc.mon.SealOlder(ctx); err != nil {
		return nil, err
	}
	var err error
	if q.PollOnly, err = svc.mon.HasProbes(ctx); err != nil {
		return nil, err
	} else if q.PollOnly {
		a.log.Info("probes check from some locations: River's jobs are polled for, not announced by notifications",
			"poll_every", queue.PollEvery)
	}
	q.ID = svc.mon.InstanceID()
	sites.Listen(svc.mon)
	if a.cfg.WatchItself {
		if err := watchItself(ctx, box, sites, svc.mon, a.cfg.CheckEvery); err != nil {
			return nil, err
		}
	}
	svc.pages = statuspage.New(d.statusPage, sites, svc.mon)
	var send *mailer.Mailer
	if a.cfg.SMTPURL != "" {
		send, _ = mailer.Parse(a.cfg.SMTPURL) // validated with the config
		if send.NeedsPassword() {
			password, err := secrets.NewStore(a.cfg.StateDir, getenv).Get(SMTPPasswordSecret)
			if err != nil {
				return nil, err
			}
			send.SetPassword(password)
		}
	}
	svc.pages.SendMail(statuspage.Mail{Mailer: send, Box: box, Queue: q, PublicURL: a.cfg.PublicURL,
		RetryBackoff: a.opts.RetryBackoff, AnnounceEvery: a.opts.AnnounceEvery, Log: a.log})
	svc.accounts = account.New(d.account, a.log)
	svc.accounts.SecureCookies(strings.HasPrefix(a.cfg.PublicURL, "https://"))
	svc.accounts.AuditRetention(a.cfg.AuditRetention)
	svc.accounts.SealWith(box)
	if a.cfg.OIDCIssuer != "" {
		secret := a.cfg.OIDCClientSecret
		if secret == "" {
			var err error
			if secret, err = secrets.NewStore(a.cfg.StateDir, getenv).Get(OIDCClientSecret); err != nil {
				return nil, err
			}
		}
		roles, _ := config.ParseRoleMap(a.cfg.OIDCRoles) // validated with the config
		svc.accounts.UseOIDC(account.OIDC{Issuer: a.cfg.OIDCIssuer, ClientID: a.cfg.OIDCClientID, ClientSecret: secret,
			Name: a.cfg.OIDCName, AllowedDomains: config.List(strings.ToLower(a.cfg.OIDCAllowedDomains)),
			RoleClaim: a.cfg.OIDCRoleClaim, Roles: roles, PublicURL: a.cfg.PublicURL})
	}
	if a.cfg.AdminEmail != "" {
		password, err := secrets.NewStore(a.cfg.StateDir, getenv).Get(AdminPasswordSecret)
		if err != nil {
			return nil, err
		}
		if made, err := svc.accounts.EnsureAdmin(ctx, a.cfg.AdminEmail, password); err != nil {
			return nil, fmt.Errorf("the first admin (--admin-email): %w", err)
		} else if made {
			a.log.Info("made the first admin", "email", a.cfg.AdminEmail)
		}
	}
	return svc, nil
}

// apiServer is the HTTP API of the services, with /metrics, the OpenAPI
// document and the dashboard.
func (a *App) apiServer(svc *services) *api.Server {
	srv := api.NewServer(a.log, a.cfg.APIKey)
	reads, _ := api.ParseReads(a.cfg.Reads) // validated with the config
	srv.Authenticate(svc.accounts, reads, !a.cfg.ListensBeyondLoopback())
	srv.MetricsPublic(a.cfg.MetricsPublic)
	srv.Audit(svc.accounts)
	proxies, _ := config.ParsePrefixes(a.cfg.TrustedProxies) // validated with the config
	srv.TrustProxies(proxies)
	srv.LogRequests(a.cfg.LogRequests)
	srv.AllowOrigins(config.List(a.cfg.CORSOrigins)...)
	srv.AllowHosts(config.List(a.cfg.AllowedHosts)...)
	if u, err := url.Parse(a.cfg.PublicURL); err == nil && u.Host != "" {
		srv.AllowHosts(u.Hostname())
		srv.AllowOrigins(u.Scheme + "://" + u.Host)
	}
	svc.sites.Register(srv)
	svc.mon.Register(srv)
	svc.notifier.Register(srv)
	svc.channels.Register(srv)
	svc.pages.Register(srv)
	srv.ServePageHosts(svc.pages.PageHost)
	svc.accounts.Register(srv)
	scraped := []prometheus.Collector{svc.mon.LocationCollector(), svc.mon.History().SizeCollector()}
	if a.cfg.MetricsPerSite {
		scraped = append(scraped, svc.mon.SiteCollector())
	}
	srv.HandleHTTP("GET /metrics", metrics.Handler(metrics.Registry(scraped...), a.log), api.Doc{
		Summary: "Prometheus metrics, in its text format", ContentType: "text/plain"})
	srv.Handle("GET /openapi.json", func(*http.Request) (any, error) {
		return srv.OpenAPI("Uptime", "1.0"), nil
	}, api.Doc{Summary: "This document: the API as OpenAPI 3.1", Response: map[string]any{}})
	frontend.Register(srv)
	return srv
}

// AdminPasswordSecret is the secret holding the password of the admin
// --admin-email makes (UPTIME_ADMIN_PASSWORD in the environment).
const AdminPasswordSecret = "UptimeAdminPassword"

// SMTPPasswordSecret is the secret holding the mail server's password
// when --smtp-url names a user but no password (UPTIME_SMTP_PASSWORD in
// the environment).
const SMTPPasswordSecret = "UptimeSMTPPassword"

// OIDCClientSecret is the secret holding the client secret with the
// identity provider, when --oidc-client-secret does not give it.
const OIDCClientSecret = "UptimeOIDCClientSecret"

// monitorOptions are the monitor's options from the configuration.
func (a *App) monitorOptions(targets *egress.Targets, box *seal.Box) monitor.Options {
	return monitor.Options{
		Box:                box,
		CheckTimeout:       a.cfg.CheckTimeout,
		Confirmations:      a.cfg.ConfirmChecks,
		ConfirmInterval:    a.cfg.ConfirmInterval,
		Location:           a.cfg.Location,
		Probe:              a.cfg.Probe,
		Version:            version.Version,
		FlapChanges:        a.cfg.FlapChanges,
		FlapWindow:         a.cfg.FlapWindow,
		Concurrency:        a.cfg.CheckConcurrency,
		CheckEvery:         a.cfg.CheckEvery,
		Retention:          a.cfg.Retention,
		RollupRetention:    a.cfg.RollupRetention,
		CompactedRetention: compactedRetention(a.cfg.CompactedRetention),
		Transport:          a.opts.CheckTransport,
		HeartbeatURL:       a.cfg.HeartbeatURL,
		Targets:            targets,
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

// compactedRetention is the monitor's for the configuration's: 0 there
// packs nothing.
func compactedRetention(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
