package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"uptime/internal/app"
	"uptime/internal/config"
	"uptime/internal/human"
	"uptime/internal/pglocal"
	"uptime/monitor/history"
)

// db runs `uptime db shell|conn-uri <database>` and `uptime db size`.
// With a local cluster that no `uptime run` holds, they start it for the
// command and stop it after.
func db(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "size" {
		return dbSize(ctx, args[1:], stdout, stderr)
	}
	if len(args) == 0 || (args[0] != "shell" && args[0] != "conn-uri") {
		return errors.New("usage: uptime db shell <site|monitor|statuspage|notify|account> | uptime db conn-uri <site|monitor|statuspage|notify|account>")
	}
	sub := args[0]
	cfg, rest, err := parse("db "+sub, args[1:], stderr)
	if err != nil {
		return err
	}
	if len(rest) != 1 || !slices.Contains(app.Databases, rest[0]) {
		return fmt.Errorf("usage: uptime db %s <site|monitor|statuspage|notify|account>", sub)
	}
	dbURL, local, done, err := prepareService(ctx, cfg, rest[0])
	if err != nil {
		return err
	}
	defer done()
	if sub == "conn-uri" {
		if local {
			fmt.Fprintln(stderr, "note: the local cluster runs only while `uptime run` does")
		}
		fmt.Fprintln(stdout, dbURL)
		return nil
	}
	return psql(dbURL, stdin, stdout, stderr)
}

// prepareService finds the configuration's database server (starting a
// local cluster that no `uptime run` holds, for the command) and makes a
// service's database there as `uptime run` would, if it is missing: a
// state directory never run has none yet. It returns the database's URL,
// whether the server is a local cluster, and done, which stops a cluster
// it started.
func prepareService(ctx context.Context, cfg config.Config, service string) (dbURL string, local bool, done func(), err error) {
	log := newLogger(cfg, io.Discard)
	infra, err := app.LoadInfra(cfg, os.Getenv, log)
	if err != nil {
		return "", false, nil, err
	}
	dbs, err := app.OpenDatabaseServer(ctx, cfg, infra, log, true)
	if err != nil {
		return "", false, nil, err
	}
	done = func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		dbs.Close(stopCtx)
	}
	if dbURL, err = dbs.PrepareService(ctx, service); err != nil {
		done()
		return "", false, nil, err
	}
	return dbURL, dbs.Local(), done, nil
}

// openService opens a service's database as prepareService finds it;
// done closes it and stops a cluster it started.
func openService(ctx context.Context, cfg config.Config, service string) (*pgxpool.Pool, func(), error) {
	dbURL, _, stop, err := prepareService(ctx, cfg, service)
	if err != nil {
		return nil, nil, err
	}
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		stop()
		return nil, nil, fmt.Errorf("open the %s database: %w", service, err)
	}
	return pool, func() { pool.Close(); stop() }, nil
}

// psql runs psql on the database. The password goes in the environment, not
// on the command line where other users could read it.
func psql(dbURL string, stdin io.Reader, stdout, stderr io.Writer) error {
	bin, err := exec.LookPath("psql")
	if err != nil {
		dir, ferr := pglocal.FindBinaries()
		if ferr != nil {
			return errors.New("psql was not found: install it (apt-get install postgresql-client)")
		}
		bin = filepath.Join(dir, "psql")
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		return err
	}
	env := os.Environ()
	if pw, ok := u.User.Password(); ok {
		env = append(env, "PGPASSWORD="+pw)
		u.User = url.User(u.User.Username())
	}
	cmd := exec.Command(bin, u.String())
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	// Ctrl-C belongs to psql (it cancels the query), not to this process.
	signal.Ignore(os.Interrupt)
	defer signal.Reset(os.Interrupt)
	return cmd.Run()
}

// dbSize runs `uptime db size`: what the history costs on disk, per table
// and in all, a raw check's bytes, and the days kept.
func dbSize(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, rest, err := parse("db size", args, stderr)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return errors.New("usage: uptime db size")
	}
	pool, done, err := openService(ctx, cfg, app.MonitorDatabase)
	if err != nil {
		return err
	}
	defer done()
	size, err := history.New(pool, history.Options{}, newLogger(cfg, io.Discard)).Size(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "TABLE\tBYTES\tROWS\tBYTES PER ROW\t")
	for _, t := range size.Tables {
		perRow := "-"
		if t.Rows > 0 {
			perRow = fmt.Sprintf("%.0f", float64(t.Bytes)/float64(t.Rows))
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\t\n", t.Name, human.Bytes(t.Bytes), t.Rows, perRow)
	}
	fmt.Fprintf(w, "total\t%s\t\t\t\n", human.Bytes(size.Bytes))
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "bytes per check: raw %.0f, compacted %.1f\n", size.BytesPerCheck(), size.BytesPerPackedCheck())
	fmt.Fprintf(stdout, "days kept: raw checks %d (today's, yesterday's, and those not packed: --retention), packed checks %d (--compacted-retention), daily roll-ups %d (--rollup-retention)\n",
		size.RawDays, size.PackedDays, size.RollupDays)
	return nil
}
