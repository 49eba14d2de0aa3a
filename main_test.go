package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"uptime/internal/apptest"
	"uptime/internal/fakeslack"
	"uptime/internal/pglocal"
	"uptime/internal/wait"
)

// program is the real uptime binary, run as a user runs it.
type program struct {
	apptest.Client
	bin, stateDir, addr string
	env                 []string
	cmd                 *exec.Cmd
	log                 *os.File
}

func (p *program) start(t *testing.T) {
	t.Helper()
	cmd := exec.Command(p.bin, "run")
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.cmd = cmd
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if resp, err := http.Get("http://" + p.addr + "/site"); err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("uptime did not start; its log:\n%s", p.logText())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (p *program) logText() string {
	b, _ := os.ReadFile(p.log.Name())
	return string(b)
}

// logTail is what a failed test shows of the program's log: its last few
// warnings and errors, so that the test's own failures, printed before
// it, stay near the end of the output; all of it with UPTIME_TEST_LOG=all.
func (p *program) logTail() string {
	text := p.logText()
	if os.Getenv("UPTIME_TEST_LOG") == "all" {
		return "uptime's log:\n" + text
	}
	const keep = 6
	var lines []string
	for line := range strings.Lines(text) {
		if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
			lines = append(lines, line)
		}
	}
	n := len(lines)
	lines = lines[max(0, n-keep):]
	return fmt.Sprintf("uptime's log, its last %d of %d warnings and errors (UPTIME_TEST_LOG=all shows all of it):\n%s",
		len(lines), n, strings.Join(lines, ""))
}

