// Package pglocal provisions a private PostgreSQL cluster in a directory,
// with the system's initdb and pg_ctl, the way `encore run` gives every app
// its own database server. It is used by `uptime run` when no database URL
// is configured, and by the tests.
package pglocal

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"uptime/internal/alarm"
)

// ErrBusy is returned by Start when another process holds the cluster.
var ErrBusy = errors.New("the cluster is in use by another process")

// Options configure Start.
type Options struct {
	// Dir holds the cluster: its lock, password and, where PostgreSQL can
	// reach it, the data directory. It is created if missing.
	Dir string
	// Port is the TCP port on 127.0.0.1. Zero reuses the port of the last
	// start if it is free, and otherwise picks a free one.
	Port int
	// Ephemeral turns off fsync and friends, for throwaway test clusters
	// whose data does not need to survive a crash.
	Ephemeral bool
	// Log receives a line for each step that takes time.
	Log *slog.Logger
	// Config is more of postgresql.conf, one setting a line, written at
	// each start (as shared_preload_libraries, for a benchmark).
	Config string
}

// Cluster is a running local PostgreSQL cluster.
type Cluster struct {
	dir      string
	home     string // holds the data directory and the server log
	bin      string
	owner    *owner
	port     int
	password string
	lock     *os.File // nil when attached to another process's cluster
	log      *slog.Logger
}

// Start takes the cluster in opts.Dir for this process, creating it with
// initdb the first time, and starts it. A server left running by a process
// that was killed is reused. Stop stops it again.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	bin, err := FindBinaries()
	if err != nil {
		return nil, err
	}
	own, err := lookupOwner()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	lock, err := takeLock(filepath.Join(dir, "lock"))
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir, home: home(own, dir), bin: bin, owner: own, lock: lock, log: log}
	if err := c.start(ctx, opts); err != nil {
		c.unlock()
		return nil, err
	}
	return c, nil
}

// Attach connects to the cluster in dir that another process (a running
// `uptime run`) holds, without taking it over.
func Attach(dir string) (*Cluster, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	own, err := lookupOwner()
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir, home: home(own, dir), owner: own}
	if c.password, err = readPassword(dir); err != nil {
		return nil, err
	}
	pid, err := readPostmasterPID(c.dataDir())
	if err != nil || !pid.alive() {
		return nil, fmt.Errorf("no PostgreSQL server is running for %s", dir)
	}
	c.port = pid.port
	return c, nil
}

func (c *Cluster) start(ctx context.Context, opts Options) error {
	if c.home != c.dir {
		c.log.Info("the postgres user cannot reach the state directory; keeping the cluster's data elsewhere",
			"state_dir", c.dir, "data", c.home)
		if err := os.MkdirAll(filepath.Dir(c.home), 0o755); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(c.home, 0o700); err != nil {
		return err
	}
	if err := c.owner.chown(c.home); err != nil {
		return err
	}
	var err error
	if c.password, err = readPassword(c.dir); errors.Is(err, os.ErrNotExist) {
		c.password, err = newPassword(c.dir)
	}
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(c.dataDir(), "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if err := c.initdb(ctx); err != nil {
			return err
		}
	}

	// A server left behind by a process that was killed still owns the
	// data directory: use it if it answers, otherwise stop it first.
	if pid, err := readPostmasterPID(c.dataDir()); err == nil && pid.alive() {
		c.port = pid.port
		if c.ping(ctx) == nil {
			c.log.Info("reusing the PostgreSQL server left running by an earlier process", "port", c.port)
			return nil
		}
		c.log.Warn("restarting a PostgreSQL server that does not answer", "pid", pid.pid)
		if err := c.pgctl(ctx, "stop", "-m", "fast"); err != nil {
			return err
		}
	}

	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		if c.port, err = c.choosePort(opts.Port); err != nil {
			return err
		}
		if err := c.writeConfig(opts.Ephemeral, opts.Config); err != nil {
			return err
		}
		if lastErr = c.pgctl(ctx, "start", "-l", c.logFile(), "-t", "60"); lastErr == nil {
			break
		}
		if opts.Port != 0 {
			return lastErr
		}
	}
	if lastErr != nil {
		return lastErr
	}
	os.WriteFile(filepath.Join(c.dir, "port"), []byte(strconv.Itoa(c.port)+"\n"), 0o644)
	return c.ping(ctx)
}

// initdb creates the data directory. It is made beside its final place and
// renamed into it, so an interrupted initdb never leaves a half-made cluster
// that a later start would trust.
func (c *Cluster) initdb(ctx context.Context) error {
	c.log.Info("creating a PostgreSQL cluster", "data", c.dataDir())
	tmp := c.dataDir() + ".new"
	os.RemoveAll(tmp)
	pwfile := filepath.Join(c.home, "pwfile")
	if err := os.WriteFile(pwfile, []byte(c.password+"\n"), 0o600); err != nil {
		return err
	}
	defer os.Remove(pwfile)
	if err := c.owner.chown(pwfile); err != nil {
		return err
	}
	cmd := c.owner.command(ctx, filepath.Join(c.bin, "initdb"), "-D", tmp, "-U", "postgres",
		"--pwfile", pwfile, "--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-instructions")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, out)
	}
	conf, err := os.OpenFile(filepath.Join(tmp, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = conf.WriteString("\n# Settings written by uptime at each start.\ninclude_if_exists = 'uptime.conf'\n")
	if cerr := conf.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp, c.dataDir())
}

