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
	log := newLogger(cfg, io.Discard)
	infra, err := app.LoadInfra(cfg, os.Getenv, log)
	if err != nil {
		return err
	}
	dbs, err := app.OpenDatabaseServer(ctx, cfg, infra, log, true)
	if err != nil {
		return err
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		dbs.Close(stopCtx)
	}()
	// A state directory that `uptime run` never used has no databases
	// yet: make them as it would, so that the shell opens on the tables.
	dbURL, err := dbs.PrepareService(ctx, rest[0])
	if err != nil {
		return err
	}
	if sub == "conn-uri" {
		if dbs.Local() {
			fmt.Fprintln(stderr, "note: the local cluster runs only while `uptime run` does")
		}
		fmt.Fprintln(stdout, dbURL)
		return nil
	}
	return psql(dbURL, stdin, stdout, stderr)
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
	log := newLogger(cfg, io.Discard)
	infra, err := app.LoadInfra(cfg, os.Getenv, log)
	if err != nil {
		return err
	}
	dbs, err := app.OpenDatabaseServer(ctx, cfg, infra, log, true)
	if err != nil {
		return err
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		dbs.Close(stopCtx)
	}()
	dbURL, err := dbs.PrepareService(ctx, app.MonitorDatabase)
	if err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("open the monitor database: %w", err)
	}
	defer pool.Close()
	size, err := history.New(pool, history.Options{}, log).Size(ctx)
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
	fmt.Fprintf(stdout, "bytes per check: raw %.0f\n", size.BytesPerCheck())
	fmt.Fprintf(stdout, "days kept: raw checks %d (--retention), daily roll-ups %d (--rollup-retention)\n", size.RawDays, size.RollupDays)
	return nil
}
