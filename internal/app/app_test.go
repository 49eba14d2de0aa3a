package app_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"uptime/internal/app"
	"uptime/internal/config"
)

// start runs the app as main does and returns its base URL and a function
// that stops it and returns Run's error.
func start(t *testing.T, cfg config.Config) (string, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a := app.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	select {
	case <-a.Ready():
	case err := <-done:
		cancel()
		t.Fatalf("Run: %v", err)
	case <-time.After(2 * time.Minute):
		cancel()
		t.Fatal("the app did not become ready")
	}
	var stopped bool
	var runErr error
	stop := func() error {
		if !stopped {
			stopped = true
			cancel()
			runErr = <-done
		}
		return runErr
	}
	t.Cleanup(func() { stop() })
	return "http://" + a.Addr(), stop
}

// newStateDir returns a state directory the postgres user can reach, as a
// clone's would be, removed after the apps using it have stopped.
func newStateDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "uptime-app-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func TestRunProvisionsRestartsAndStopsCleanly(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	stateDir := newStateDir(t)
	cfg := config.Default()
	cfg.Addr = "127.0.0.1:0"
	cfg.StateDir = stateDir

	base, stop := start(t, cfg)
	resp, err := http.Post(base+"/site", "application/json", strings.NewReader(`{"url": "https://encore.dev"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != `{"id":1,"url":"https://encore.dev"}` {
		t.Fatalf("POST /site = %d %s", resp.StatusCode, body)
	}
	pidFile := filepath.Join(stateDir, "postgres", "data", "postmaster.pid")
	if _, err := os.Stat(pidFile); err != nil {
		t.Fatalf("no local PostgreSQL running under the state directory: %v", err)
	}
	http.DefaultClient.CloseIdleConnections()
	if err := stop(); err != nil {
		t.Fatalf("Run returned %v after a clean stop", err)
	}
	if _, err := os.Stat(pidFile); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("PostgreSQL still running after stop (postmaster.pid: %v)", err)
	}

	base, stop = start(t, cfg)
	resp, err = http.Get(base + "/site")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"url":"https://encore.dev"`) {
		t.Fatalf("after a restart GET /site = %s, want the site added before", body)
	}
	http.DefaultClient.CloseIdleConnections()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(pidFile); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("PostgreSQL still running after the second stop")
	}
}

func TestRunFailsFastOnAPortInUse(t *testing.T) {
	stateDir := newStateDir(t)
	cfg := config.Default()
	cfg.Addr = "127.0.0.1:0"
	cfg.StateDir = stateDir
	base, _ := start(t, cfg)

	cfg.Addr = strings.TrimPrefix(base, "http://")
	err := app.New(cfg, slog.New(slog.DiscardHandler)).Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("second Run on the same address: %v, want address already in use", err)
	}
	if _, err := os.Stat(filepath.Join(stateDir, "postgres", "data", "PG_VERSION")); err != nil {
		t.Fatal("the first app's cluster is gone")
	}
}