// writeConfig writes the settings that may change between starts.
func (c *Cluster) writeConfig(ephemeral bool, more string) error {
	conf := fmt.Sprintf("port = %d\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\nmax_connections = 200\n", c.port)
	if ephemeral {
		conf += "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
	}
	if more != "" {
		conf += strings.TrimSpace(more) + "\n"
	}
	path := filepath.Join(c.dataDir(), "uptime.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		return err
	}
	return c.owner.chown(path)
}

// choosePort returns the configured port, else the last one if it is free,
// else a free one.
func (c *Cluster) choosePort(configured int) (int, error) {
	if configured != 0 {
		return configured, nil
	}
	if b, err := os.ReadFile(filepath.Join(c.dir, "port")); err == nil {
		if p, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && p != c.port {
			if l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p))); err == nil {
				l.Close()
				return p, nil
			}
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Supervise starts the server again whenever it stops without Stop (a
// postmaster killed or crashed), until ctx is done. The port stays the
// same, so connection pools find it again by themselves.
func (c *Cluster) Supervise(ctx context.Context) {
	down := alarm.New(c.log, "the local PostgreSQL server has stopped; starting it again")
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if pid, err := readPostmasterPID(c.dataDir()); err == nil && pid.alive() {
			continue
		}
		if ctx.Err() != nil {
			return
		}
		down.Raise("no postmaster is running", "data", c.dataDir(), "log", c.logFile())
		if err := c.pgctl(ctx, "start", "-l", c.logFile(), "-t", "60"); err != nil {
			continue // said again by the alarm if it lasts
		}
		down.Clear()
	}
}

// Stop stops the server and releases the cluster. On a cluster from Attach
// it does nothing: the server belongs to another process.
func (c *Cluster) Stop(ctx context.Context) error {
	if c.lock == nil {
		return nil
	}
	defer c.unlock()
	if pid, err := readPostmasterPID(c.dataDir()); err != nil || !pid.alive() {
		return nil
	}
	return c.pgctl(ctx, "stop", "-m", "fast", "-t", "60")
}

func (c *Cluster) unlock() {
	if c.lock != nil {
		c.lock.Close()
		c.lock = nil
	}
}

// Port is the server's TCP port on 127.0.0.1.
func (c *Cluster) Port() int { return c.port }

// DataDir is the cluster's data directory.
func (c *Cluster) DataDir() string { return c.dataDir() }

// URL is the connection URL for the named database, password included.
func (c *Cluster) URL(database string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword("postgres", c.password),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

func (c *Cluster) dataDir() string { return filepath.Join(c.home, "data") }
func (c *Cluster) logFile() string { return filepath.Join(c.home, "postgres.log") }

// ping connects once to check the server answers with our password.
func (c *Cluster) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return fmt.Errorf("connect to the local PostgreSQL on port %d: %w", c.port, err)
	}
	return conn.Close(ctx)
}

// pgctl runs a pg_ctl action on the data directory and waits for it.
func (c *Cluster) pgctl(ctx context.Context, action string, args ...string) error {
	args = append([]string{action, "-D", c.dataDir(), "-w", "-s"}, args...)
	out, err := c.owner.command(ctx, filepath.Join(c.bin, "pg_ctl"), args...).CombinedOutput()
	if err != nil {
		msg := fmt.Sprintf("pg_ctl %s: %v\n%s", action, err, out)
		if tail := tailFile(c.logFile(), 15); tail != "" {
			msg += "\nlast lines of " + c.logFile() + ":\n" + tail
		}
		return errors.New(msg)
	}
	return nil
}

// FindBinaries returns the directory with PostgreSQL's server programs:
// where pg_ctl is on the PATH, else Debian's newest /usr/lib/postgresql/N/bin.
func FindBinaries() (string, error) {
	candidates := filepath.SplitList(os.Getenv("PATH"))
	versions, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sortByVersion(versions)
	candidates = append(candidates, versions...)
	for _, d := range candidates {
		pgctl, err := filepath.EvalSymlinks(filepath.Join(d, "pg_ctl"))
		if err != nil {
			continue
		}
		bin := filepath.Dir(pgctl)
		if _, err := os.Stat(filepath.Join(bin, "initdb")); err == nil {
			return bin, nil
		}
	}
	return "", errors.New("PostgreSQL's server programs (initdb, pg_ctl) were not found: install them " +
		"(as root: apt-get install postgresql; `make run` and `make test` do this for you), " +
		"or set DATABASE_URL to use an existing server")
}

// sortByVersion sorts /usr/lib/postgresql/N/bin paths newest first.
func sortByVersion(dirs []string) {
	version := func(d string) int {
		n, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		return n
	}
	for i := 1; i < len(dirs); i++ {
		for j := i; j > 0 && version(dirs[j]) > version(dirs[j-1]); j-- {
			dirs[j], dirs[j-1] = dirs[j-1], dirs[j]
		}
	}
}

// takeLock locks path so that one process at a time runs the cluster. The
// kernel releases the lock when the process dies, however it dies.
func takeLock(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w", filepath.Dir(path), ErrBusy)
		}
		return nil, err
	}
	return f, nil
}

func newPassword(dir string) (string, error) {
	b := make([]byte, 18)
	rand.Read(b)
	pw := hex.EncodeToString(b)
	if err := os.WriteFile(filepath.Join(dir, "password"), []byte(pw+"\n"), 0o600); err != nil {
		return "", err
	}
	return pw, nil
}

func readPassword(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "password"))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}