// monitorDB connects to the program's monitor database through
// `uptime db conn-uri monitor`, as a user would find it.
func (p *program) monitorDB(t *testing.T) *pgx.Conn {
	t.Helper()
	cmd := exec.Command(p.bin, "db", "conn-uri", "monitor")
	cmd.Env = append(os.Environ(), p.env...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("uptime db conn-uri monitor: %v", err)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("connect with the URL from conn-uri: %v", err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	return conn
}

// waitDelivery waits until the newest Slack delivery job has the state.
func waitDelivery(t *testing.T, p *program, state string) {
	t.Helper()
	ctx := context.Background()
	conn := p.monitorDB(t)
	defer conn.Close(ctx)
	wait.For(t, 20*time.Second, func() error {
		var got string
		err := conn.QueryRow(ctx, `SELECT state FROM river_job WHERE kind = 'uptime-transition.slack-notification'
			ORDER BY id DESC LIMIT 1`).Scan(&got)
		if err == nil && got == state {
			return nil
		}
		return fmt.Errorf("the delivery job is %q (%v), want %q", got, err, state)
	})
}

// stopCluster stops a local cluster that a killed program left running.
func stopCluster(stateDir string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if c, err := pglocal.Start(ctx, pglocal.Options{Dir: filepath.Join(stateDir, "postgres")}); err == nil {
		c.Stop(ctx)
	}
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// newProgram builds the real binary (once per test run) and readies it to
// run on a free port with a state directory of its own and the extra
// environment; the test's end kills it if it still runs, stops the local
// cluster it left, and shows its log if the test failed.
func newProgram(t *testing.T, env ...string) *program {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "uptime-bin-")
		if err != nil {
			buildErr = err
			return
		}
		os.Chmod(dir, 0o755)
		builtBin = filepath.Join(dir, "uptime")
		if out, err := exec.Command("go", "build", "-o", builtBin, ".").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	work, err := os.MkdirTemp("", "uptime-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(work, 0o755)
	logFile, err := os.Create(filepath.Join(work, "uptime.log"))
	if err != nil {
		t.Fatal(err)
	}
	p := &program{bin: builtBin, stateDir: filepath.Join(work, ".uptime"), addr: freeAddr(t), log: logFile}
	p.URL = "http://" + p.addr
	p.env = append([]string{
		"UPTIME_ADDR=" + p.addr,
		"UPTIME_STATE_DIR=" + p.stateDir,
		"DATABASE_URL=",
	}, env...)
	t.Cleanup(func() {
		if p.cmd != nil && p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
			stopCluster(p.stateDir)
		}
		if t.Failed() {
			t.Log(p.logTail())
		}
		logFile.Close()
		os.RemoveAll(work)
	})
	return p
}

// kill kills the program with SIGKILL and waits for it to be gone.
func (p *program) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
}

// TestTutorial builds the program and walks Encore's tutorial over HTTP:
// ping, add a site, check it, status, the site goes down and Slack hears
// it, it comes back and Slack hears that; then the process is killed with
// a notification pending, and after a restart the data is there and the
// notification arrives.
func TestTutorial(t *testing.T) {
	slack := fakeslack.New(t)
	var status atomic.Int32
	status.Store(200)
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(int(status.Load()))
	}))
	defer site.Close()

	p := newProgram(t,
		"UPTIME_CHECK_EVERY=1h",
		"UPTIME_CONFIRM_INTERVAL=100ms",
		"SLACK_WEBHOOK_URL="+slack.URL+"/services/T0/B0/token",
	)
	p.start(t)

	var up struct{ Up bool }
	p.Call(t, "GET", "/ping/"+site.URL, "", &up)
	if !up.Up {
		t.Fatal("ping of a healthy local site: down")
	}
	var added struct {
		ID  int64
		URL string
	}
	p.Call(t, "POST", "/site", fmt.Sprintf(`{"url": %q}`, site.URL), &added)
	if added.ID != 1 || added.URL != site.URL {
		t.Fatalf("POST /site = %+v", added)
	}
	p.Call(t, "POST", "/check/1", "", &up)
	if !up.Up {
		t.Fatal("check of a healthy site: down")
	}
	var st struct {
		Sites map[string]struct {
			Up        bool
			CheckedAt time.Time `json:"checked_at"`
		}
	}
	p.Call(t, "GET", "/status", "", &st)
	if s, ok := st.Sites["1"]; !ok || !s.Up || s.CheckedAt.IsZero() {
		t.Fatalf("GET /status = %+v", st)
	}

	status.Store(503)
	p.Call(t, "POST", "/check/1", "", &up)
	if up.Up {
		t.Fatal("check of a failing site: up")
	}
	if got := slack.Wait(1, 20*time.Second); len(got) != 1 || !strings.Contains(got[0], site.URL+" is down!") {
		t.Fatalf("Slack got %q, want one down message", got)
	}
	status.Store(200)
	p.Call(t, "POST", "/checkall", "", nil)
	if got := slack.Wait(2, 20*time.Second); len(got) != 2 || !strings.Contains(got[1], site.URL+" is back up.") {
		t.Fatalf("Slack got %q, want the back-up message second", got)
	}

	// Slack fails; the site goes down; the process dies before Slack has
	// the message.
	slack.Fail(500)
	status.Store(500)
	attempts := slack.Attempts()
	p.Call(t, "POST", "/check/1", "", &up)
	wait.For(t, 20*time.Second, func() error {
		if slack.Attempts() == attempts {
			return errors.New("no delivery attempt after the site went down")
		}
		return nil
	})
	// Wait until the failed attempt is on record, so the restarted process
	// retries it on River's schedule rather than after the stuck-job rescue.
	waitDelivery(t, p, "retryable")
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
	slack.Fail(0)

	p.start(t)
	var list struct{ Sites []struct{ ID int } }
	p.Call(t, "GET", "/site", "", &list)
	if len(list.Sites) != 1 {
		t.Fatalf("after the restart GET /site = %+v, want the site", list)
	}
	p.Call(t, "GET", "/status", "", &st)
	if s := st.Sites["1"]; s.Up {
		t.Fatalf("after the restart the site is up in /status: %+v", st)
	}
	got := slack.Wait(3, 60*time.Second)
	if len(got) != 3 || !strings.Contains(got[2], site.URL+" is down!") {
		t.Fatalf("after the restart Slack got %q, want the pending down message delivered", got)
	}

	// A clean stop stops the local PostgreSQL too.
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("uptime exited with %v after SIGTERM", err)
	}
	if _, err := os.Stat(filepath.Join(p.stateDir, "postgres", "data", "postmaster.pid")); !os.IsNotExist(err) {
		t.Fatalf("PostgreSQL still running after uptime stopped")
	}
}
