package pglocal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"uptime/internal/wait"

	"github.com/jackc/pgx/v5"
)

// setup returns a fresh directory the postgres user can reach and a context
// for the test.
func setup(t *testing.T) (string, context.Context) {
	t.Helper()
	dir, err := os.MkdirTemp("", "uptime-pglocal-")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(func() {
		cancel()
		os.RemoveAll(dir)
	})
	return dir, ctx
}

func queryInt(t *testing.T, ctx context.Context, url, sql string, args ...any) int {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func TestStartStopKeepsData(t *testing.T) {
	dir, ctx := setup(t)
	c, err := Start(ctx, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop(ctx) })
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	firstPort := c.Port()
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(c.DataDir() + "/postmaster.pid"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("postmaster.pid after Stop: %v; want the server gone", err)
	}

	// Settings given at a start are written for that start.
	c, err = Start(ctx, Options{Dir: dir, Config: "work_mem = '7MB'"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop(ctx)
	if n := queryInt(t, ctx, c.URL("postgres"), "SELECT pg_size_bytes(current_setting('work_mem'))::int"); n != 7<<20 {
		t.Errorf("work_mem = %d bytes after a start with work_mem = '7MB'", n)
	}
	if c.Port() != firstPort {
		t.Errorf("port after restart = %d, want the previous %d", c.Port(), firstPort)
	}
	if n := queryInt(t, ctx, c.URL("postgres"), "SELECT n FROM kept"); n != 42 {
		t.Errorf("kept row = %d, want 42", n)
	}
}

func TestSecondStartIsRefusedWhileHeld(t *testing.T) {
	dir, ctx := setup(t)
	c, err := Start(ctx, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop(ctx)
	if _, err := Start(ctx, Options{Dir: dir}); !errors.Is(err, ErrBusy) {
		t.Fatalf("second Start: err = %v, want ErrBusy", err)
	}
	a, err := Attach(dir)
	if err != nil {
		t.Fatal(err)
	}
	if a.URL("postgres") != c.URL("postgres") {
		t.Errorf("Attach URL = %s, want %s", a.URL("postgres"), c.URL("postgres"))
	}
	if n := queryInt(t, ctx, a.URL("postgres"), "SELECT 7"); n != 7 {
		t.Errorf("query through Attach = %d", n)
	}
}

func TestServerLeftByKilledProcessIsReused(t *testing.T) {
	dir, ctx := setup(t)
	c, err := Start(ctx, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	before, err := readPostmasterPID(c.DataDir())
	if err != nil {
		t.Fatal(err)
	}
	// What a killed process leaves: the server running, the lock released.
	c.unlock()
	t.Cleanup(func() {
		if before.alive() {
			c.pgctl(ctx, "stop", "-m", "immediate")
		}
	})

	c2, err := Start(ctx, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	after, err := readPostmasterPID(c2.DataDir())
	if err != nil {
		t.Fatal(err)
	}
	if after.pid != before.pid {
		t.Errorf("server pid = %d after the second start, want the running %d reused", after.pid, before.pid)
	}
	if err := c2.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	// The server removes its pid file just before it exits.
	wait.For(t, 10*time.Second, func() error {
		if before.alive() {
			return fmt.Errorf("server %d still running after Stop", before.pid)
		}
		return nil
	})
}

func TestWrongPasswordIsRefused(t *testing.T) {
	dir, ctx := setup(t)
	c, err := Start(ctx, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop(ctx)
	bad := *c
	bad.password = "not-the-password"
	if conn, err := pgx.Connect(ctx, bad.URL("postgres")); err == nil {
		conn.Close(ctx)
		t.Fatal("connected with a wrong password")
	}
}

// TestSuperviseRestartsAKilledServer kills the postmaster with SIGKILL and
// expects the supervisor to start it again on the same port, with the data.
func TestSuperviseRestartsAKilledServer(t *testing.T) {
	dir, ctx := setup(t)
	c, err := Start(ctx, Options{Dir: dir, Ephemeral: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop(context.Background())
	url := c.URL("postgres")
	queryInt(t, ctx, url, "SELECT 1")
	superviseCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); c.Supervise(superviseCtx) }()
	defer func() { stop(); <-done }()

	pid, err := readPostmasterPID(c.DataDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid.pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wait.For(t, 60*time.Second, func() error {
		conn, err := pgx.Connect(ctx, url)
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		return fmt.Errorf("the killed server did not come back on port %d within 60s: %v", c.Port(), err)
	})
	if now, _ := readPostmasterPID(c.DataDir()); now.pid == pid.pid {
		t.Fatal("the same postmaster answers: it was never killed")
	}
}
