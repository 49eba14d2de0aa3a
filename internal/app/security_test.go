package app_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"uptime/internal/app"
	"uptime/internal/apptest"
	"uptime/internal/config"
	"uptime/internal/dbutil"
	"uptime/internal/fakeslack"
	"uptime/internal/pgtest"
	"uptime/internal/wait"
)

// TestPingLoopsEndAtOnce pings a site that redirects every request to
// /ping/<itself> on this very instance, once by its address and once by a
// name: the first is refused as the instance's own address, the second by
// the mark every check carries. Either way the site is asked once.
func TestPingLoopsEndAtOnce(t *testing.T) {
	a := apptest.Start(t, apptest.Setup{})
	port := a.URL[strings.LastIndex(a.URL, ":")+1:]
	for _, via := range []string{a.URL, "http://localhost:" + port} {
		var hits atomic.Int32
		loop := httptest.NewServer(nil)
		loop.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			http.Redirect(w, r, via+"/ping/"+loop.URL+"/", http.StatusFound)
		})
		var r struct {
			Up         bool
			StatusCode int `json:"status_code"`
			Reason     string
		}
		a.Call(t, "GET", "/ping/"+loop.URL+"/", "", &r)
		loop.Close()
		if r.Up || hits.Load() != 1 {
			t.Fatalf("ping of a site redirecting to %s/ping/<itself>: %+v after %d requests to the site, want down after 1", via, r, hits.Load())
		}
		if !strings.Contains(r.Reason, "own API") && r.StatusCode != http.StatusForbidden {
			t.Fatalf("ping loop through %s ended with %+v, want the instance's own address or a 403", via, r)
		}
	}

	// Many loops in a row leave nothing behind: no goroutines, no memory.
	var hits atomic.Int32
	loop := httptest.NewServer(nil)
	defer loop.Close()
	loop.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Redirect(w, r, "http://localhost:"+port+"/ping/"+loop.URL+"/", http.StatusFound)
	})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	goroutines := runtime.NumGoroutine()
	for range 50 {
		a.Call(t, "GET", "/ping/"+loop.URL+"/", "", nil)
	}
	http.DefaultClient.CloseIdleConnections()
	if n := hits.Load(); n != 50 {
		t.Fatalf("50 pings of a looping site made %d requests to it, want 50", n)
	}
	// The closed connections' goroutines end soon after; leaked ones never.
	if err := wait.Poll(5*time.Second, func() error {
		if g := runtime.NumGoroutine(); g > goroutines+10 {
			return fmt.Errorf("%d goroutines after 50 looping pings, %d before", g, goroutines)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grown := int64(after.HeapInuse) - int64(before.HeapInuse); grown > 16<<20 {
		t.Errorf("the heap grew by %d MiB over 50 looping pings", grown>>20)
	}

	for _, path := range []string{"/ping/example.com", "/check/1", "/check-all", "/checkall"} {
		status, body := a.Do(t, "POST", path, "", "Uptime-Check", "1")
		if status != http.StatusForbidden || !strings.Contains(body, `"permission_denied"`) {
			t.Errorf("POST %s from a check = %d %s, want 403 permission_denied", path, status, body)
		}
	}
}

func TestDeniedTargetsCannotBeAdded(t *testing.T) {
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer site.Close()
	a := apptest.Start(t, apptest.Setup{Configure: func(c *config.Config) { c.DenyTargets = "127.0.0.2/32, 10.0.0.0/8" }})
	for _, url := range []string{"http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/", "http://127.0.0.2:8080/", "https://10.1.2.3/"} {
		status, body := a.Do(t, "POST", "/site", `{"url": "`+url+`"}`)
		if status != 400 || !strings.Contains(body, "not allowed") {
			t.Errorf("POST /site %s = %d %s, want 400 saying not allowed", url, status, body)
		}
		var r struct {
			Up     bool
			Reason string
		}
		a.Call(t, "GET", "/ping/"+url, "", &r)
		if r.Up || !strings.Contains(r.Reason, "not allowed") {
			t.Errorf("ping of %s = %+v, want down as not allowed", url, r)
		}
	}
	if _, body := a.Do(t, "GET", "/site", ""); strings.TrimSpace(body) != `{"sites":[]}` {
		t.Fatalf("refused sites were added: %s", body)
	}
	// Loopback itself is allowed on a loopback server.
	a.AddSite(t, site.URL)
}

// syncBuffer is a log that tests read while the app writes it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestPasswordsNeverLeave adds sites whose URLs hold passwords in tricky
// forms, checks them, lets them go down, and looks for the passwords in
// every response, the log and the Slack messages.
func TestPasswordsNeverLeave(t *testing.T) {
	slack := fakeslack.New(t)
	var status atomic.Int32
	status.Store(200)
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(int(status.Load()))
	}))
	defer site.Close()
	hostPort := strings.TrimPrefix(site.URL, "http://")
	var log syncBuffer
	prefix := pgtest.Prefix(t)
	a := apptest.Start(t, apptest.Setup{Log: &log, Prefix: prefix, Env: map[string]string{"SLACK_WEBHOOK_URL": slack.URL + "/hook"}})

	var hooked syncBuffer
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(&hooked, r.Body)
		hooked.Write([]byte("\n"))
	}))
	defer hook.Close()
	a.Call(t, "POST", "/channel", fmt.Sprintf(`{"name": "hook", "url": %q}`, hook.URL), nil)
	urls := []string{
		"http://user:s3cret-one@" + hostPort + "/a",
		"http://me@corp:s3cret-two@" + hostPort + "/b",
		"http://user:p@ss-s3cret-three@" + hostPort + "/c",
		"http://user:s3cret%40four@" + hostPort + "/d",
		"http://alice:Pa55,w0rd;x-s3cret-seven@" + hostPort + "/e",
		"http://alice:a!b$c&d'e(f)g*h+i=s3cret-eight@" + hostPort + "/f",
		"http://ghp_s3cret-nine@" + hostPort + "/g",
		"http://" + hostPort + "/h?api_key=s3cret-ten&page=2",
		"http://" + hostPort + "/i?access_token=s3cret-eleven",
	}
	var bodies []string
	for i, u := range urls {
		settings := ""
		if i == len(urls)-1 {
			settings = `, "method": "POST", "body": "s3cret-body", "headers": {"X-JWT": "s3cret-jwt", "X-Access": "s3cret-access"}`
		}
		status, body := a.Do(t, "POST", "/site", `{"url": "`+u+`"`+settings+`}`)
		if status != 200 {
			t.Fatalf("POST /site %s = %d %s", u, status, body)
		}
		bodies = append(bodies, body)
	}
	_, dup := a.Do(t, "POST", "/site", `{"url": "`+urls[0]+`"}`)
	bodies = append(bodies, dup)
	ids := make([]string, len(urls))
	for i := range urls {
		ids[i] = fmt.Sprint(i + 1)
	}
	a.Call(t, "POST", "/status-page", `{"slug": "all", "title": "All", "show_urls": true, "groups": [{"name": "All", "sites": [`+strings.Join(ids, ",")+`]}]}`, nil)
	paths := []string{"/site", "/site?limit=10", "/site?q=user", "/status", "/p/all"}
	for i := range urls {
		paths = append(paths, fmt.Sprintf("/site/%d", i+1))
	}
	for _, path := range paths {
		_, body := a.Do(t, "GET", path, "")
		bodies = append(bodies, body)
	}
	_, body := a.Do(t, "GET", "/ping/user:s3cret-five@"+hostPort+"/e", "")
	bodies = append(bodies, body)
	_, body = a.Do(t, "GET", "/ping/http://user:s3cret-six@no-such-host.invalid/", "")
	bodies = append(bodies, body)

	status.Store(503)
	a.Call(t, "POST", "/check-all", "", nil)
	msgs := slack.Wait(len(urls), 20*time.Second)
	if len(msgs) != len(urls) {
		t.Fatalf("Slack got %d messages, want one per site: %q", len(msgs), msgs)
	}
	for i := range urls {
		_, body := a.Do(t, "GET", fmt.Sprintf("/history/%d", i+1), "")
		bodies = append(bodies, body)
	}

	wait.For(t, 20*time.Second, func() error {
		if strings.Count(hooked.String(), `"event":"down"`) < len(urls) {
			return fmt.Errorf("the webhook got %d down events, want %d", strings.Count(hooked.String(), `"event":"down"`), len(urls))
		}
		return nil
	})
	_, page := a.Do(t, "GET", "/p/all", "")
	bodies = append(bodies, page)
	everything := strings.Join(bodies, "\n") + strings.Join(msgs, "\n") + log.String() + hooked.String()
	if !strings.Contains(everything, "xxxxx") || !strings.Contains(page, hostPort) {
		t.Fatal("no masked password anywhere, or no URL on the page: the test saw nothing")
	}
	// Nor does a dump of the databases: the credentials are sealed.
	dumps := dumpDatabases(t, prefix)
	if !strings.Contains(dumps, "X-JWT") || !strings.Contains(dumps, hostPort+"/i?access_token=xxxxx") {
		t.Fatal("the dumps hold no site: the test saw nothing")
	}
	everything += dumps
	for _, secret := range []string{"s3cret", "p@ss", "%40four", "Pa55", "w0rd", "ghp_"} {
		if i := strings.Index(everything, secret); i >= 0 {
			t.Fatalf("%q leaked: …%s…", secret, everything[max(0, i-200):min(len(everything), i+100)])
		}
	}
	// The stored URL keeps the password: the site answered the checks.
	var st struct{ Sites map[string]struct{ Up bool } }
	status.Store(200)
	a.Call(t, "POST", "/check/1", "", nil)
	a.Call(t, "GET", "/status", "", &st)
	if !st.Sites["1"].Up {
		t.Fatalf("the site with a password is not checked with it: %+v", st)
	}
}

