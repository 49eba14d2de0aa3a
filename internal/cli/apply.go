package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	yamlv3 "go.yaml.in/yaml/v3"
	"sigs.k8s.io/yaml"

	"uptime/internal/text"
	"uptime/site"
)

const applyUsage = `Usage: uptime apply -f FILE.yaml [--server URL] [--prune] [--dry-run]

Makes the monitor hold what FILE.yaml lists: sites keyed by URL, channels
by name, maintenance windows by title and status pages by slug, naming
sites by URL. What the monitor does not hold is made, what differs is
changed, and with --prune what a section of the file does not list is
deleted (a section the file leaves out is left alone). A second apply of
the same file changes nothing. ${NAME} in a string is read from the
environment. The API key comes from UPTIME_API_KEY.

  sites:
    - url: https://example.com
      name: Example
      interval: 1m
      tags: [prod]
  channels:
    - name: ops
      url: https://hooks.example/uptime
      secret: ${HOOK_SECRET}
      events: [down, up]
  maintenance:
    - title: Weekly patching
      tags: [prod]
      cron: "0 2 * * SUN"
      duration: 2h
      timezone: Europe/Berlin
  status_pages:
    - slug: example
      title: Example status
      groups:
        - name: Web
          sites: [https://example.com]

Flags:
`

// applyFile is what a file for uptime apply holds.
type applyFile struct {
	// Sites are the sites, each as POST /site takes it.
	Sites []json.RawMessage `json:"sites"`
}

// apply is `uptime apply`: a client of the API that makes the monitor
// hold the sites a file lists.
func apply(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("uptime apply", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, applyUsage)
		fs.PrintDefaults()
	}
	server := getenv("UPTIME_SERVER")
	if server == "" {
		server = "http://localhost:4000"
	}
	var (
		file          string
		prune, dryRun bool
	)
	fs.StringVar(&file, "f", "", "the file to apply (YAML or JSON); - reads standard input")
	fs.StringVar(&server, "server", server, "the monitor's URL (env UPTIME_SERVER)")
	fs.BoolVar(&prune, "prune", false, "delete the sites the file does not list")
	fs.BoolVar(&dryRun, "dry-run", false, "print what would change, and change nothing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("apply: unexpected argument %q; the file goes after -f", fs.Arg(0))
	}
	if file == "" {
		fs.Usage()
		return errors.New("apply: -f FILE is required")
	}
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("apply: --server %q must be an http or https URL", server)
	}

	f, err := readApplyFile(file, getenv)
	if err != nil {
		return err
	}
	c := &client{ctx: ctx, server: server, key: getenv("UPTIME_API_KEY"), stdout: stdout, errw: stderr}
	if f.sites == nil {
		return applySections(c, f.sections, f.siteURLs, prune, dryRun)
	}
	body, lines := f.sites, f.lines
	q := url.Values{}
	if prune {
		q.Set("prune", "true")
	}
	if dryRun {
		q.Set("dry_run", "true")
	}
	endpoint := strings.TrimSuffix(server, "/") + "/site/import"
	if len(q) > 0 {
		endpoint += "?" + q.Encode()
	}
	resp, err := post(ctx, endpoint, getenv("UPTIME_API_KEY"), body)
	if err != nil {
		return err
	}
	printPlan(stdout, resp)
	if len(resp.Errors) > 0 {
		for _, e := range resp.Errors {
			at := ""
			if e.Index < len(lines) && lines[e.Index] > 0 {
				at = fmt.Sprintf(" (line %d)", lines[e.Index])
			}
			fmt.Fprintf(stderr, "%s: sites[%d]%s: %s\n", file, e.Index, at, e.Message)
		}
		if resp.DryRun {
			return fmt.Errorf("apply: %d sites in %s are not valid (dry run: nothing was applied)", len(resp.Errors), file)
		}
		return fmt.Errorf("apply: %d sites in %s are not valid; the others were applied", len(resp.Errors), file)
	}
	return applySections(c, f.sections, f.siteURLs, prune, dryRun)
}

// applyInput is what an apply file holds, read.
type applyInput struct {
	// sites is the body of the import of its sites; nil when it has no
	// sites section, which then leaves the sites alone.
	sites []byte
	// lines are the lines its sites start on.
	lines []int
	// siteURLs are the URLs its sites have, as the monitor keeps them.
	siteURLs []string
	// sections are its other sections, each a list of objects.
	sections map[string][]map[string]any
}

