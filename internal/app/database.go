package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"uptime/account"
	"uptime/internal/config"
	"uptime/internal/dbutil"
	"uptime/internal/egress"
	"uptime/internal/infraconfig"
	"uptime/internal/pglocal"
	"uptime/internal/queue"
	"uptime/monitor"
	"uptime/notify"
	"uptime/site"
	"uptime/statuspage"
)

// The services' database names, as in Encore.
const (
	SiteDatabase       = "site"
	MonitorDatabase    = "monitor"
	StatusPageDatabase = "statuspage"
	NotifyDatabase     = "notify"
	AccountDatabase    = "account"
)

// Databases are the services' databases, in the order they are prepared.
var Databases = []string{SiteDatabase, MonitorDatabase, StatusPageDatabase, NotifyDatabase, AccountDatabase}

// DatabaseServer is the PostgreSQL server the services' databases live on:
// the configured one, or a local cluster this process provisioned.
type DatabaseServer struct {
	url string
	// infra, when set, gives each service's database in place of url.
	infra   *infraconfig.Infra
	prefix  string
	cluster *pglocal.Cluster
	// stopSupervising ends the restarting of a local cluster that stops.
	stopSupervising func()
}

// OpenDatabaseServer returns the configured server (or the databases an
// infra-config gives), or starts the local cluster under the state
// directory. With attach, a local cluster that a running `uptime run`
// holds is used as it is rather than refused.
func OpenDatabaseServer(ctx context.Context, cfg config.Config, infra *infraconfig.Infra, log *slog.Logger, attach bool) (*DatabaseServer, error) {
	if infra != nil {
		return &DatabaseServer{infra: infra}, nil
	}
	if cfg.DatabaseURL != "" {
		return &DatabaseServer{url: cfg.DatabaseURL, prefix: cfg.DatabasePrefix}, nil
	}
	dir := filepath.Join(cfg.StateDir, "postgres")
	c, err := pglocal.Start(ctx, pglocal.Options{Dir: dir, Port: cfg.PGPort, Log: log})
	if errors.Is(err, pglocal.ErrBusy) && attach {
		c, err = pglocal.Attach(dir)
	}
	if errors.Is(err, pglocal.ErrBusy) {
		return nil, fmt.Errorf("another uptime process is using the database in %s: stop it first, "+
			"or give this one its own --state-dir", dir)
	}
	if err != nil {
		return nil, fmt.Errorf("local PostgreSQL: %w", err)
	}
	s := &DatabaseServer{url: c.URL("postgres"), prefix: cfg.DatabasePrefix, cluster: c, stopSupervising: func() {}}
	if !attach {
		superviseCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.Supervise(superviseCtx)
		}()
		s.stopSupervising = func() { cancel(); <-done }
	}
	return s, nil
}

// OwnAddrs are the addresses of the server's PostgreSQL that are on this
// machine: the local cluster's, or the configured server's when it is on
// loopback. Checks must never reach them.
func (s *DatabaseServer) OwnAddrs() []string {
	if s.cluster != nil {
		return []string{net.JoinHostPort("127.0.0.1", strconv.Itoa(s.cluster.Port()))}
	}
	u, err := url.Parse(s.url)
	if err != nil {
		return nil
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "5432"
	}
	if ip, err := netip.ParseAddr(host); host == "localhost" || err == nil && ip.IsLoopback() {
		return []string{net.JoinHostPort("127.0.0.1", port), net.JoinHostPort("::1", port)}
	}
	return nil
}

// LoadInfra reads the infra-config the configuration names, if any: nil
// when there is none. A file that gives no statuspage or notify database
// (an Encore deployment of the tutorial's app has site and monitor only)
// (and an account database) gets them beside the monitor's, on the same
// server with the same role.
func LoadInfra(cfg config.Config, getenv func(string) string, log *slog.Logger) (*infraconfig.Infra, error) {
	if cfg.InfraConfig == "" {
		return nil, nil
	}
	inf, err := infraconfig.Load(cfg.InfraConfig, Databases, filepath.Join(cfg.StateDir, "tls"), getenv)
	if err != nil {
		return nil, err
	}
	for _, name := range []string{SiteDatabase, MonitorDatabase} {
		if _, ok := inf.Databases[name]; !ok {
			return nil, fmt.Errorf("infra-config %s: sql_servers: no server has a %q database; add it under databases",
				cfg.InfraConfig, name)
		}
	}
	for _, name := range []string{StatusPageDatabase, NotifyDatabase, AccountDatabase} {
		if _, ok := inf.Databases[name]; ok {
			continue
		}
		mon := inf.Databases[MonitorDatabase]
		u, err := dbutil.DatabaseURL(mon.URL, name)
		if err != nil {
			return nil, err
		}
		inf.Databases[name] = infraconfig.Database{URL: u}
		log.Info("infra-config gives no " + name + " database: using one named " + name + " beside the monitor database")
	}
	if len(inf.Ignored) > 0 {
		log.Info("infra-config: ignoring what this program does not use", "ignored", strings.Join(inf.Ignored, ", "))
	}
	return inf, nil
}

