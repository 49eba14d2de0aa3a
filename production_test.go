package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"uptime/internal/fakeslack"
	"uptime/internal/pgtest"
	"uptime/internal/testnet"
	"uptime/internal/wait"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// stop sends SIGTERM, as a service manager does, and waits for the exit.
func (p *program) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("uptime exited with %v after SIGTERM", err)
		}
	case <-time.After(90 * time.Second):
		t.Fatal("uptime did not exit within 90s of SIGTERM")
	}
}

// appRole makes a login role with a password on the test cluster, as a
// managed PostgreSQL gives one, and returns the server's URL with it.
func appRole(t *testing.T, name, password string) *url.URL {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.ServerURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, fmt.Sprintf("CREATE ROLE %s LOGIN CREATEDB PASSWORD '%s'",
		pgx.Identifier{name}.Sanitize(), strings.ReplaceAll(password, "'", "''"))); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(pgtest.ServerURL(t))
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(name, password)
	u.Path = "/"
	return u
}

// TestInfraConfig starts the real binary from an Encore-shaped
// infra-config.json whose password and Slack webhook come from $env
// references, on databases another instance made through DATABASE_URL,
// and expects it to find that instance's site and to tell Slack through
// the file's secret; then bad files each stop it at start-up with an
// error naming the field.
func TestInfraConfig(t *testing.T) {
	prefix := pgtest.Prefix(t)
	const password = "p@ss w/rd:'x'"
	server := appRole(t, strings.TrimSuffix(prefix, "_")+"_app", password)

	var failing atomic.Bool
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer site.Close()

	first := newProgram(t, "DATABASE_URL="+server.String(), "UPTIME_DATABASE_PREFIX="+prefix)
	first.start(t)
	id := first.AddSite(t, site.URL)
	first.stop(t)

	slack := fakeslack.New(t)
	dbs := map[string]any{}
	for _, name := range []string{"site", "monitor", "statuspage"} {
		dbs[name] = map[string]any{"name": prefix + name, "username": server.User.Username(),
			"password": map[string]string{"$env": "TEST_DB_PASSWORD"}, "max_connections": 8}
	}
	file := writeJSON(t, map[string]any{
		"metadata":    map[string]string{"app_id": "uptime", "env_name": "production"},
		"pubsub":      []any{},
		"sql_servers": []any{map[string]any{"host": server.Host, "databases": dbs}},
		"secrets":     map[string]any{"SlackWebhookURL": map[string]string{"$env": "TEST_SLACK"}},
	})
	second := newProgram(t, "ENCORE_INFRA_CONFIG_PATH="+file, "TEST_DB_PASSWORD="+password,
		"TEST_SLACK="+slack.URL+"/services/T0/B0/token", "UPTIME_CONFIRM_CHECKS=0")
	second.start(t)
	var got struct{ URL string }
	second.Call(t, "GET", fmt.Sprintf("/site/%d", id), "", &got)
	if got.URL != site.URL {
		t.Fatalf("GET /site/%d through the infra-config = %q, want the site the other instance added, %q", id, got.URL, site.URL)
	}
	if log := second.logText(); !strings.Contains(log, "ignoring what this program does not use") ||
		!strings.Contains(log, "metadata, pubsub") {
		t.Errorf("the log does not name the ignored sections once:\n%s", log)
	}
	if !strings.Contains(second.logText(), "infra-config gives no notify database: using one named notify beside the monitor database") {
		t.Errorf("the log does not say where the notify database went:\n%s", second.logText())
	}
	if strings.Contains(second.logText(), password) {
		t.Error("the log shows the database password")
	}
	second.Call(t, "POST", "/check/"+fmt.Sprint(id), "", nil)
	failing.Store(true)
	second.Call(t, "POST", "/check/"+fmt.Sprint(id), "", nil)
	if msgs := slack.Wait(1, 20*time.Second); !strings.Contains(msgs[0], "down") {
		t.Errorf("Slack got %q, want the site's down message", msgs[0])
	}
	second.stop(t)

	host := server.Host
	site0 := func(fields string) string {
		return `{"sql_servers": [{"host": "` + host + `", "databases": {"site": {` + fields + `}}}]}`
	}
	for _, tc := range []struct{ name, body, want string }{
		{"malformed", `{"sql_servers": [`, "not a JSON object"},
		{"unset variable", site0(`"username": "u", "password": {"$env": "NOT_SET_ANYWHERE"}`),
			"sql_servers[0].databases.site.password: the environment variable NOT_SET_ANYWHERE is not set"},
		{"misspelt field", site0(`"username": "u", "pasword": "x"`), `sql_servers[0].databases.site: unknown field "pasword"`},
		{"no monitor database", site0(`"username": "u", "password": "x"`), `no server has a "monitor" database`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "infra-config.json")
			os.WriteFile(path, []byte(tc.body), 0o600)
			p := newProgram(t, "ENCORE_INFRA_CONFIG_PATH="+path)
			out, err := runOnce(p)
			if err == nil || !strings.Contains(out, tc.want) {
				t.Fatalf("uptime run with a bad infra-config: %v, want an error saying %q; it printed:\n%s", err, tc.want, out)
			}
		})
	}
	t.Run("with DATABASE_URL too", func(t *testing.T) {
		p := newProgram(t, "ENCORE_INFRA_CONFIG_PATH="+file, "DATABASE_URL="+server.String())
		if out, err := runOnce(p); err == nil || !strings.Contains(out, "not both") {
			t.Fatalf("uptime run with both: %v\n%s", err, out)
		}
	})
}