// TestOtherSitesCannotDriveIt sends what a page on another site can make a
// browser send (a text/plain POST needs no preflight) and what a page that
// rebinds its own name to this server sends: both are refused and change
// nothing, while the local dashboard, curl and configured origins and
// names work.
func TestOtherSitesCannotDriveIt(t *testing.T) {
	a := apptest.Start(t, apptest.Setup{Configure: func(c *config.Config) {
		c.CORSOrigins = "https://status.example.com"
		c.AllowedHosts = "uptime.example.com, *.corp.example"
	}})
	port := a.URL[strings.LastIndex(a.URL, ":")+1:]
	add := `{"url": "https://added.example"}`
	tests := []struct {
		name, method, path, body string
		header                   []string
		status                   int
	}{
		{"no origin (curl)", "POST", "/site", add, nil, 200},
		{"the dashboard on this server", "DELETE", "/site/1", "", []string{"Origin", "http://127.0.0.1:" + port}, 200},
		{"a frontend on another local port", "POST", "/site", add, []string{"Origin", "http://localhost:5173"}, 200},
		{"IPv6 loopback origin", "DELETE", "/site/2", "", []string{"Origin", "http://[::1]:3000"}, 200},
		{"a configured origin", "POST", "/site", add, []string{"Origin", "https://status.example.com"}, 200},
		{"another site", "POST", "/site", add, []string{"Origin", "https://evil.example", "Content-Type", "text/plain"}, 403},
		{"another site deletes", "DELETE", "/site/3", "", []string{"Origin", "https://evil.example"}, 403},
		{"another site pings", "GET", "/ping/example.com", "", []string{"Origin", "https://evil.example"}, 403},
		{"another site checks all", "POST", "/check-all", "", []string{"Origin", "http://evil.localhost.example"}, 403},
		{"an opaque origin", "POST", "/site", add, []string{"Origin", "null"}, 403},
		{"a cross-site image", "GET", "/ping/example.com", "", []string{"Sec-Fetch-Site", "cross-site"}, 403},
		{"another site reads", "GET", "/site", "", []string{"Origin", "https://evil.example"}, 200},
		{"a rebound name", "GET", "/site", "", []string{"Host", "evil.example:" + port}, 403},
		{"a rebound name adds", "POST", "/site", add, []string{"Host", "evil.example"}, 403},
		{"localhost", "GET", "/site", "", []string{"Host", "localhost:" + port}, 200},
		{"an allowed name", "GET", "/site", "", []string{"Host", "uptime.example.com"}, 200},
		{"an allowed wildcard", "GET", "/site", "", []string{"Host", "mon.corp.example:" + port}, 200},
		{"an address", "GET", "/site", "", []string{"Host", "10.1.2.3:" + port}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, before := a.Do(t, "GET", "/site", "")
			req, err := http.NewRequest(tt.method, a.URL+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i+1 < len(tt.header); i += 2 {
				if tt.header[i] == "Host" {
					req.Host = tt.header[i+1]
				} else {
					req.Header.Set(tt.header[i], tt.header[i+1])
				}
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("%s %s = %d %s, want %d", tt.method, tt.path, resp.StatusCode, body, tt.status)
			}
			if tt.status == 403 {
				if !strings.Contains(string(body), `"permission_denied"`) {
					t.Fatalf("refusal %s, want permission_denied", body)
				}
				if _, after := a.Do(t, "GET", "/site", ""); after != before {
					t.Fatalf("a refused request changed the sites: %s → %s", before, after)
				}
			}
		})
	}
}

