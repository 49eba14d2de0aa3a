// Package apptest starts the whole program for tests, as main does, on a
// free port, with databases of its own on the test binary's cluster, a
// loopback-only check transport and short confirmation delays.
package apptest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"uptime/internal/app"
	"uptime/internal/config"
	"uptime/internal/pgtest"
	"uptime/internal/testnet"
)

// App is a running app under test.
type App struct {
	Client
	stop func() error
}

// Client calls an API as curl would.
type Client struct {
	// URL is the API's base URL, like http://127.0.0.1:41234.
	URL string
	// Key, when set, is sent with every request as a bearer token.
	Key string
}

// Setup describes the app to start. Zero values mean test defaults.
type Setup struct {
	// Config is changed by Configure before the app starts.
	Configure func(*config.Config)
	// Options beyond the configuration.
	Options app.Options
	// Env is the environment the app's secrets see.
	Env map[string]string
	// Prefix shares databases with another app; empty means fresh ones.
	Prefix string
	// StateDir, when set, makes the app provision its own local cluster
	// there, as `uptime run` does, instead of using the test cluster.
	StateDir string
	// Log, when set, receives every log line from INFO up; otherwise
	// warnings and errors go to the test's log.
	Log io.Writer
}

// Start starts an app and stops it when the test ends.
func Start(t testing.TB, s Setup) *App {
	t.Helper()
	cfg := config.Default()
	cfg.Addr = "127.0.0.1:0"
	if s.StateDir != "" {
		cfg.StateDir = s.StateDir
	} else {
		cfg.DatabaseURL = pgtest.ServerURL(t)
		cfg.DatabasePrefix = s.Prefix
		if cfg.DatabasePrefix == "" {
			cfg.DatabasePrefix = pgtest.Prefix(t)
		}
		cfg.StateDir = t.TempDir()
	}
	cfg.CheckTimeout = 2 * time.Second
	cfg.ConfirmInterval = 20 * time.Millisecond
	cfg.CheckEvery = time.Hour
	if s.Configure != nil {
		s.Configure(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	opts := s.Options
	if opts.CheckTransport == nil {
		opts.CheckTransport = testnet.Transport()
	}
	if opts.Getenv == nil {
		opts.Getenv = func(k string) string { return s.Env[k] }
	}
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if s.Log != nil {
		log = slog.New(slog.NewTextHandler(s.Log, nil))
	}
	a := app.NewWithOptions(cfg, opts, log)
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	select {
	case <-a.Ready():
	case err := <-done:
		cancel()
		t.Fatalf("the app did not start: %v", err)
	case <-time.After(2 * time.Minute):
		cancel()
		t.Fatal("the app did not become ready in 2 minutes")
	}
	var stopped bool
	var runErr error
	app := &App{Client: Client{URL: "http://" + a.Addr()}}
	app.stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			runErr = <-done
		}
		return runErr
	}
	t.Cleanup(func() {
		if err := app.stop(); err != nil {
			t.Errorf("the app stopped with an error: %v", err)
		}
	})
	return app
}

// Stop stops the app and returns what Run returned.
func (a *App) Stop() error { return a.stop() }

// Call sends a request with a JSON body (or none) and decodes a 200
// response into out; any other status fails the test.
func (a Client) Call(t testing.TB, method, path, body string, out any) {
	t.Helper()
	status, resp := a.Do(t, method, path, body)
	if status != 200 {
		t.Fatalf("%s %s = %d %s", method, path, status, resp)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(resp), out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, resp)
		}
	}
}

// Do sends a request and returns the status and body.
func (a Client) Do(t testing.TB, method, path, body string, header ...string) (int, string) {
	t.Helper()
	status, _, b := a.DoWithHeaders(t, method, path, body, header...)
	return status, b
}

// DoWithHeaders sends a request, with header's name and value pairs (Host
// among them sets the request's host name), and returns the status, the
// response's headers and its body.
func (a Client) DoWithHeaders(t testing.TB, method, path, body string, header ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, a.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if a.Key != "" {
		req.Header.Set("Authorization", "Bearer "+a.Key)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if strings.EqualFold(header[i], "Host") {
			req.Host = header[i+1]
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// Refusal sends a request and returns the status and the message of the
// Encore-shaped error it answers (empty when it answers none).
func (a Client) Refusal(t testing.TB, method, path, body string) (int, string) {
	t.Helper()
	status, resp := a.Do(t, method, path, body)
	var e struct{ Message string }
	json.Unmarshal([]byte(resp), &e)
	return status, e.Message
}

// AddSite adds a site and returns its id.
func (a Client) AddSite(t testing.TB, url string) int64 {
	t.Helper()
	var s struct{ ID int64 }
	a.Call(t, "POST", "/site", fmt.Sprintf(`{"url": %q}`, url), &s)
	return s.ID
}

// testWriter sends the app's warnings and errors to the test's log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