// Prepare creates a service's database if it is missing, applies the
// service's migrations and returns the database's URL.
func (s *DatabaseServer) Prepare(ctx context.Context, service string, migrations fs.FS) (string, error) {
	if s.infra != nil {
		db, ok := s.infra.Databases[service]
		if !ok {
			return "", fmt.Errorf("the infra-config gives no %s database", service)
		}
		return db.URL, dbutil.PrepareAt(ctx, db.URL, migrations, "migrations")
	}
	return dbutil.Prepare(ctx, s.url, s.prefix+service, migrations, "migrations")
}

// ServiceURL returns a service's database URL, leaving the database as it
// is.
func (s *DatabaseServer) ServiceURL(service string) (string, error) {
	if s.infra != nil {
		db, ok := s.infra.Databases[service]
		if !ok {
			return "", fmt.Errorf("the infra-config gives no %s database", service)
		}
		return db.URL, nil
	}
	return dbutil.DatabaseURL(s.url, s.prefix+service)
}

// MaxConns is the connection limit the infra-config sets for a service's
// database, else def.
func (s *DatabaseServer) MaxConns(service string, def int) int {
	if s.infra != nil && s.infra.Databases[service].MaxConns > 0 {
		return s.infra.Databases[service].MaxConns
	}
	return def
}

// PrepareService creates a service's database if it is missing and brings
// its schema up to date, River's tables included for the monitor, as `uptime
// run` does at start-up; it returns the database's URL.
func (s *DatabaseServer) PrepareService(ctx context.Context, service string) (string, error) {
	switch service {
	case SiteDatabase:
		return s.Prepare(ctx, service, site.Migrations)
	case StatusPageDatabase:
		return s.Prepare(ctx, service, statuspage.Migrations)
	case NotifyDatabase:
		return s.Prepare(ctx, service, notify.Migrations)
	case AccountDatabase:
		return s.Prepare(ctx, service, account.Migrations)
	case MonitorDatabase:
		dbURL, err := s.Prepare(ctx, service, monitor.Migrations)
		if err != nil {
			return "", err
		}
		pool, err := pgxpool.New(ctx, dbURL)
		if err != nil {
			return "", err
		}
		defer pool.Close()
		return dbURL, queue.Migrate(ctx, pool)
	}
	return "", fmt.Errorf("no service has a database named %q", service)
}

// Local reports whether the server is a local cluster.
func (s *DatabaseServer) Local() bool { return s.cluster != nil }

// Close stops a local cluster this process started; a configured server is
// left alone.
func (s *DatabaseServer) Close(ctx context.Context) error {
	if s.cluster == nil {
		return nil
	}
	s.stopSupervising()
	return s.cluster.Stop(ctx)
}

// targets is the policy of where checks may connect: the configured
// denials and allowances, never this instance's own listeners (its API on
// ln, its profiler) nor its PostgreSQL on this machine.
func (a *App) targets(ln net.Listener, dbs *DatabaseServer) *egress.Targets {
	deny, _ := config.ParsePrefixes(a.cfg.DenyTargets) // validated with the config
	allow, _ := config.ParsePrefixes(a.cfg.AllowTargets)
	targets := egress.NewTargets(deny, allow, a.cfg.ListensBeyondLoopback())
	targets.ListenOn(ln.Addr().String())
	if a.cfg.DebugAddr != "" {
		targets.ListenOn(a.cfg.DebugAddr)
	}
	for _, addr := range dbs.OwnAddrs() {
		targets.ListenOn(addr)
	}
	return targets
}