func TestAnyOriginWithTheKey(t *testing.T) {
	const key = "0123456789abcdef-key"
	a := apptest.Start(t, apptest.Setup{Configure: func(c *config.Config) { c.APIKey = key }})
	status, body := a.Do(t, "POST", "/site", `{"url": "https://a.example"}`, "Origin", "https://anywhere.example", "Authorization", "Bearer "+key)
	if status != 200 {
		t.Fatalf("with the key from another origin: %d %s", status, body)
	}
	if status, _ := a.Do(t, "POST", "/site", `{"url": "https://b.example"}`, "Origin", "http://localhost:3000"); status != 401 {
		t.Fatalf("without the key from a loopback origin: %d, want 401", status)
	}
}

// TestListeningBeyondLoopbackDeniesPrivateTargets: a server others can
// reach must not become a window on its own network, unless told to.
func TestListeningBeyondLoopbackDeniesPrivateTargets(t *testing.T) {
	const key = "0123456789abcdef-key"
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer site.Close()
	for _, allow := range []string{"", "127.0.0.0/8"} {
		a := apptest.Start(t, apptest.Setup{Configure: func(c *config.Config) {
			c.Addr, c.APIKey, c.AllowTargets = "0.0.0.0:0", key, allow
		}})
		status, body := a.Do(t, "POST", "/site", `{"url": "`+site.URL+`"}`, "Authorization", "Bearer "+key)
		if allow == "" && (status != 400 || !strings.Contains(body, "not allowed")) {
			t.Errorf("adding a loopback site to a server on 0.0.0.0: %d %s, want 400 not allowed", status, body)
		}
		if allow != "" && status != 200 {
			t.Errorf("adding a loopback site with --allow-targets %s: %d %s, want 200", allow, status, body)
		}
		a.Stop()
	}
}