// readApplyFile reads a YAML (or JSON) file and returns its sites as the
// body of an import, with the line each site starts on. ${NAME} in a
// string is the environment variable NAME, so that secrets stay out of
// the file.
func readApplyFile(name string, getenv func(string) string) (*applyInput, error) {
	var (
		data []byte
		err  error
	)
	if name == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(name)
	}
	if err != nil {
		return nil, fmt.Errorf("apply: %w", err)
	}
	var top map[string]json.RawMessage
	if err := yaml.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("apply: %s: %w", name, err)
	}
	known := []string{"sites"}
	for _, sec := range sections {
		known = append(known, sec.key)
	}
	for key := range top {
		if !slices.Contains(known, key) {
			return nil, fmt.Errorf("apply: %s: unknown section %q; a file has %s", name, key, strings.Join(known, ", "))
		}
	}
	in := &applyInput{sections: map[string][]map[string]any{}}
	for _, sec := range sections {
		raw, ok := top[sec.key]
		if !ok {
			continue
		}
		var items []map[string]any
		if string(raw) != "null" {
			if err := json.Unmarshal(raw, &items); err != nil {
				return nil, fmt.Errorf("apply: %s: %s must be a list of objects: %w", name, sec.key, err)
			}
		}
		for i, item := range items {
			v, err := expandEnv(item, getenv)
			if err != nil {
				return nil, fmt.Errorf("apply: %s: %s[%d]: %w", name, sec.key, i, err)
			}
			items[i] = v.(map[string]any)
		}
		in.sections[sec.key] = items
	}
	raw, ok := top["sites"]
	if !ok {
		return in, nil
	}
	var siteRows []json.RawMessage
	if string(raw) != "null" {
		if err := json.Unmarshal(raw, &siteRows); err != nil {
			return nil, fmt.Errorf("apply: %s: sites must be a list: %w", name, err)
		}
	}
	if siteRows == nil {
		siteRows = []json.RawMessage{}
	}
	for i, row := range siteRows {
		var v any
		if err := json.Unmarshal(row, &v); err != nil {
			return nil, fmt.Errorf("apply: %s: sites[%d]: %w", name, i, err)
		}
		v, err := expandEnv(v, getenv)
		if err != nil {
			return nil, fmt.Errorf("apply: %s: sites[%d]: %w", name, i, err)
		}
		if m, ok := v.(map[string]any); ok {
			if u, ok := m["url"].(string); ok {
				if n, err := site.NormalizeURL(u); err == nil {
					in.siteURLs = append(in.siteURLs, text.Redact(n))
				}
			}
		}
		if siteRows[i], err = json.Marshal(v); err != nil {
			return nil, err
		}
	}
	if in.sites, err = json.Marshal(applyFile{Sites: siteRows}); err != nil {
		return nil, err
	}
	in.lines = siteLines(data)
	return in, nil
}

// siteLines returns the line each item of the file's sites starts on; none
// when the file cannot be read so (the import says what is wrong then).
func siteLines(data []byte) []int {
	var doc yamlv3.Node
	if err := yamlv3.Unmarshal(data, &doc); err != nil || len(doc.Content) == 0 {
		return nil
	}
	top := doc.Content[0]
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value == "sites" && top.Content[i+1].Kind == yamlv3.SequenceNode {
			var lines []int
			for _, item := range top.Content[i+1].Content {
				lines = append(lines, item.Line)
			}
			return lines
		}
	}
	return nil
}

// post sends an import and reads its answer.
func post(ctx context.Context, endpoint, key string, body []byte) (*site.ImportResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("apply: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("apply: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("apply: read the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Code, Message string }
		if json.Unmarshal(data, &e) == nil && e.Message != "" {
			return nil, fmt.Errorf("apply: the server refused: %s (%s)", e.Message, e.Code)
		}
		return nil, fmt.Errorf("apply: the server answered %s", resp.Status)
	}
	var out site.ImportResponse
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("apply: the server's answer is not an import's: %w", err)
	}
	return &out, nil
}

// printPlan prints what an import did, or would do in a dry run.
func printPlan(w io.Writer, r *site.ImportResponse) {
	mark := map[string]string{"create": "+", "update": "~", "delete": "-"}
	for _, c := range r.Changes {
		fmt.Fprintf(w, "%s %s\n", mark[c.Action], c.URL)
		for _, f := range c.Fields {
			if f.Secret {
				fmt.Fprintf(w, "    %s: changed (not shown)\n", f.Field)
				continue
			}
			fmt.Fprintf(w, "    %s: %s → %s\n", f.Field, shownValue(f.Old), shownValue(f.New))
		}
	}
	if r.ChangesOmitted > 0 {
		fmt.Fprintf(w, "... and %d more\n", r.ChangesOmitted)
	}
	switch {
	case r.Created+r.Updated+r.Deleted == 0 && len(r.Errors) > 0:
		// The refused rows say the rest.
	case r.Created+r.Updated+r.Deleted == 0:
		fmt.Fprintf(w, "nothing to change: %d sites as the file says\n", r.Unchanged)
	case r.DryRun:
		fmt.Fprintf(w, "would create %d, update %d, delete %d; %d unchanged (dry run: nothing changed)\n",
			r.Created, r.Updated, r.Deleted, r.Unchanged)
	default:
		fmt.Fprintf(w, "created %d, updated %d, deleted %d; %d unchanged\n", r.Created, r.Updated, r.Deleted, r.Unchanged)
	}
}

// shownValue is a setting's value in a plan: as JSON, or "default".
func shownValue(v json.RawMessage) string {
	if len(v) == 0 || string(v) == "null" {
		return "default"
	}
	return string(v)
}

// envRef is ${NAME} in a file's string.
var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expandEnv replaces ${NAME} in every string of v with the environment
// variable NAME; one that is not set is an error naming it.
func expandEnv(v any, getenv func(string) string) (any, error) {
	switch x := v.(type) {
	case string:
		var missing string
		out := envRef.ReplaceAllStringFunc(x, func(ref string) string {
			name := envRef.FindStringSubmatch(ref)[1]
			val := getenv(name)
			if val == "" && missing == "" {
				missing = name
			}
			return val
		})
		if missing != "" {
			return nil, fmt.Errorf("the environment variable %s is not set", missing)
		}
		return out, nil
	case map[string]any:
		for k, e := range x {
			var err error
			if x[k], err = expandEnv(e, getenv); err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
		}
	case []any:
		for i, e := range x {
			var err error
			if x[i], err = expandEnv(e, getenv); err != nil {
				return nil, err
			}
		}
	}
	return v, nil
}
