// Package cli is the command line: `uptime run`, `uptime db ...` and
// `uptime secret ...`, mirroring Encore's commands, and `uptime apply`.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"uptime/internal/app"
	"uptime/internal/config"
	"uptime/internal/version"
)

const usage = `Uptime checks websites on a schedule, records every check, shows them on a
dashboard and tells Slack when a site goes down and when it is back.

Usage:
  uptime [run] [flags]             run the monitor: the API on http://127.0.0.1:4000,
                                   the dashboard at /frontend/, and a local PostgreSQL
                                   under .uptime/ unless --database-url is set
  uptime db shell <service>        open psql on a service's database: site,
                                   monitor, statuspage, notify or account
  uptime db conn-uri <service>     print the connection URL of a service's database
  uptime db size                   what the history of checks costs on disk: per
                                   table, a raw check's bytes, the days kept
  uptime secret set <Name>         store a secret for the local app (SlackWebhookURL);
                                   the value is read from the terminal without echo,
                                   or from standard input; the environment
                                   (SLACK_WEBHOOK_URL) overrides it
  uptime user add EMAIL --role ROLE [--name NAME]
                                   add a user (admin, editor or viewer) to this
                                   configuration's database, before or while the
                                   server runs; the password is read from the terminal
                                   without echo, or from standard input
  uptime user list                 list the users
  uptime user passwd EMAIL         set a user's password
  uptime user disable|enable EMAIL stop or let a user sign in and use their tokens
  uptime user reset-totp EMAIL     stop asking a user for a two-factor code (a lost
                                   phone); they set it up again
  uptime token add EMAIL --name NAME --role ROLE [--expires-in 90d]
                                   make an API token for a user (its role at most
                                   theirs) and print it, shown this once
  uptime token list | revoke ID    list the tokens, or revoke one
  uptime apply -f FILE.yaml [--server URL] [--prune] [--dry-run]
                                   make a running monitor hold the sites the file
                                   lists, keyed by URL (UPTIME_SERVER, UPTIME_API_KEY)
  uptime healthcheck [PATH|URL]    exit 0 if this configuration's instance answers
                                   200 on /readyz (or PATH): for container health checks
  uptime version                   print the version this binary was built from
  uptime help                      show this help; "uptime run --help" lists the flags

Every flag of "run" is also an environment variable, shown in "uptime run --help";
the flag wins. The db commands take the same flags, so they find the same database.
`

// Main runs the command line and returns the exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := "run"
	if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		cmd = "help"
	} else if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "run":
		err = run(ctx, args, stderr)
	case "db":
		err = db(ctx, args, stdin, stdout, stderr)
	case "secret":
		err = secret(args, stdin, stdout, stderr)
	case "user":
		err = user(ctx, args, stdin, stdout, stderr)
	case "token":
		err = token(ctx, args, stdout, stderr)
	case "apply":
		err = apply(ctx, args, os.Getenv, stdout, stderr)
	case "healthcheck":
		err = healthcheck(ctx, args, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, version.Version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "uptime: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "uptime: %v\n", err)
		return 1
	}
	return 0
}

// parse reads the flags of a command, before and after its arguments.
func parse(name string, args []string, stderr io.Writer) (config.Config, []string, error) {
	return parseWith(name, args, stderr, nil)
}

// parseWith reads the flags of a command, with its own flags added by
// extra beside the configuration's.
func parseWith(name string, args []string, stderr io.Writer, extra func(*flag.FlagSet)) (config.Config, []string, error) {
	fs := flag.NewFlagSet("uptime "+name, flag.ContinueOnError)
	if extra != nil {
		extra(fs)
	}
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage of uptime %s:\n", name)
		fs.PrintDefaults()
	}
	c, envErr := config.Flags(fs, os.Getenv)
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return config.Config{}, nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if err := envErr(); err != nil {
		return config.Config{}, nil, err
	}
	return *c, positional, c.Validate()
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	cfg, rest, err := parse("run", args, stderr)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("run takes no arguments, got %q", rest)
	}
	return app.New(cfg, newLogger(cfg, stderr)).Run(ctx)
}