// TestOwnPortsAreNeverChecked: even on loopback, with every address open,
// no check reaches this instance's API, its profiler or its PostgreSQL, by
// whatever address names this machine (0.0.0.0 connects to loopback).
func TestOwnPortsAreNeverChecked(t *testing.T) {
	debug := freePort(t)
	a := apptest.Start(t, apptest.Setup{Configure: func(c *config.Config) { c.DebugAddr = "127.0.0.1:" + debug }})
	api := a.URL[strings.LastIndex(a.URL, ":")+1:]
	u, _ := url.Parse(pgtest.ServerURL(t))
	for _, target := range []string{
		"http://0.0.0.0:" + api + "/site/export",
		"http://127.0.0.2:" + api + "/site",
		"http://[::ffff:127.0.0.1]:" + api + "/site",
		"http://0.0.0.0:" + debug + "/debug/pprof/",
		"http://localhost:" + debug + "/debug/pprof/",
		"http://127.0.0.1:" + u.Port() + "/",
		"http://0.0.0.0:" + u.Port() + "/",
	} {
		status, msg := a.Refusal(t, "POST", "/site", fmt.Sprintf(`{"url": %q}`, target))
		if status != 400 || !strings.Contains(msg, "not allowed") {
			t.Errorf("adding %s: %d %q, want 400 saying the address is not allowed", target, status, msg)
		}
		var r struct {
			Up     bool
			Reason string
		}
		a.Call(t, "GET", "/ping/"+target, "", &r)
		if r.Up || !strings.Contains(r.Reason, "not allowed") {
			t.Errorf("ping of %s: %+v, want down, not allowed", target, r)
		}
	}
}

