package deploy_test

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"uptime/internal/apptest"
	"uptime/internal/pgtest"
	"uptime/internal/testnet"
	"uptime/internal/wait"
)

// podman runs the project's podman wrapper, failing the test with what
// it printed.
func podman(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("../scripts/podman", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// TestImageRunsTwoInstances builds the image as `make image` does and runs
// two containers of it on the test's PostgreSQL, reached over the host's
// network: both become ready, share the sites, check each site once a
// round between them, and see each other's changes. The image is small,
// runs as a non-root user, and refuses to start without a key.
func TestImageRunsTwoInstances(t *testing.T) {
	if _, err := exec.LookPath("podman"); err != nil {
		t.Fatal("podman is missing: install podman and runc (as root: apt-get install podman runc; make test does this)")
	}
	tag := fmt.Sprintf("localhost/uptime:test-%d", os.Getpid())
	cmd := exec.Command("./scripts/image")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "IMAGE="+tag)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/image: %v\n%s", err, out)
	} else {
		t.Logf("%s", out)
	}
	t.Cleanup(func() { exec.Command("../scripts/podman", "rmi", "-f", tag).Run() })

	size, err := strconv.ParseInt(podman(t, "image", "inspect", "--format", "{{.Size}}", tag), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if size >= 40<<20 {
		t.Errorf("the image is %.1f MiB, want under 40", float64(size)/(1<<20))
	}
	t.Logf("image size: %.1f MiB", float64(size)/(1<<20))

	// Without a key on an address beyond loopback, it refuses to start.
	out, err := exec.Command("../scripts/podman", "run", "--rm", "--network", "host", "-e", "PORT="+freePort(t), tag).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "refusing to listen") {
		t.Errorf("the image without UPTIME_API_KEY: %v, want a refusal; it printed:\n%s", err, out)
	}

	farm := testnet.NewFarm(t)
	const key = "image-test-key-0123456789abcdef"
	prefix := pgtest.Prefix(t)
	var instances []apptest.Client
	var names []string
	for _, n := range []string{"a", "b"} {
		name := fmt.Sprintf("uptime-test-%d-%s", os.Getpid(), n)
		port := freePort(t)
		podman(t, "run", "-d", "--name", name, "--network", "host",
			"-e", "DATABASE_URL="+pgtest.ServerURL(t),
			"-e", "UPTIME_DATABASE_PREFIX="+prefix,
			"-e", "UPTIME_API_KEY="+key,
			"-e", "PORT="+port,
			"-e", "UPTIME_ALLOW_TARGETS=127.0.0.1",
			"-e", "UPTIME_SHUTDOWN_DELAY=0s",
			"-e", "UPTIME_ADMIN_EMAIL=ops@example.com",
			"-e", "UPTIME_ADMIN_PASSWORD=violet-harbour-sky-ops",
			tag)
		t.Cleanup(func() {
			if t.Failed() {
				logs, _ := exec.Command("../scripts/podman", "logs", "--tail", "40", name).CombinedOutput()
				t.Logf("%s's log:\n%s", name, logs)
			}
			exec.Command("../scripts/podman", "rm", "-f", "-t", "5", name).Run()
		})
		names = append(names, name)
		instances = append(instances, apptest.Client{URL: "http://127.0.0.1:" + port, Key: key})
	}
	for i, c := range instances {
		wait.For(t, 2*time.Minute, func() error {
			if status, _ := doQuiet(c, "/readyz"); status == 200 {
				return nil
			}
			if podman(t, "inspect", "--format", "{{.State.Running}}", names[i]) != "true" {
				t.Fatalf("%s stopped before it was ready", names[i])
			}
			return fmt.Errorf("%s was not ready on /readyz within 2 minutes", names[i])
		})
		// The process in the container is not root.
		pid := podman(t, "inspect", "--format", "{{.State.Pid}}", names[i])
		status, err := os.ReadFile("/proc/" + pid + "/status")
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(status), "\n") {
			if f := strings.Fields(line); len(f) > 1 && f[0] == "Uid:" && f[1] == "0" {
				t.Errorf("%s runs as root: %s", names[i], line)
			}
		}
	}
	a, b := instances[0], instances[1]

	// The first admin was made from the environment, once between the two.
	for _, c := range instances {
		if status, body := (apptest.Client{URL: c.URL}).Do(t, "POST", "/signin",
			`{"email": "ops@example.com", "password": "violet-harbour-sky-ops"}`); status != 200 {
			t.Errorf("signing in as the admin the environment gave: %d %s", status, body)
		}
	}

	const n, interval = 20, 10 * time.Second
	var paths []string
	for i := range n {
		paths = append(paths, fmt.Sprintf("/s/%d", i))
		a.Call(t, "POST", "/site", fmt.Sprintf(`{"url": "%s/s/%d", "interval": "10s"}`, farm.URL, i), nil)
	}
	from := time.Now().Add(interval + 2*time.Second)

	// A change through one is seen through the other.
	var sites struct{ Sites []struct{ ID int } }
	b.Call(t, "GET", "/site", "", &sites)
	if len(sites.Sites) != n {
		t.Fatalf("the second instance lists %d sites, want the %d added through the first", len(sites.Sites), n)
	}
	id := sites.Sites[0].ID
	b.Call(t, "PATCH", fmt.Sprintf("/site/%d", id), `{"name": "renamed through b"}`, nil)
	var got struct{ Name string }
	a.Call(t, "GET", fmt.Sprintf("/site/%d", id), "", &got)
	if got.Name != "renamed through b" {
		t.Errorf("the first instance sees the name %q, want the one set through the second", got.Name)
	}

	// Both check, and each site is checked once a round between them.
	var sa, sb struct{ Checks int }
	for deadline := time.Now().Add(90 * time.Second); sa.Checks == 0 || sb.Checks == 0; time.Sleep(time.Second) {
		if time.Now().After(deadline) {
			t.Fatalf("after 90s the instances made %d and %d scheduled checks; want both to check", sa.Checks, sb.Checks)
		}
		a.Call(t, "GET", "/scheduler", "", &sa)
		b.Call(t, "GET", "/scheduler", "", &sb)
	}
	if wait := time.Until(from.Add(3 * interval)); wait > 0 {
		time.Sleep(wait)
	}
	a.Call(t, "GET", "/scheduler", "", &sa)
	b.Call(t, "GET", "/scheduler", "", &sb)
	t.Logf("scheduled checks: %d and %d", sa.Checks, sb.Checks)
	if bad := farm.Gaps(paths, from, interval/2, interval*3/2); len(bad) > 0 {
		t.Errorf("rounds missed or doubled:\n%s", strings.Join(bad, "\n"))
	}
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

// doQuiet asks for a path, answering 0 while the server does not listen.
func doQuiet(c apptest.Client, path string) (int, error) {
	u, err := url.JoinPath(c.URL, path)
	if err != nil {
		return 0, err
	}
	resp, err := httpClient.Get(u)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
