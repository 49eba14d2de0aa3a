package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"uptime/internal/apptest"
	"uptime/internal/config"
	"uptime/internal/pgtest"
	"uptime/site"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestApplyIsIdempotentAndPrunes(t *testing.T) {
	const key = "apply-test-key-0123456789"
	a := apptest.Start(t, apptest.Setup{Configure: func(c *config.Config) { c.APIKey = key }})
	env := map[string]string{"UPTIME_SERVER": a.URL, "UPTIME_API_KEY": key}
	getenv := func(k string) string { return env[k] }
	dir := t.TempDir()
	file := filepath.Join(dir, "uptime.yaml")
	run := func(content string, args ...string) (string, string, error) {
		t.Helper()
		if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		var out, errOut bytes.Buffer
		err := apply(context.Background(), append([]string{"-f", file}, args...), getenv, &out, &errOut)
		return out.String(), errOut.String(), err
	}

	first := `
sites:
  - url: https://a.example
    name: A
    interval: 1m
    tags: [prod]
  - url: https://b.example
    expect_status: "200-299"
  - url: c.example
`
	out, _, err := run(first)
	if err != nil || !strings.Contains(out, "created 3, updated 0, deleted 0; 0 unchanged") || !strings.Contains(out, "+ https://c.example") {
		t.Fatalf("first apply: %v\n%s", err, out)
	}
	out, _, err = run(first)
	if err != nil || !strings.Contains(out, "nothing to change: 3 sites as the file says") {
		t.Fatalf("second apply of the same file: %v\n%s", err, out)
	}

	second := `
sites:
  - url: https://a.example
    name: A
    interval: 2m
    tags: [prod]
  - url: https://b.example
    expect_status: "200-299"
`
	out, _, err = run(second, "--prune", "--dry-run")
	if err != nil || !strings.Contains(out, "~ https://a.example") || !strings.Contains(out, "- https://c.example") ||
		!strings.Contains(out, "would create 0, update 1, delete 1; 1 unchanged (dry run: nothing changed)") {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	var list struct {
		Sites []struct{ URL, Interval string }
	}
	a.Call(t, "GET", "/site", "", &list)
	if len(list.Sites) != 3 || list.Sites[0].Interval != "1m" {
		t.Fatalf("after a dry run the sites are %+v, want them unchanged", list.Sites)
	}
	out, _, err = run(second, "--prune")
	if err != nil || !strings.Contains(out, "created 0, updated 1, deleted 1; 1 unchanged") {
		t.Fatalf("apply with prune: %v\n%s", err, out)
	}
	a.Call(t, "GET", "/site", "", &list)
	if len(list.Sites) != 2 || list.Sites[0].Interval != "2m" {
		t.Fatalf("after apply with prune the sites are %+v", list.Sites)
	}

	// A bad site is reported with its place; with prune nothing applies.
	bad := second + "  - url: https://d.example\n    interval: 1s\n"
	_, errOut, err := run(bad, "--prune")
	if err == nil || !strings.Contains(err.Error(), "nothing is applied") {
		t.Fatalf("apply --prune of a file with a bad site: err %v, stderr %s", err, errOut)
	}
	_, errOut, err = run(bad)
	if err == nil || !strings.Contains(errOut, "sites[2] (line 9): interval must be from 10s to 24h") {
		t.Fatalf("apply of a file with a bad site: err %v, stderr %s", err, errOut)
	}
	if _, _, err := run("sitez: []\n"); err == nil || !strings.Contains(err.Error(), `unknown section "sitez"`) {
		t.Fatalf("apply of a file with an unknown section: %v", err)
	}
	env["UPTIME_API_KEY"] = "wrong-key-0123456789"
	if _, _, err := run(first); err == nil || !strings.Contains(err.Error(), "API key") {
		t.Fatalf("apply with a wrong key: %v", err)
	}
}

// The plan shows each setting an update changes, old and new, credentials
// as changed only; the dry run shows exactly what the real run then does.
// A dry run with a bad row says nothing was applied, and where the row is.
func TestApplyShowsWhatItChanges(t *testing.T) {
	a := apptest.Start(t, apptest.Setup{})
	env := map[string]string{"UPTIME_SERVER": a.URL}
	getenv := func(k string) string { return env[k] }
	file := filepath.Join(t.TempDir(), "uptime.yaml")
	run := func(content string, args ...string) (string, string, error) {
		t.Helper()
		if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		var out, errOut bytes.Buffer
		err := apply(context.Background(), append([]string{"-f", file}, args...), getenv, &out, &errOut)
		return out.String(), errOut.String(), err
	}
	if _, _, err := run(`
sites:
  - url: https://shop.example/health
    paused: true
    max_latency: 800ms
    interval: 1m
    headers:
      Authorization: Bearer s3cret-token
`); err != nil {
		t.Fatal(err)
	}
	leaner := `
sites:
  - url: https://shop.example/health
    interval: 2m
`
	dry, _, err := run(leaner, "--dry-run")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"~ https://shop.example/health\n", `    interval: "1m" → "2m"`, "    paused: true → default",
		`    max_latency: "800ms" → default`, "    headers: changed (not shown)", "dry run: nothing changed"} {
		if !strings.Contains(dry, want) {
			t.Errorf("the dry run's plan has no %q:\n%s", want, dry)
		}
	}
	if strings.Contains(dry, "s3cret") {
		t.Errorf("the plan shows a header's value:\n%s", dry)
	}
	real, _, err := run(leaner)
	if err != nil {
		t.Fatal(err)
	}
	plan := func(s string) string { return s[:strings.LastIndex(strings.TrimSuffix(s, "\n"), "\n")+1] }
	if plan(dry) != plan(real) {
		t.Errorf("the dry run's plan:\n%s\nis not what the real run did:\n%s", dry, real)
	}

	out, errOut, err := run(`
sites:
  - url: https://shop.example/health
    interval: 2m
  - url: https://other.example
    intervall: 1m
`, "--dry-run")
	if err == nil || !strings.Contains(err.Error(), "dry run: nothing was applied") || strings.Contains(err.Error(), "the others were applied") {
		t.Errorf("a dry run with a bad row: %v, want it to say nothing was applied", err)
	}
	if !strings.Contains(errOut, "sites[1] (line 5): ") || !strings.Contains(errOut, `intervall`) {
		t.Errorf("a dry run with a bad row said:\n%s\nwant the row's index, its line and the field", errOut)
	}
	if strings.Contains(out, "nothing to change") && strings.Contains(out, "0 sites") {
		t.Errorf("a dry run with a bad row contradicts itself:\n%s", out)
	}
}

