package app_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"uptime/internal/apptest"
	"uptime/internal/cli"
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
	a := apptest.Start(t, apptest.Setup{})
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
		case words[0] == "curl":
			method, body, path := "GET", "", ""
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
				default:
					path = strings.TrimPrefix(strings.TrimPrefix(w, "http://"), "localhost:4000")
				}
			}
			status, resp := a.Do(t, method, path, body)
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