// runOnce runs the program to its end, within a minute, and returns what
// it printed.
func runOnce(p *program) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.bin, "run")
	cmd.Env = append(os.Environ(), p.env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func writeJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "infra-config.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// balancer is a load balancer as a platform runs one: it sends each
// request to an instance that is ready, asking /readyz every quarter
// second, and answers 503 itself when none is. An instance is ready from
// its first 200 until two answers in a row are not, as platforms count
// (Kubernetes' failureThreshold, a load balancer's unhealthy threshold): a
// probe lost on a loaded machine takes no instance out. It never retries,
// so a request an instance drops is a request failed.
type balancer struct {
	backends []*url.URL
	ready    []atomic.Bool
	next     atomic.Uint64
	proxies  []*httputil.ReverseProxy
}

func newBalancer(t *testing.T, addrs ...string) *httptest.Server {
	b := &balancer{ready: make([]atomic.Bool, len(addrs))}
	for _, a := range addrs {
		u := &url.URL{Scheme: "http", Host: a}
		b.backends = append(b.backends, u)
		b.proxies = append(b.proxies, httputil.NewSingleHostReverseProxy(u))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		client := &http.Client{Timeout: time.Second}
		failed := make([]int, len(b.backends))
		for ctx.Err() == nil {
			for i, u := range b.backends {
				resp, err := client.Get(u.String() + "/readyz")
				if err == nil && resp.StatusCode == http.StatusOK {
					failed[i] = 0
					b.ready[i].Store(true)
				} else if failed[i]++; failed[i] >= 2 {
					b.ready[i].Store(false)
				}
				if err == nil {
					resp.Body.Close()
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(250 * time.Millisecond):
			}
		}
	}()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// One draw per request: drawing again for each backend tried, as
		// concurrent requests draw too, could land on the same unready one
		// twice and miss the ready one.
		start := int(b.next.Add(1))
		for k := range len(b.backends) {
			i := (start + k) % len(b.backends)
			if b.ready[i].Load() {
				b.proxies[i].ServeHTTP(w, r)
				return
			}
		}
		http.Error(w, "no instance is ready", http.StatusServiceUnavailable)
	}))
	t.Cleanup(func() { srv.Close(); cancel(); <-done })
	// Clients come once every instance is ready, as after a deployment.
	wait.For(t, 30*time.Second, func() error {
		all := true
		for i := range b.ready {
			all = all && b.ready[i].Load()
		}
		if all {
			return nil
		}
		return errors.New("the instances behind the balancer were not all ready within 30s")
	})
	return srv
}

