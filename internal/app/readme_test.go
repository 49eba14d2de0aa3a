package app_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"uptime/internal/apptest"
	"uptime/internal/cli"
	"uptime/internal/config"
	"uptime/internal/pgtest"
	"uptime/internal/smtptest"
	"uptime/monitor"
)

// TestReadmeExamplesRun runs the examples (sh blocks) of the README and of
// docs/ in order against a fresh instance, as a reader pasting them after
// `make run` would, and fails on any answer of 400 or more: an example can never
// go stale. Checks go through the test transport, which reaches loopback
// alone, so the sites the examples name are down and nothing leaves the
// machine. What starts a program, asks for a secret or opens a shell is
// left out; any other kind of command is a failure, to be handled here.
func TestReadmeExamplesRun(t *testing.T) {
	var examples []string
	for _, name := range exampleFiles {
		text, err := os.ReadFile(filepath.Join("../..", name))
		if err != nil {
			t.Fatal(err)
		}
		examples = append(examples, shellCommands(t, string(text))...)
	}
	a := apptest.Start(t, apptest.Setup{Configure: func(c *config.Config) {
		c.SMTPURL = "smtp://" + smtptest.Start(t).Addr + "/?from=status@example.com&tls=none"
	}})
	t.Chdir(t.TempDir())
	t.Setenv("UPTIME_SERVER", a.URL)
	ran := 0
	for _, cmd := range examples {
		words := shellWords(cmd)
		switch {
		case len(words) == 0:
		case words[0] == "make", words[0] == "scripts/podman", words[0] == "kubectl", words[0] == "systemctl",
			strings.Contains(cmd, "secret set"), strings.Contains(cmd, "db shell"),
			strings.Contains(cmd, " run"), strings.HasPrefix(words[0], "UPTIME_"):
			continue // starts a program or an image, asks for a secret, or opens a shell
		case strings.Contains(cmd, "/test"):
			continue // sends a message to the channel's service itself
		case strings.HasPrefix(cmd, "ping_url="), strings.Contains(cmd, "crontab"):
			continue // the heartbeats' crontab example: TestHeartbeatsCrontabExample runs it
		case strings.Contains(cmd, "user add"), strings.Contains(cmd, "$token"), strings.HasPrefix(cmd, "token="):
			continue // makes users, which closes reads: TestUsersAndAccessExample runs it
		case words[0] == "curl":
			method, path, body, header := curlRequest(words)
			status, resp := a.Do(t, method, path, body, header...)
			if status >= 400 {
				t.Errorf("example %q answered %d %s", cmd, status, resp)
			}
			ran++
		case words[0] == "printf":
			if out, err := exec.Command("bash", "-c", cmd).CombinedOutput(); err != nil {
				t.Errorf("example %q: %v %s", cmd, err, out)
			}
		case len(words) > 3 && words[0] == "go" && words[1] == "run" && words[2] == ".":
			var out bytes.Buffer
			if code := cli.Main(context.Background(), words[3:], strings.NewReader(""), &out, &out); code != 0 {
				t.Errorf("example %q exited %d:\n%s", cmd, code, out.String())
			}
			ran++
		default:
			t.Errorf("example %q is of a kind this test does not run; teach it", cmd)
		}
	}
	t.Logf("ran %d examples", ran)
	if ran < 30 {
		t.Errorf("ran %d examples; the test found too few", ran)
	}
	if _, err := os.Stat(filepath.Join(".", "uptime.yaml")); err != nil {
		t.Errorf("the apply example's file was not written: %v", err)
	}
	// The tour's status page is there, with the site it names.
	if status, _ := a.Do(t, http.MethodGet, "/p/acme", ""); status != 200 {
		t.Errorf("the tour's status page answers %d", status)
	}
}

// curlRequest reads a curl command of the examples: its method (-X, or
// POST with -d), path on localhost:4000, body and headers (-H).
func curlRequest(words []string) (method, path, body string, header []string) {
	method = "GET"
	typed := false
	for i := 1; i < len(words); i++ {
		switch w := words[i]; w {
		case "-X":
			i++
			method = words[i]
		case "-d":
			i++
			body = words[i]
			if method == "GET" {
				method = "POST"
			}
		case "-H":
			i++
			name, value, _ := strings.Cut(words[i], ": ")
			header = append(header, name, value)
			typed = typed || strings.EqualFold(name, "Content-Type")
		default:
			path = strings.TrimPrefix(strings.TrimPrefix(w, "http://"), "localhost:4000")
		}
	}
	if body != "" && !typed {
		header = append(header, "Content-Type", "application/x-www-form-urlencoded") // as curl -d sends it
	}
	return method, path, body, header
}

