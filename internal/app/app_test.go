package app_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"uptime/internal/app"
	"uptime/internal/apptest"
	"uptime/internal/config"
	"uptime/internal/pgtest"
)

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
	a := apptest.Start(t, apptest.Setup{StateDir: stateDir})
	status, body := a.Do(t, "POST", "/site", `{"url": "https://encore.dev"}`)
	if status != 200 || strings.TrimSpace(body) != `{"id":1,"url":"https://encore.dev"}` {
		t.Fatalf("POST /site = %d %s", status, body)
	}
	pidFile := filepath.Join(stateDir, "postgres", "data", "postmaster.pid")
	if _, err := os.Stat(pidFile); err != nil {
		t.Fatalf("no local PostgreSQL running under the state directory: %v", err)
	}
	http.DefaultClient.CloseIdleConnections()
	if err := a.Stop(); err != nil {
		t.Fatalf("Run returned %v after a clean stop", err)
	}
	if _, err := os.Stat(pidFile); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("PostgreSQL still running after stop (postmaster.pid: %v)", err)
	}

	a = apptest.Start(t, apptest.Setup{StateDir: stateDir})
	if _, body := a.Do(t, "GET", "/site", ""); !strings.Contains(body, `"url":"https://encore.dev"`) {
		t.Fatalf("after a restart GET /site = %s, want the site added before", body)
	}
	http.DefaultClient.CloseIdleConnections()
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(pidFile); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("PostgreSQL still running after the second stop")
	}
}

func TestRunFailsFastOnAPortInUse(t *testing.T) {
	stateDir := newStateDir(t)
	a := apptest.Start(t, apptest.Setup{StateDir: stateDir})

	cfg := config.Default()
	cfg.StateDir = stateDir
	cfg.Addr = strings.TrimPrefix(a.URL, "http://")
	err := app.New(cfg, slog.New(slog.DiscardHandler)).Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "address already in use") || !strings.Contains(err.Error(), "--addr or UPTIME_ADDR") {
		t.Fatalf("second Run on the same address: %v, want address already in use, saying how to choose another", err)
	}
	if _, err := os.Stat(filepath.Join(stateDir, "postgres", "data", "PG_VERSION")); err != nil {
		t.Fatal("the first app's cluster is gone")
	}
}

// TestMain stops the test cluster the apps share when the tests end.
func TestMain(m *testing.M) { pgtest.Main(m) }
