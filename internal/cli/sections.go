package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"uptime/internal/text"
	"uptime/notify"
	"uptime/site"
)

// section is a part of an apply file other than its sites: channels,
// maintenance windows or status pages, each kept through its own endpoints
// and keyed by a field of its own.
type section struct {
	key      string // its key in the file
	what     string // what one is called in a plan
	path     string // its endpoints' path
	list     string // the list's key in GET path's answer
	by       string // the field that names one
	id       string // the field that its endpoints name one by
	defaults map[string]any
	// secret fields are sent when one is made or its URL changes, never
	// compared or shown: the API never gives them back.
	secret []string
}

var sections = []section{
	{key: "channels", what: "channel", path: "/channel", list: "channels", by: "name", id: "id",
		defaults: map[string]any{"tags": []any{}, "sites": []any{}, "events": []any{}}, secret: []string{"secret"}},
	{key: "maintenance", what: "maintenance window", path: "/maintenance", list: "windows", by: "title", id: "id",
		defaults: map[string]any{"tags": []any{}, "sites": []any{}}},
	{key: "status_pages", what: "status page", path: "/status-page", list: "pages", by: "slug", id: "slug",
		defaults: map[string]any{"description": "", "show_urls": false, "groups": []any{}}},
}

// step is one change a section's apply makes.
type step struct {
	mark, method, path string
	body               map[string]any
	line               string // what the plan says
	fields             []string
}

// client talks to the monitor's API for apply.
type client struct {
	ctx          context.Context
	server, key  string
	stdout, errw io.Writer
}

func (c *client) call(method, path string, body any, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(c.ctx, time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.server, "/")+path, r)
	if err != nil {
		return err
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if resp.StatusCode != http.StatusOK {
		var e struct{ Message string }
		if json.Unmarshal(data, &e) == nil && e.Message != "" {
			return fmt.Errorf("%s %s: %s", method, path, e.Message)
		}
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	if out != nil && len(data) > 0 {
		return json.Unmarshal(data, out)
	}
	return nil
}

// siteIDs maps each site's URL, as GET /site shows it, to its id: the
// file names sites by URL, as ids differ from one monitor to the next.
func (c *client) siteIDs() (map[string]int, error) {
	var list struct {
		Sites []struct {
			ID  int    `json:"id"`
			URL string `json:"url"`
		} `json:"sites"`
	}
	if err := c.call("GET", "/site", nil, &list); err != nil {
		return nil, err
	}
	out := make(map[string]int, len(list.Sites))
	for _, s := range list.Sites {
		out[s.URL] = s.ID
	}
	return out, nil
}

// siteRef turns a site named by URL in the file into its id. In a dry
// run a site the file adds has none yet: it stands as its URL.
func siteRef(ids map[string]int, adding []string, ref any) (any, error) {
	raw, ok := ref.(string)
	if !ok {
		return nil, fmt.Errorf("sites are named by URL, not %v", ref)
	}
	u, err := site.NormalizeURL(raw)
	if err != nil {
		return nil, err
	}
	id, ok := ids[text.Redact(u)]
	switch {
	case ok:
		return float64(id), nil
	case slices.Contains(adding, text.Redact(u)):
		return "(new) " + text.Redact(u), nil
	}
	return nil, fmt.Errorf("no site has the URL %s; list it under sites", text.Quote(text.Redact(u)))
}

// withIDs returns an item of the file with its sites named by id.
func withIDs(sec section, item map[string]any, ids map[string]int, adding []string) (map[string]any, error) {
	out := make(map[string]any, len(item))
	for k, v := range item {
		out[k] = v
	}
	refs := func(v any) (any, error) {
		list, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("sites must be a list of URLs")
		}
		var got []any
		for _, r := range list {
			id, err := siteRef(ids, adding, r)
			if err != nil {
				return nil, err
			}
			got = append(got, id)
		}
		if got == nil {
			got = []any{}
		}
		return got, nil
	}
	if v, ok := out["sites"]; ok {
		var err error
		if out["sites"], err = refs(v); err != nil {
			return nil, err
		}
	}
	if groups, ok := out["groups"].([]any); ok {
		var copied []any
		for _, g := range groups {
			gm, ok := g.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("each group is an object with name and sites")
			}
			gc := map[string]any{}
			for k, v := range gm {
				gc[k] = v
			}
			if v, ok := gc["sites"]; ok {
				var err error
				if gc["sites"], err = refs(v); err != nil {
					return nil, fmt.Errorf("groups: %w", err)
				}
			} else {
				gc["sites"] = []any{}
			}
			copied = append(copied, gc)
		}
		out["groups"] = copied
	}
	return out, nil
}