// readmeSection returns the README's section under the heading (its
// "##" or "###" line's text), up to the next "##" heading.
func readmeSection(t *testing.T, heading string) string {
	t.Helper()
	text, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, found := strings.Cut(string(text), heading)
	if !found {
		t.Fatalf("the README has no section %q", heading)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	return section
}

// exampleFiles are the files whose examples run, in the order a reader
// meets them: the README, then the reference it links to.
var exampleFiles = []string{"README.md", "docs/api.md", "docs/sites.md", "docs/alerts.md", "docs/locations.md",
	"docs/configuration.md", "docs/production.md", "docs/security.md", "docs/operations.md", "docs/internals.md"}

// shellCommands returns the commands of the text's sh blocks, in order, a
// command spanning lines while a quote is open.
func shellCommands(t *testing.T, text string) []string {
	t.Helper()
	var (
		out     []string
		in      bool
		pending string
	)
	for line := range strings.Lines(text) {
		line = strings.TrimRight(line, "\n")
		switch {
		case !in && strings.HasPrefix(line, "```sh"):
			in = true
			continue
		case in && strings.HasPrefix(line, "```"):
			in = false
			continue
		case !in:
			continue
		}
		if pending == "" && (strings.HasPrefix(strings.TrimSpace(line), "#") || strings.TrimSpace(line) == "") {
			continue
		}
		pending += line
		if strings.Count(pending, "'")%2 == 1 {
			pending += "\n"
			continue
		}
		if strings.HasSuffix(pending, "\\") {
			pending = strings.TrimSuffix(pending, "\\") + " " // continued on the next line
			continue
		}
		if i := strings.Index(pending, "  #"); i >= 0 && strings.Count(pending[:i], "'")%2 == 0 {
			pending = pending[:i] // a comment after the command
		}
		out = append(out, strings.TrimSpace(pending))
		pending = ""
	}
	return out
}

// shellWords splits a command as a shell would, for single and double
// quotes.
func shellWords(cmd string) []string {
	var (
		words []string
		cur   strings.Builder
		quote rune
		have  bool
	)
	for _, r := range cmd {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, have = r, true
		case r == '|':
			return append(words, strings.Fields(cur.String())...) // what is piped to is the reader's
		case r == ' ' || r == '\t' || r == '\n':
			if have || cur.Len() > 0 {
				words = append(words, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteRune(r)
		}
	}
	if have || cur.Len() > 0 {
		words = append(words, cur.String())
	}
	return words
}

// TestHeartbeatsCrontabExample runs the README's crontab example as a
// reader pastes it after `make run` (its server's address aside), with a
// crontab that keeps what it is given, then runs the line it was given as
// cron would: the push site it added hears a success.
func TestHeartbeatsCrontabExample(t *testing.T) {
	section := readmeSection(t, "### Heartbeats")
	var script []string
	for _, cmd := range shellCommands(t, section) {
		if strings.Contains(cmd, "crontab") || strings.HasPrefix(cmd, "ping_url=") {
			script = append(script, cmd)
		}
	}
	if len(script) != 2 {
		t.Fatalf("the Heartbeats section's sh blocks hold %q, want the ping URL and the crontab line", script)
	}
	a := apptest.Start(t, apptest.Setup{})
	home := t.TempDir()
	bin := filepath.Join(home, "bin")
	for name, body := range map[string]string{
		// As cron's does, it reads the new table whole before installing it,
		// so that the example's pipe reads the old one.
		filepath.Join(bin, "crontab"): "#!/bin/sh\nif [ \"$1\" = -l ]; then cat \"$HOME/crontab\"; " +
			"else cat > \"$HOME/crontab.new\" && mv \"$HOME/crontab.new\" \"$HOME/crontab\"; fi\n",
		filepath.Join(home, "backup.sh"): "#!/bin/sh\necho backed up\n",
	} {
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	env := append(os.Environ(), "HOME="+home, "PATH="+bin+":"+os.Getenv("PATH"))
	sh := strings.ReplaceAll(strings.Join(script, "\n"), "localhost:4000", strings.TrimPrefix(a.URL, "http://"))
	// Not under -e, as a reader's shell is not: with no crontab yet,
	// "crontab -l" fails, and the example's subshell must go on to echo.
	cmd := exec.Command("bash", "-c", sh)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the example: %v\n%s", err, out)
	}
	tab, err := os.ReadFile(filepath.Join(home, "crontab"))
	if err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(string(tab))
	fields := strings.SplitN(line, " ", 6)
	if strings.Count(line, "\n") != 0 || len(fields) != 6 || strings.Join(fields[:5], " ") != "0 2 * * *" ||
		!strings.Contains(fields[5], a.URL+"/heartbeat/") {
		t.Fatalf("the crontab holds %q, want one line at 02:00 pinging the site", tab)
	}
	job := exec.Command("sh", "-c", fields[5]) // as cron runs it
	job.Env = env
	if out, err := job.CombinedOutput(); err != nil || !strings.Contains(string(out), "backed up") {
		t.Fatalf("the crontab's job: %v\n%s", err, out)
	}
	var sites struct {
		Sites []struct {
			ID       int64
			Schedule string
		}
	}
	a.Call(t, "GET", "/site", "", &sites)
	if len(sites.Sites) != 1 || sites.Sites[0].Schedule != "every day at 02:00 (Europe/Berlin)" {
		t.Fatalf("sites after the example: %+v", sites)
	}
	var runs monitor.RunsResponse
	a.Call(t, "GET", fmt.Sprintf("/runs/%d", sites.Sites[0].ID), "", &runs)
	if len(runs.Signals) != 1 || runs.Signals[0].Kind != "success" || runs.ExpectedAt == nil {
		t.Errorf("the push site after its job ran: %+v, want one success and the next run awaited", runs)
	}
}

// TestUsersAndAccessExample runs the README's "Users and access" example
// as a reader pastes it after `make run` (its server's address aside): the
// first admin and their token made on the database, then the API called
// with the token. Every call succeeds; without the token, reads are
// refused once the admin exists.
func TestUsersAndAccessExample(t *testing.T) {
	section := readmeSection(t, "## Users and access")
	prefix := pgtest.Prefix(t)
	a := apptest.Start(t, apptest.Setup{Prefix: prefix})
	db := []string{"--database-url", pgtest.ServerURL(t), "--database-prefix", prefix, "--state-dir", t.TempDir()}
	var token string
	ran := 0
	for _, cmd := range shellCommands(t, section) {
		capture := false
		if rest, ok := strings.CutPrefix(cmd, "token=$("); ok {
			cmd, capture = strings.TrimSuffix(rest, ")"), true
		}
		words := shellWords(strings.ReplaceAll(cmd, "$token", token))
		switch {
		case len(words) > 3 && words[0] == "go" && words[1] == "run" && words[2] == ".":
			var stdout, stderr bytes.Buffer
			if code := cli.Main(context.Background(), append(words[3:], db...), strings.NewReader("blue-kettle-orbit\n"), &stdout, &stderr); code != 0 {
				t.Fatalf("example %q exited %d:\n%s%s", cmd, code, stdout.String(), stderr.String())
			}
			if capture {
				token = strings.TrimSpace(stdout.String())
			}
		case words[0] == "curl":
			method, path, body, header := curlRequest(words)
			if status, resp := a.Do(t, method, path, body, header...); status >= 400 {
				t.Errorf("example %q answered %d %s", cmd, status, resp)
			}
		default:
			t.Fatalf("example %q is of a kind this test does not run; teach it", cmd)
		}
		ran++
	}
	if ran < 4 || !strings.HasPrefix(token, "upt_") {
		t.Fatalf("ran %d examples, token %q; want the admin, their token and calls with it", ran, token)
	}
	if status, _ := a.Do(t, "GET", "/site", ""); status != 401 {
		t.Errorf("a read without a token after the example: %d, want 401", status)
	}
	var users struct {
		Users []struct{ Email, Role string }
	}
	(apptest.Client{URL: a.URL, Key: token}).Call(t, "GET", "/user", "", &users)
	if len(users.Users) != 2 || users.Users[0].Email != "dev@example.com" || users.Users[1].Role != "admin" {
		t.Errorf("users after the example: %+v, want dev and you", users.Users)
	}
}