// TestRollingRestart runs two real instances on one database behind a
// load balancer that routes on /readyz, with clients reading and changing
// sites through it, and restarts one instance with SIGTERM as a rolling
// deployment does. No request may fail, a request in flight at the signal
// must finish, and every site must be checked in every round throughout.
func TestRollingRestart(t *testing.T) {
	farm := testnet.NewFarm(t)
	var slowHits atomic.Int64
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		slowHits.Add(1)
		time.Sleep(1500 * time.Millisecond)
	}))
	defer slow.Close()

	prefix := pgtest.Prefix(t)
	server, err := url.Parse(pgtest.ServerURL(t))
	if err != nil {
		t.Fatal(err)
	}
	server.Path = "/"
	env := []string{"DATABASE_URL=" + server.String(), "UPTIME_DATABASE_PREFIX=" + prefix, "UPTIME_SHUTDOWN_DELAY=2s"}
	a, b := newProgram(t, env...), newProgram(t, env...)
	a.start(t)
	b.start(t)
	lb := newBalancer(t, a.addr, b.addr)

	const n, interval = 20, 10 * time.Second
	var paths []string
	var ids []int
	for i := range n {
		paths = append(paths, fmt.Sprintf("/s/%d", i))
		var s struct{ ID int }
		a.Call(t, "POST", "/site", fmt.Sprintf(`{"url": "%s/s/%d", "interval": "10s"}`, farm.URL, i), &s)
		ids = append(ids, s.ID)
	}
	var slowSite struct{ ID int }
	a.Call(t, "POST", "/site", fmt.Sprintf(`{"url": %q, "interval": "1h"}`, slow.URL), &slowSite)
	from := time.Now().Add(interval + 2*time.Second) // every site's first scheduled check is before

	// Clients read and change sites through the balancer all along.
	var requests, failures, throttled atomic.Int64
	var failed atomic.Value
	ctx, stopClients := context.WithCancel(context.Background())
	clientsDone := make(chan struct{})
	for c := range 3 {
		go func() {
			defer func() { clientsDone <- struct{}{} }()
			for i := 0; ctx.Err() == nil; i++ {
				method, path, body := "GET", "/status", ""
				switch i % 3 {
				case 1:
					method, path = "GET", "/site"
				case 2:
					method, path, body = "PATCH", fmt.Sprintf("/site/%d", ids[(c+i)%n]), fmt.Sprintf(`{"name": "site %d"}`, i)
				}
				req, _ := http.NewRequest(method, lb.URL+path, strings.NewReader(body))
				resp, err := http.DefaultClient.Do(req)
				requests.Add(1)
				if err != nil {
					failures.Add(1)
					failed.Store(fmt.Sprintf("%s %s: %v", method, path, err))
					continue
				}
				reply, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				switch {
				case resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") != "":
					// Told to slow down: the reads of every site are
					// bounded, and the balancer makes these three one client.
					throttled.Add(1)
				case resp.StatusCode >= 300:
					failures.Add(1)
					failed.Store(fmt.Sprintf("%s %s: %s %.200s", method, path, resp.Status, reply))
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}

	time.Sleep(from.Sub(time.Now()) + interval)
	// A request in flight when the signal comes: checking the slow site
	// takes 1.5s, longer than it takes the signal to arrive.
	inFlight := make(chan int, 1)
	hits := slowHits.Load()
	go func() {
		code, _ := a.Do(t, "POST", fmt.Sprintf("/check/%d", slowSite.ID), "")
		inFlight <- code
	}()
	wait.Until(t, 10*time.Second, "the slow site's check did not begin", func() bool { return slowHits.Load() > hits })
	stopped := time.Now()
	a.stop(t)
	t.Logf("SIGTERM to exit: %s", time.Since(stopped).Round(10*time.Millisecond))
	if code := <-inFlight; code != http.StatusOK {
		t.Errorf("POST /check of a slow site in flight at SIGTERM answered %d, want 200", code)
	}
	a.start(t)
	t.Logf("restarted %s after the signal", time.Since(stopped).Round(10*time.Millisecond))
	time.Sleep(2 * interval)
	stopClients()
	for range 3 {
		<-clientsDone
	}

	if f := failures.Load(); f > 0 {
		t.Errorf("%d of %d requests through the balancer failed; the last: %v", f, requests.Load(), failed.Load())
	} else {
		t.Logf("%d requests through the balancer, none failed (%d told to slow down)", requests.Load(), throttled.Load())
	}
	// A round is every 10s; a gap past 1.5 intervals is a round lost, one
	// under half an interval a round checked twice.
	if bad := farm.Gaps(paths, from, interval/2, interval*3/2); len(bad) > 0 {
		t.Errorf("rounds missed or doubled across the restart:\n%s", strings.Join(bad, "\n"))
	}
}
