package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"

	"uptime/internal/config"
	"uptime/internal/dbutil"
	"uptime/internal/pglocal"
)

// The services' database names, as in Encore.
const (
	SiteDatabase    = "site"
	MonitorDatabase = "monitor"
)

// DatabaseServer is the PostgreSQL server the services' databases live on:
// the configured one, or a local cluster this process provisioned.
type DatabaseServer struct {
	url     string
	prefix  string
	cluster *pglocal.Cluster
}

// OpenDatabaseServer returns the configured server, or starts the local
// cluster under the state directory. With attach, a local cluster that a
// running `uptime run` holds is used as it is rather than refused.
func OpenDatabaseServer(ctx context.Context, cfg config.Config, log *slog.Logger, attach bool) (*DatabaseServer, error) {
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
	return &DatabaseServer{url: c.URL("postgres"), prefix: cfg.DatabasePrefix, cluster: c}, nil
}

// DatabaseURL is the connection URL of a service's database.
func (s *DatabaseServer) DatabaseURL(service string) (string, error) {
	return dbutil.DatabaseURL(s.url, s.prefix+service)
}

// Prepare creates a service's database if it is missing, applies the
// service's migrations and returns the database's URL.
func (s *DatabaseServer) Prepare(ctx context.Context, service string, migrations fs.FS) (string, error) {
	return dbutil.Prepare(ctx, s.url, s.prefix+service, migrations, "migrations")
}

// Local reports whether the server is a local cluster.
func (s *DatabaseServer) Local() bool { return s.cluster != nil }

// Close stops a local cluster this process started; a configured server is
// left alone.
func (s *DatabaseServer) Close(ctx context.Context) error {
	if s.cluster == nil {
		return nil
	}
	return s.cluster.Stop(ctx)
}
