// Package pgtest gives tests real PostgreSQL: one throwaway cluster per test
// binary, provisioned by the same code as `uptime run`, and a fresh database
// or database prefix per test.
package pgtest

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"

	"uptime/internal/pglocal"
)

var (
	mu      sync.Mutex
	cluster *pglocal.Cluster
	dir     string
	seq     atomic.Int64
	// inMain tells that Main runs the tests, so that the cluster is
	// stopped when they end.
	inMain bool
)

// Main runs the tests of a package and then stops the cluster they used.
// Call it from TestMain.
func Main(m *testing.M) {
	mu.Lock()
	inMain = true
	mu.Unlock()
	code := m.Run()
	mu.Lock()
	if cluster != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if err := cluster.Stop(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest: stop cluster:", err)
			code = 1
		}
		cancel()
		os.RemoveAll(dir)
	}
	mu.Unlock()
	os.Exit(code)
}

// ServerURL returns the URL of the test binary's cluster, its postgres
// database, starting the cluster on first use. Without PostgreSQL's server
// programs the test fails, saying what to install; it is never skipped.
func ServerURL(t testing.TB) string {
	t.Helper()
	return Cluster(t).URL("postgres")
}

// Cluster returns the test binary's cluster, starting it on first use.
func Cluster(t testing.TB) *pglocal.Cluster {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if cluster == nil {
		if !inMain {
			// Its server would outlive the test binary.
			t.Fatal("pgtest: this test package starts a PostgreSQL cluster but has no TestMain calling pgtest.Main, which stops it")
		}
		// Not t.TempDir: the postgres user must be able to reach it.
		d, err := os.MkdirTemp("", "uptime-test-pg-")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		c, err := pglocal.Start(ctx, pglocal.Options{Dir: d, Ephemeral: true})
		if err != nil {
			os.RemoveAll(d)
			t.Fatalf("start the test PostgreSQL cluster: %v", err)
		}
		cluster, dir = c, d
		if err := watch(os.Getpid(), c.DataDir(), d); err != nil {
			t.Logf("pgtest: the cluster will not be stopped if this test binary dies: %v", err)
		}
	}
	return cluster
}

// watch starts a process of its own that, once the process pid has ended
// however it ended (a test's time limit panics past Main), stops the
// cluster's server with a fast shutdown and removes dir. Main stops it
// first when the tests end normally.
func watch(pid int, dataDir, dir string) error {
	script := `while kill -0 "$1" 2>/dev/null; do sleep 1; done
pidfile="$2/postmaster.pid"
if [ -f "$pidfile" ]; then
	kill -INT "$(head -n 1 "$pidfile")" 2>/dev/null
	for i in $(seq 60); do [ -f "$pidfile" ] || break; sleep 1; done
fi
rm -rf "$3"`
	cmd := exec.Command("sh", "-c", script, "pgtest-watch", fmt.Sprint(pid), dataDir, dir)
	// Not in the test binary's process group: go test signals that group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	return cmd.Process.Release()
}

// Prefix returns a database name prefix no other test in this binary uses,
// so that an app under test gets databases of its own on the cluster.
func Prefix(t testing.TB) string {
	t.Helper()
	name := strings.ToLower(strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, t.Name()))
	if len(name) > 30 {
		name = name[:30]
	}
	return fmt.Sprintf("t%d_%s_", seq.Add(1), name)
}

// NewDatabase creates an empty database for the test and returns its URL.
func NewDatabase(t testing.TB) string {
	t.Helper()
	c := Cluster(t)
	name := strings.TrimSuffix(Prefix(t), "_")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	return c.URL(name)
}

// MigrationsBefore returns the migrations of fsys's dir numbered below n,
// so that a test can make a database as an earlier version left it.
func MigrationsBefore(t testing.TB, fsys fs.FS, dir string, n int) fs.FS {
	t.Helper()
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		t.Fatal(err)
	}
	out := fstest.MapFS{}
	for _, e := range entries {
		var v int
		for _, c := range e.Name() {
			if c < '0' || c > '9' {
				break
			}
			v = v*10 + int(c-'0')
		}
		if v >= n {
			continue
		}
		b, err := fs.ReadFile(fsys, dir+"/"+e.Name())
		if err != nil {
			t.Fatal(err)
		}
		out[dir+"/"+e.Name()] = &fstest.MapFile{Data: b}
	}
	return out
}

// Dump returns what pg_dump writes of the data of the database at dbURL:
// what a copy of the database would hold.
func Dump(t testing.TB, dbURL string) string {
	t.Helper()
	bin, err := pglocal.FindBinaries()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(filepath.Join(bin, "pg_dump"), "--data-only", "--dbname", dbURL).CombinedOutput()
	if err != nil {
		t.Fatalf("pg_dump: %v: %s", err, out)
	}
	return string(out)
}
