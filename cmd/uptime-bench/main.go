// Command uptime-bench measures Uptime with many sites on this machine
// alone. It serves a farm of fake sites on loopback, runs Uptime on its own
// database with those sites added through the API, drives check-all ticks,
// and checks the same farm with a bare Go loop beside it, the limit Uptime
// is compared with. BENCHMARKS.md explains the figures; `make bench` runs it.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"uptime/internal/dbutil"
	"uptime/internal/pglocal"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "bare" {
		if err := bareMain(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "uptime-bench bare:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "uptime-bench:", err)
		os.Exit(1)
	}
}

type options struct {
	uptime      string
	sizes       []int
	ticks       int
	concurrency int
	timeout     time.Duration
	workDir     string
	out         string
	// internet makes the farm like the internet: a share over HTTPS and
	// 20 to 300 ms before each answer.
	internet bool
	// steady, when set, holds a steady state instead of measuring ticks.
	steady *steadyOptions
}

func run() error {
	var (
		o     options
		sizes string
	)
	flag.StringVar(&o.uptime, "uptime", "bin/uptime", "the uptime binary to measure")
	flag.StringVar(&sizes, "n", "1000,10000,100000", "numbers of sites, separated by commas")
	flag.IntVar(&o.ticks, "ticks", 3, "check-all ticks measured at each size")
	flag.IntVar(&o.concurrency, "concurrency", 100, "checks at once, for Uptime and the bare loop alike")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Second, "time limit of one check, for both")
	flag.StringVar(&o.workDir, "dir", "", "working directory (default: a new temporary one, removed at the end)")
	flag.StringVar(&o.out, "o", "", "also write the report to this file")
	steadyMode := flag.Bool("steady", false, "hold a steady state: sites checked by the scheduler at -interval for -duration")
	so := steadyOptions{}
	flag.DurationVar(&so.interval, "interval", time.Minute, "with -steady, every site's interval")
	flag.DurationVar(&so.duration, "duration", 10*time.Minute, "with -steady, how long the steady state is measured")
	flag.DurationVar(&so.warmup, "warmup", 0, "with -steady, how long to run before measuring (default: one interval)")
	flag.IntVar(&so.instances, "instances", 1, "with -steady, instances of Uptime on one database")
	flag.BoolVar(&so.locations, "locations", false, "with -steady, each instance checks from a location of its own (loc-1, loc-2...), "+
		"so every site is checked once a round from each")
	kinds := flag.String("kinds", "http", "with -steady, the kinds of check, separated by commas ("+strings.Join(benchKinds, ", ")+
		"); with more than one, n sites of each are measured kind by kind, then all together")
	flag.BoolVar(&so.statements, "pg-statements", false, "with -steady, load pg_stat_statements and report PostgreSQL's "+
		"statements in the measured window, the costliest first (it costs PostgreSQL some CPU itself), its CPU by kind of process "+
		"and the tables autovacuum vacuumed")
	pushMode := flag.Bool("push", false, "measure push sites instead: -n of them signalling at -push-rate, then -push-missing missing their deadline at once")
	po := pushOptions{}
	flag.Float64Var(&po.rate, "push-rate", 2000, "with -push, signals a second")
	flag.DurationVar(&po.duration, "push-duration", time.Minute, "with -push, how long signals come at -push-rate")
	flag.IntVar(&po.missing, "push-missing", 1000, "with -push, how many sites miss their deadline at once")
	flag.DurationVar(&po.grace, "push-grace", 5*time.Minute, "with -push, the sites' grace: long enough that signals slowed down by a load beyond the machine are not missed")
	flag.Float64Var(&po.missRate, "push-miss-rate", 300, "with -push, signals a second of the other sites while some miss their deadline")
	farmKind := flag.String("farm", "loopback", "loopback (every site answers at once, over HTTP) or internet "+
		"(one site in four over HTTPS, every site 20 to 300 ms away)")
	flag.Parse()
	switch *farmKind {
	case "loopback":
	case "internet":
		o.internet = true
	default:
		return fmt.Errorf("-farm must be loopback or internet, not %q", *farmKind)
	}
	for f := range strings.SplitSeq(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 10 {
			return fmt.Errorf("-n: %q is not a number of sites (10 or more)", f)
		}
		o.sizes = append(o.sizes, n)
	}
	if o.ticks < 1 {
		return fmt.Errorf("-ticks must be 1 or more")
	}
	if *steadyMode {
		if so.interval < 10*time.Second || so.duration < so.interval || so.instances < 1 {
			return fmt.Errorf("-steady needs -interval of 10s or more, -duration of at least an interval, and -instances of 1 or more")
		}
		if so.warmup == 0 {
			so.warmup = so.interval
		}
		k, err := parseKinds(*kinds)
		if err != nil {
			return err
		}
		so.kinds = k
		o.steady = &so
	} else if *kinds != "http" {
		return fmt.Errorf("-kinds needs -steady")
	}
	bin, err := filepath.Abs(o.uptime)
	if err != nil {
		return err
	}
	o.uptime = bin
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("no uptime binary at %s; build it first (make build)", bin)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if o.workDir == "" {
		// Not under /tmp's private subtrees: PostgreSQL runs as its own user.
		if o.workDir, err = os.MkdirTemp("", "uptime-bench-"); err != nil {
			return err
		}
		os.Chmod(o.workDir, 0o755)
		defer os.RemoveAll(o.workDir)
	}

	ctx := context.Background()
	progress("starting PostgreSQL in %s", o.workDir)
	var pgConfig string
	if o.steady != nil && o.steady.statements || *pushMode && so.statements {
		pgConfig = "shared_preload_libraries = 'pg_stat_statements'"
	}
	po.statements = so.statements
	cluster, err := pglocal.Start(ctx, pglocal.Options{Dir: filepath.Join(o.workDir, "postgres"),
		Log: slog.New(slog.DiscardHandler), Config: pgConfig})
	if err != nil {
		return err
	}
	defer cluster.Stop(context.Background())

	pgVersion, err := serverVersion(ctx, cluster.URL("postgres"))
	if err != nil {
		return err
	}

	if *pushMode {
		hook, err := startSlack()
		if err != nil {
			return err
		}
		defer hook.srv.Close()
		var report strings.Builder
		for _, n := range o.sizes {
			r, err := pushBench(ctx, o, po, cluster, hook, n)
			if err != nil {
				return fmt.Errorf("%d push sites: %w", n, err)
			}
			report.WriteString(formatPush(pgVersion, r))
		}
		fmt.Print(report.String())
		if o.out != "" {
			return os.WriteFile(o.out, []byte(report.String()), 0o644)
		}
		return nil
	}

	var farmKinds []string
	if o.steady != nil {
		farmKinds = o.steady.kinds
	}
	f, err := startFarm(slices.Max(o.sizes), o.internet, farmKinds, o.workDir)
	if err != nil {
		return err
	}
	defer f.close()
	hook, err := startSlack()
	if err != nil {
		return err
	}
	defer hook.srv.Close()

	if o.steady != nil {
		var report strings.Builder
		// Each kind alone, for its CPU per check and lateness, then, with
		// more than one, all of them together.
		runs := [][]string{o.steady.kinds}
		if len(o.steady.kinds) > 1 {
			runs = nil
			for _, k := range o.steady.kinds {
				runs = append(runs, []string{k})
			}
			runs = append(runs, o.steady.kinds)
		}
		for _, n := range o.sizes {
			var results []*steadyResult
			for _, kinds := range runs {
				so := *o.steady
				so.kinds = kinds
				r, err := steady(ctx, o, so, self, cluster, f, hook, n)
				if err != nil {
					return fmt.Errorf("%d sites of %s: %w", n, strings.Join(kinds, ", "), err)
				}
				results = append(results, r)
				report.WriteString(formatSteady(o, pgVersion, r))
			}
			if len(runs) > 1 {
				report.WriteString(formatKinds(results))
			}
		}
		fmt.Print(report.String())
		if o.out != "" {
			return os.WriteFile(o.out, []byte(report.String()), 0o644)
		}
		return nil
	}

	var results []*result
	for _, n := range o.sizes {
		r, err := measure(ctx, o, self, cluster, f, hook, n)
		if err != nil {
			return fmt.Errorf("%d sites: %w", n, err)
		}
		results = append(results, r)
	}
	report := formatReport(o, pgVersion, results)
	fmt.Print(report)
	if o.out != "" {
		return os.WriteFile(o.out, []byte(report), 0o644)
	}
	return nil
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// monitorPool connects to the monitor's database of the instances whose
// databases are named with prefix.
func monitorPool(ctx context.Context, cluster *pglocal.Cluster, prefix string) (*pgxpool.Pool, error) {
	monitorURL, err := dbutil.DatabaseURL(cluster.URL("postgres"), prefix+"monitor")
	if err != nil {
		return nil, err
	}
	return pgxpool.New(ctx, monitorURL)
}

// freeAddr returns a loopback address nothing listens on yet.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// runBare runs the bare loop over the first n sites in a process of its
// own, so that its CPU time is its alone.
func runBare(self string, o options, f *farm, urlFile string, rate float64) (bareResult, error) {
	var r bareResult
	cmd := exec.Command(self, "bare", "-sites", urlFile, "-concurrency", strconv.Itoa(o.concurrency),
		"-timeout", o.timeout.String(), "-rate", strconv.FormatFloat(rate, 'f', -1, 64))
	cmd.Env = append(os.Environ(), f.env()...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return r, fmt.Errorf("bare loop: %w", err)
	}
	return r, json.Unmarshal(out, &r)
}

// writeSites writes sites for the bare loop, one spec in JSON per line.
func writeSites(path string, sites []spec) error {
	var b strings.Builder
	for _, s := range sites {
		b.WriteString(s.json() + "\n")
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func serverVersion(ctx context.Context, url string) (string, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	var v string
	if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&v); err != nil {
		return "", err
	}
	return strings.Fields(v)[0], nil
}