// Secrets in the file may be given as ${NAME}, read from the environment.
func TestApplyReadsSecretsFromTheEnvironment(t *testing.T) {
	a := apptest.Start(t, apptest.Setup{})
	env := map[string]string{"UPTIME_SERVER": a.URL, "SHOP_TOKEN": "t0ken-from-env"}
	getenv := func(k string) string { return env[k] }
	file := filepath.Join(t.TempDir(), "uptime.yaml")
	content := `
sites:
  - url: https://shop.example/health
    headers:
      Authorization: Bearer ${SHOP_TOKEN}
`
	if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if err := apply(context.Background(), []string{"-f", file}, getenv, &out, &errOut); err != nil {
		t.Fatalf("apply: %v %s", err, errOut.String())
	}
	var export struct {
		Sites []struct{ Headers map[string]string }
	}
	a.Call(t, "GET", "/site/export", "", &export)
	if len(export.Sites) != 1 || export.Sites[0].Headers["Authorization"] != "Bearer t0ken-from-env" {
		t.Errorf("the site's header: %+v, want the token from the environment", export.Sites)
	}
	delete(env, "SHOP_TOKEN")
	err := apply(context.Background(), []string{"-f", file}, getenv, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "SHOP_TOKEN is not set") {
		t.Errorf("apply without the variable: %v, want it named as not set", err)
	}
}