// freePort returns a port nothing listens on now.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// TestChannelsGoWhereChecksMay: a channel connects through the same target
// policy as checks. A metadata address is refused at creation, as a
// webhook or as a service's URL; a webhook that redirects there is not
// followed; and a refusal's body never lands where anyone reads it.
func TestChannelsGoWhereChecksMay(t *testing.T) {
	a := apptest.Start(t, apptest.Setup{})
	for _, u := range []string{
		"http://169.254.169.254/latest/meta-data/iam/",
		"http://[fd00:ec2::254]/latest/meta-data/",
		"http://[64:ff9b::a9fe:a9fe]/",
		"generic://169.254.169.254/computeMetadata/v1/?@Metadata-Flavor=Google",
		"ntfy://169.254.169.254/topic",
		"gotify://169.254.169.254/token",
	} {
		status, msg := a.Refusal(t, "POST", "/channel", fmt.Sprintf(`{"name": "x", "url": %q}`, u))
		if status != 400 || !strings.Contains(msg, "not allowed") {
			t.Errorf("a channel to %s: %d %q, want 400, not allowed", u, status, msg)
		}
	}
	if _, body := a.Do(t, "GET", "/channel", ""); strings.Contains(body, "169.254") {
		t.Errorf("a refused channel was kept: %s", body)
	}
	redirecting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusTemporaryRedirect)
	}))
	defer redirecting.Close()
	var ch struct{ ID int }
	a.Call(t, "POST", "/channel", fmt.Sprintf(`{"name": "redirects", "url": %q}`, redirecting.URL+"/hook"), &ch)
	status, msg := a.Refusal(t, "POST", fmt.Sprintf("/channel/%d/test", ch.ID), "")
	if status != 503 || !strings.Contains(msg, "not allowed") {
		t.Errorf("a test message to a webhook redirecting to the metadata address: %d %q, want 503, not allowed", status, msg)
	}
	talkative := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"Code": "Success", "AccessKeyId": "ASIAEXAMPLE", "SecretAccessKey": "wJalrXUtnFEMI"}`)
	}))
	defer talkative.Close()
	a.Call(t, "POST", "/channel", fmt.Sprintf(`{"name": "talks", "url": %q}`, talkative.URL), &ch)
	status, msg = a.Refusal(t, "POST", fmt.Sprintf("/channel/%d/test", ch.ID), "")
	if status != 503 || !strings.Contains(msg, "403") {
		t.Errorf("a test message the webhook refused: %d %q, want 503 with its status", status, msg)
	}
	if _, body := a.Do(t, "GET", "/channel", ""); strings.Contains(body, "ASIAEXAMPLE") || strings.Contains(body, "wJalr") {
		t.Errorf("GET /channel shows the body of a webhook's refusal: %s", body)
	}
}

// dumpDatabases returns what pg_dump writes of every database of the app
// whose databases have the prefix.
func dumpDatabases(t *testing.T, prefix string) string {
	t.Helper()
	var all strings.Builder
	for _, name := range app.Databases {
		dbURL, err := dbutil.DatabaseURL(pgtest.ServerURL(t), prefix+name)
		if err != nil {
			t.Fatal(err)
		}
		all.WriteString(pgtest.Dump(t, dbURL))
	}
	return all.String()
}