// plan works out a section's steps: what to make, change and, with prune,
// delete, so that the monitor holds what the file lists.
func (sec section) plan(items []map[string]any, listed []map[string]any, prune bool) ([]step, error) {
	byKey := map[string]map[string]any{}
	for _, l := range listed {
		byKey[fmt.Sprint(l[sec.by])] = l
	}
	var steps []step
	seen := map[string]bool{}
	for i, item := range items {
		name, ok := item[sec.by].(string)
		if !ok || name == "" {
			return nil, fmt.Errorf("%s[%d]: %s is required", sec.key, i, sec.by)
		}
		if seen[name] {
			return nil, fmt.Errorf("%s[%d]: %s %q is listed twice", sec.key, i, sec.by, name)
		}
		seen[name] = true
		have, ok := byKey[name]
		if !ok {
			steps = append(steps, step{mark: "+", method: "POST", path: sec.path, body: item, line: sec.what + " " + name})
			continue
		}
		patch := map[string]any{}
		var fields []string
		urlChanged := false
		for k, want := range sec.full(item) {
			if k == sec.by || slices.Contains(sec.secret, k) {
				continue
			}
			got := have[k]
			if k == "url" && sec.key == "channels" {
				if s, ok := want.(string); ok && notify.MaskURL(s) == got {
					continue
				}
				urlChanged = true
			}
			if sameValue(k, want, got) {
				continue
			}
			patch[k] = want
			fields = append(fields, k)
		}
		if urlChanged {
			for _, k := range sec.secret {
				if v, ok := item[k]; ok {
					patch[k] = v
				}
			}
		}
		if len(patch) > 0 {
			slices.Sort(fields)
			steps = append(steps, step{mark: "~", method: "PATCH", path: sec.path + "/" + fmt.Sprint(idText(have[sec.id])),
				body: patch, line: sec.what + " " + name, fields: fields})
		}
	}
	if prune {
		for _, l := range listed {
			name := fmt.Sprint(l[sec.by])
			if !seen[name] {
				steps = append(steps, step{mark: "-", method: "DELETE", path: sec.path + "/" + fmt.Sprint(idText(l[sec.id])),
					line: sec.what + " " + name})
			}
		}
	}
	return steps, nil
}

// full is the item with the section's defaults for what it leaves out:
// the file describes each whole.
func (sec section) full(item map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range sec.defaults {
		out[k] = v
	}
	for k, v := range item {
		out[k] = v
	}
	return out
}

func idText(v any) any {
	if f, ok := v.(float64); ok {
		return int64(f)
	}
	return v
}

// sameValue tells whether a field the file gives is what the monitor
// holds: as JSON, and times as instants.
func sameValue(field string, want, got any) bool {
	if field == "start" || field == "end" {
		ws, _ := want.(string)
		gs, _ := got.(string)
		wt, err1 := time.Parse(time.RFC3339, ws)
		gt, err2 := time.Parse(time.RFC3339, gs)
		return err1 == nil && err2 == nil && wt.Equal(gt)
	}
	a, _ := json.Marshal(want)
	b, _ := json.Marshal(normalizeGroups(field, got))
	return string(a) == string(b)
}

// normalizeGroups keeps of a page's groups what a file gives of them.
func normalizeGroups(field string, v any) any {
	if field != "groups" {
		return v
	}
	groups, _ := v.([]any)
	out := []any{}
	for _, g := range groups {
		gm, _ := g.(map[string]any)
		out = append(out, map[string]any{"name": gm["name"], "sites": gm["sites"]})
	}
	return out
}

// applySections applies the sections the file has, after its sites: each
// section's items are made, changed and, with prune, deleted, and the plan
// printed; a dry run changes nothing.
func applySections(c *client, file map[string][]map[string]any, siteURLs []string, prune, dryRun bool) error {
	var adding []string
	if dryRun {
		adding = siteURLs // not added yet in a dry run
	}
	var ids map[string]int
	for _, sec := range sections {
		items, ok := file[sec.key]
		if !ok {
			continue
		}
		if ids == nil {
			var err error
			if ids, err = c.siteIDs(); err != nil {
				return fmt.Errorf("apply: read the sites: %w", err)
			}
		}
		var resolved []map[string]any
		for i, item := range items {
			r, err := withIDs(sec, item, ids, adding)
			if err != nil {
				return fmt.Errorf("apply: %s[%d]: %w", sec.key, i, err)
			}
			resolved = append(resolved, r)
		}
		var listed map[string][]map[string]any
		if err := c.call("GET", sec.path, nil, &listed); err != nil {
			return fmt.Errorf("apply: %w", err)
		}
		steps, err := sec.plan(resolved, listed[sec.list], prune)
		if err != nil {
			return fmt.Errorf("apply: %w", err)
		}
		for _, st := range steps {
			line := st.mark + " " + st.line
			if len(st.fields) > 0 {
				line += ": " + strings.Join(st.fields, ", ")
			}
			fmt.Fprintln(c.stdout, line)
			if dryRun {
				continue
			}
			if err := c.call(st.method, st.path, st.body, nil); err != nil {
				return fmt.Errorf("apply: %s: %w", st.line, err)
			}
		}
		if len(steps) == 0 {
			fmt.Fprintf(c.stdout, "%s: nothing to change\n", sec.key)
		}
	}
	return nil
}