// A file holds channels, maintenance windows and status pages beside the
// sites, keyed by name, title and slug, naming sites by URL; a second
// apply changes nothing, a change shows which fields, --prune removes what
// the file no longer lists, and a dry run changes nothing.
func TestApplyHoldsChannelsWindowsAndPages(t *testing.T) {
	a := apptest.Start(t, apptest.Setup{})
	env := map[string]string{"UPTIME_SERVER": a.URL, "HOOK_SECRET": "s3cret-hook"}
	getenv := func(k string) string { return env[k] }
	file := filepath.Join(t.TempDir(), "uptime.yaml")
	run := func(content string, args ...string) string {
		t.Helper()
		if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		var out, errOut bytes.Buffer
		if err := apply(context.Background(), append([]string{"-f", file}, args...), getenv, &out, &errOut); err != nil {
			t.Fatalf("apply %v: %v\n%s%s", args, err, out.String(), errOut.String())
		}
		return out.String()
	}
	whole := `
sites:
  - url: https://shop.example/health
    name: Shop
    tags: [db]
  - url: https://api.example/
channels:
  - name: ops
    url: https://hooks.example/uptime
    secret: ${HOOK_SECRET}
    events: [down, up]
    sites: [https://shop.example/health]
maintenance:
  - title: Weekly patching
    tags: [db]
    cron: "0 2 * * SUN"
    duration: 2h
    timezone: Europe/Berlin
status_pages:
  - slug: acme
    title: Acme status
    groups:
      - name: Shop
        sites: [https://shop.example/health, https://api.example/]
`
	dry := run(whole, "--dry-run")
	for _, want := range []string{"+ channel ops", "+ maintenance window Weekly patching", "+ status page acme"} {
		if !strings.Contains(dry, want) {
			t.Errorf("the dry run's plan has no %q:\n%s", want, dry)
		}
	}
	for _, path := range []string{"/channel", "/maintenance", "/status-page"} {
		if _, body := a.Do(t, "GET", path, ""); strings.Contains(body, `"id"`) || strings.Contains(body, `"slug"`) {
			t.Errorf("a dry run made something: GET %s = %s", path, body)
		}
	}
	first := run(whole)
	if !strings.Contains(first, "+ channel ops") || !strings.Contains(first, "+ status page acme") {
		t.Fatalf("the first apply:\n%s", first)
	}
	var page struct {
		Groups []struct{ Sites []int }
	}
	a.Call(t, "GET", "/status-page/acme", "", &page)
	if len(page.Groups) != 1 || len(page.Groups[0].Sites) != 2 {
		t.Errorf("the page's groups: %+v, want the two sites by id", page)
	}
	again := run(whole)
	for _, want := range []string{"channels: nothing to change", "maintenance: nothing to change", "status_pages: nothing to change", "nothing to change: 2 sites"} {
		if !strings.Contains(again, want) {
			t.Errorf("a second apply of the same file says no %q:\n%s", want, again)
		}
	}
	changed := strings.Replace(whole, "events: [down, up]", "events: [down]", 1)
	changed = strings.Replace(changed, "title: Acme status", "title: Acme", 1)
	out := run(changed)
	if !strings.Contains(out, "~ channel ops: events") || !strings.Contains(out, "~ status page acme: title") {
		t.Errorf("a changed file's plan:\n%s", out)
	}
	a.Call(t, "POST", "/channel", `{"name": "stray", "url": "https://stray.example/"}`, nil)
	out = run(changed, "--prune")
	if !strings.Contains(out, "- channel stray") {
		t.Errorf("--prune did not remove the channel the file does not list:\n%s", out)
	}
	var channels struct{ Channels []struct{ Name string } }
	a.Call(t, "GET", "/channel", "", &channels)
	if len(channels.Channels) != 1 || channels.Channels[0].Name != "ops" {
		t.Errorf("channels after --prune: %+v", channels)
	}
	if strings.Contains(out+first+again+dry, "s3cret-hook") {
		t.Errorf("a plan shows the channel's secret")
	}
}

// A push site is listed as its export shows it, by its push:// URL and its
// token's hash: applied twice, it is made once, and its ping URL answers.
func TestApplyHoldsPushSites(t *testing.T) {
	a := apptest.Start(t, apptest.Setup{})
	env := map[string]string{"UPTIME_SERVER": a.URL}
	getenv := func(k string) string { return env[k] }
	file := filepath.Join(t.TempDir(), "uptime.yaml")
	const token = "0123456789abcdef0123456789abcdef"
	content := `
sites:
  - url: push://00000000000000aa
    name: nightly-backup
    cron: "0 2 * * *"
    timezone: Europe/Berlin
    grace: 2h
    token_hash: ` + site.HashToken(token) + "\n"
	if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"created 1, updated 0, deleted 0", "nothing to change: 1 sites as the file says"} {
		var out, errOut bytes.Buffer
		if err := apply(context.Background(), []string{"-f", file}, getenv, &out, &errOut); err != nil || !strings.Contains(out.String(), want) {
			t.Fatalf("apply %d: %v\n%s%s", i+1, err, out.String(), errOut.String())
		}
	}
	var got struct{ Kind, Schedule string }
	a.Call(t, "GET", "/site/1", "", &got)
	if got.Kind != "push" || got.Schedule != "every day at 02:00 (Europe/Berlin)" {
		t.Errorf("the push site applied: %+v", got)
	}
	if status, body := a.Do(t, "GET", "/heartbeat/"+token, ""); status != 200 {
		t.Errorf("its ping URL answers %d %s", status, body)
	}
}
