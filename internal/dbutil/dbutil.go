// Package dbutil prepares a service's database: it creates the database on
// the server when it is missing and applies the service's embedded
// migrations with golang-migrate, in Encore's file naming
// (1_create_tables.up.sql) and schema_migrations table.
package dbutil

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strings"

	"github.com/golang-migrate/migrate/v4"
	_ "github.com/golang-migrate/migrate/v4/database/pgx/v5" // the pgx5:// scheme
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DatabaseURL returns serverURL with its database replaced by name.
func DatabaseURL(serverURL, name string) (string, error) {
	u, err := url.Parse(serverURL)
	if err != nil {
		return "", fmt.Errorf("parse database URL: %w", redact(err))
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return "", fmt.Errorf("database URL must start with postgres://, not %q", u.Scheme+"://")
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String(), nil
}

// Prepare makes sure the database name exists on the server at serverURL,
// applies the migrations in dir of migrations, and returns the database's URL.
func Prepare(ctx context.Context, serverURL, name string, migrations fs.FS, dir string) (string, error) {
	dbURL, err := DatabaseURL(serverURL, name)
	if err != nil {
		return "", err
	}
	// A server URL that names no database would connect to one named as
	// the user, which rarely exists: ask the postgres database instead.
	if u, err := url.Parse(serverURL); err == nil && strings.Trim(u.Path, "/") == "" {
		if serverURL, err = DatabaseURL(serverURL, "postgres"); err != nil {
			return "", err
		}
	}
	if err := EnsureDatabase(ctx, serverURL, name); err != nil {
		return "", err
	}
	if err := Migrate(dbURL, migrations, dir); err != nil {
		return "", fmt.Errorf("migrate database %s: %w", name, err)
	}
	return dbURL, nil
}

// PrepareAt applies the migrations to the database at dbURL, first creating
// it on its server when it does not exist (connecting to the server's
// postgres database with the same credentials). A role that may not create
// databases works with one made for it beforehand.
func PrepareAt(ctx context.Context, dbURL string, migrations fs.FS, dir string) error {
	u, err := url.Parse(dbURL)
	if err != nil {
		return fmt.Errorf("parse database URL: %w", redact(err))
	}
	name := strings.TrimPrefix(u.Path, "/")
	conn, err := pgx.Connect(ctx, dbURL)
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		conn.Close(ctx)
	case errors.As(err, &pgErr) && pgErr.Code == "3D000": // invalid_catalog_name
		serverURL, uerr := DatabaseURL(dbURL, "postgres")
		if uerr != nil {
			return uerr
		}
		if err := EnsureDatabase(ctx, serverURL, name); err != nil {
			return fmt.Errorf("database %s does not exist, and creating it failed (create it beforehand, "+
				"owned by the role that connects): %w", name, err)
		}
	default:
		return fmt.Errorf("connect to database %s: %w", name, err)
	}
	if err := Migrate(dbURL, migrations, dir); err != nil {
		return fmt.Errorf("migrate database %s: %w", name, err)
	}
	return nil
}

// EnsureDatabase creates the database on the server unless it exists. Two
// processes starting at once may both try; the loser's error is ignored.
func EnsureDatabase(ctx context.Context, serverURL, name string) error {
	conn, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("look up database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database
		return nil
	}
	if err != nil {
		// Two creating at the same moment: the loser may instead fail on
		// the catalog's unique index. Made by the other is made.
		if conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists) == nil && exists {
			return nil
		}
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// Migrate applies every migration in dir of fsys that the database has not
// had yet. golang-migrate takes an advisory lock, so instances starting
// together apply each migration once.
func Migrate(dbURL string, fsys fs.FS, dir string) error {
	src, err := iofs.New(fsys, dir)
	if err != nil {
		return err
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		return redact(err)
	}
	u.Scheme = "pgx5"
	m, err := migrate.NewWithSourceInstance("iofs", src, u.String())
	if err != nil {
		return redact(err)
	}
	defer m.Close()
	if err := m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return redact(err)
	}
	return nil
}

// redact removes a URL's password from an error that quotes the URL.
func redact(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		if u, perr := url.Parse(uerr.URL); perr == nil {
			uerr.URL = u.Redacted()
		} else {
			uerr.URL = "(database URL)"
		}
	}
	return err
}

// Latest is the version of the last migration in dir of fsys: the number
// its file name starts with.
func Latest(fsys fs.FS, dir string) (uint, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return 0, err
	}
	var latest uint
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		if !ok {
			continue
		}
		var v uint
		if _, err := fmt.Sscan(num, &v); err == nil && v > latest {
			latest = v
		}
	}
	return latest, nil
}

// CheckVersion reports whether the database has every migration in dir of
// fsys, without applying any: for a process whose role may not change the
// schema.
func CheckVersion(ctx context.Context, db interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, fsys fs.FS, dir string) error {
	want, err := Latest(fsys, dir)
	if err != nil {
		return err
	}
	var (
		have  uint
		dirty bool
	)
	if err := db.QueryRow(ctx, "SELECT version, dirty FROM schema_migrations").Scan(&have, &dirty); err != nil {
		return fmt.Errorf("read the schema's version: %w", err)
	}
	switch {
	case dirty:
		return fmt.Errorf("the schema's migration %d failed part way: start a full instance to repair it", have)
	case have < want:
		return fmt.Errorf("the schema is at version %d and this program needs %d: start a full instance of this version first, which migrates it", have, want)
	}
	return nil
}

// Duplicate reports whether err is PostgreSQL's unique violation: a row
// with that key exists already.
func Duplicate(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && pg.Code == pgerrcode.UniqueViolation
}

// DuplicateOf tells whether err is a unique_violation of the constraint
// with the name.
func DuplicateOf(err error, constraint string) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && pg.Code == pgerrcode.UniqueViolation && pg.ConstraintName == constraint
}

// Querier is a pool or a transaction: what a read that may run in either
// needs.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}
