package site

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"

	"gorm.io/gorm"

	"uptime/internal/api"
	"uptime/internal/errs"
	"uptime/internal/text"
)

// MaxImport is the most sites one import may hold.
const MaxImport = 100_000

// maxImportBody is the largest import request: a hundred thousand sites
// with a few settings each fit well within it.
const maxImportBody = 256 << 20

// ImportRequest is a list of sites, each as POST /site takes it.
type ImportRequest struct {
	// Sites are the sites, each an object with "url" and any settings.
	Sites []json.RawMessage `json:"sites"`
}

// ImportResponse says what an import did.
type ImportResponse struct {
	// Created is how many sites were added.
	Created int `json:"created"`
	// Updated is how many sites already there got new settings.
	Updated int `json:"updated"`
	// Unchanged is how many sites already had the settings given.
	Unchanged int `json:"unchanged"`
	// Deleted is how many sites a prune removed.
	Deleted int `json:"deleted"`
	// Errors are the rows refused; they changed nothing.
	Errors []ImportError `json:"errors"`
	// Changes are the sites created, updated and deleted, in that order:
	// the first MaxChanges of them.
	Changes []ImportChange `json:"changes"`
	// ChangesOmitted is how many changes Changes leaves out.
	ChangesOmitted int `json:"changes_omitted"`
	// DryRun tells that nothing was changed: the figures are what the
	// import would have done.
	DryRun bool `json:"dry_run"`
}

// ImportChange is one site an import changed.
type ImportChange struct {
	// Action is "create", "update" or "delete".
	Action string `json:"action"`
	// URL is the site's URL, its password hidden.
	URL string `json:"url"`
	// Fields are, for an update, the settings it changes, by name.
	Fields []FieldChange `json:"fields,omitempty"`
}

// FieldChange is one setting an update changes: its value before and
// after, as JSON, null for the default. A credential (the headers, the
// body) says only that it changes.
type FieldChange struct {
	// Field is the setting's name.
	Field string `json:"field"`
	// Old and New are its values, null for the default; absent for a
	// credential.
	Old json.RawMessage `json:"old,omitempty"`
	New json.RawMessage `json:"new,omitempty"`
	// Secret tells that the values are not shown.
	Secret bool `json:"secret,omitempty"`
}

// secretFields are the settings whose values a plan never shows.
var secretFields = []string{"headers", "body"}

// fieldChanges compares two settings objects as JSON, setting by setting.
func fieldChanges(oldJSON, newJSON string) []FieldChange {
	var before, after map[string]json.RawMessage
	json.Unmarshal([]byte(oldJSON), &before)
	json.Unmarshal([]byte(newJSON), &after)
	names := map[string]bool{}
	for k := range before {
		names[k] = true
	}
	for k := range after {
		names[k] = true
	}
	var out []FieldChange
	for _, name := range slices.Sorted(maps.Keys(names)) {
		o, n := before[name], after[name]
		if sameJSON(string(o), string(n)) {
			continue
		}
		c := FieldChange{Field: name, Old: orNull(o), New: orNull(n)}
		if slices.Contains(secretFields, name) {
			c = FieldChange{Field: name, Secret: true}
		}
		out = append(out, c)
	}
	return out
}

func orNull(v json.RawMessage) json.RawMessage {
	if len(v) == 0 {
		return json.RawMessage("null")
	}
	return v
}

// ImportOptions change what an import does.
type ImportOptions struct {
	// DryRun checks and counts everything, and changes nothing.
	DryRun bool
	// Prune deletes the sites the list does not name. It applies nothing
	// unless every row is valid: a row refused for a typo must not cost
	// its site.
	Prune bool
	// AddOnly adds the sites not there and leaves those that are as they
	// are, counted unchanged.
	AddOnly bool
}

// MaxChanges is the most changes an import's answer lists; the figures
// count them all.
const MaxChanges = 1000

// change notes a change in the answer, up to MaxChanges of them.
func (r *ImportResponse) change(action, url string, fields ...FieldChange) {
	if len(r.Changes) >= MaxChanges {
		r.ChangesOmitted++
		return
	}
	r.Changes = append(r.Changes, ImportChange{Action: action, URL: text.Redact(url), Fields: fields})
}

// errDryRun rolls back a dry run's transaction.
var errDryRun = errors.New("dry run")

// ImportError is a row an import refused.
type ImportError struct {
	// Index is the row's place in the list, from 0.
	Index int `json:"index"`
	// Code is the Encore error code, as a request for the row alone would
	// have answered.
	Code errs.Code `json:"code"`
	// Message says what is wrong with the row.
	Message string `json:"message"`
}

// BulkListener hears about many sites at once, after an import commits.
type BulkListener interface {
	// SitesImported is called with every site an import added or changed.
	SitesImported(ctx context.Context, entries []Entry)
	// SitesDeleted is called with every site an import's prune removed.
	SitesDeleted(ctx context.Context, ids []int64)
}

// importRow is a valid row, ready to apply.
type importRow struct {
	index    int
	url      string
	settings Settings
	// unique finds the site, if it is there: see uniqueURL.
	unique string
}

// Import adds the sites of the list that are not there yet and gives those
// that are, matched by URL, the settings their row states: a setting a row
// leaves out goes back to its default, as the row describes the site
// whole. Valid rows are applied in one transaction; invalid rows, and a
// URL listed twice, are reported with their index and change nothing.
func (s *Service) Import(ctx context.Context, req ImportRequest, opts ImportOptions) (*ImportResponse, error) {
	if len(req.Sites) > MaxImport {
		return nil, errs.Errorf(errs.InvalidArgument, "an import holds at most %d sites, got %d", MaxImport, len(req.Sites))
	}
	resp := &ImportResponse{Errors: []ImportError{}, Changes: []ImportChange{}, DryRun: opts.DryRun}
	refuse := func(i int, err error) {
		code, msg := errs.Internal, err.Error()
		if e, ok := err.(*errs.Error); ok {
			code, msg = e.Code, e.Message
		}
		resp.Errors = append(resp.Errors, ImportError{Index: i, Code: code, Message: msg})
	}
	var valid []importRow
	seen := make(map[string]int, len(req.Sites))
	for i, raw := range req.Sites {
		r, err := s.importRow(ctx, i, raw)
		if err != nil {
			refuse(i, err)
			continue
		}
		if first, dup := seen[r.url]; dup {
			refuse(i, errs.Errorf(errs.InvalidArgument, "url %s is listed already, at index %d", text.Quote(text.Redact(r.url)), first))
			continue
		}
		seen[r.url] = i
		valid = append(valid, r)
	}
	if opts.Prune && len(resp.Errors) > 0 {
		first := resp.Errors[0]
		return nil, errs.Errorf(errs.InvalidArgument, "%d sites are not valid, the first at index %d: %s; "+
			"with prune nothing is applied until every site is valid", len(resp.Errors), first.Index, first.Message)
	}
	if len(valid) == 0 && !opts.Prune {
		return resp, nil
	}

	var (
		changed []*row
		deleted []*row
	)
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		uniques := make([]string, 0, len(valid))
		for _, r := range valid {
			uniques = append(uniques, r.unique)
		}
		// Lists go to the database as one JSON value each: a hundred
		// thousand parameters would pass PostgreSQL's limit. The rows are
		// locked, so that a concurrent import or edit of one of these sites
		// waits rather than being overwritten unseen. A site is found by
		// its unique URL, as its URL's column hides the credentials.
		var existing []*row
		if err := tx.Raw(`SELECT `+rowColumns+`, unique_url FROM sites
			WHERE unique_url IN (SELECT jsonb_array_elements_text(?::jsonb)) ORDER BY id FOR UPDATE`,
			jsonText(uniques)).Scan(&existing).Error; err != nil {
			return fmt.Errorf("import: read sites: %w", err)
		}
		byUnique := make(map[string]*row, len(existing))
		for _, r := range existing {
			byUnique[*r.UniqueURL] = r
		}
		var adds, updates []record
		before := make(map[int64]string, len(existing)) // the settings updated, as they were
		after := make(map[int64]string, len(existing))
		for _, v := range valid {
			old, ok := byUnique[v.unique]
			if ok && opts.AddOnly {
				resp.Unchanged++
				continue
			}
			if ok {
				_, oldSettings, err := s.open(old)
				if err != nil {
					return err
				}
				if sameJSON(oldSettings.json(), v.settings.json()) {
					resp.Unchanged++
					continue
				}
				before[old.ID], after[old.ID] = oldSettings.json(), v.settings.json()
			}
			next := s.sealRow(0, v.url, v.settings, 1)
			if err := s.claimKey(ctx, next.Sealed); err != nil {
				return err
			}
			if ok {
				next.ID = old.ID
				updates = append(updates, next.record())
			} else {
				adds = append(adds, next.record())
			}
		}
		if len(adds) > 0 {
			var created []*row
			if err := tx.Raw(`INSERT INTO sites (url, settings, sealed, unique_url, search)
				SELECT url, settings, decode(sealed, 'base64'), "unique", search
				FROM jsonb_to_recordset(?::jsonb) AS v(url text, settings jsonb, sealed text, "unique" text, search text)
				RETURNING `+rowColumns, jsonText(adds)).Scan(&created).Error; err != nil {
				return fmt.Errorf("import: add %d sites: %w", len(adds), err)
			}
			resp.Created = len(created)
			changed = append(changed, created...)
			for _, r := range created {
				resp.change("create", r.URL)
			}
		}
		if len(updates) > 0 {
			var updated []*row
			if err := tx.Raw(`UPDATE sites s SET settings = v.settings, sealed = decode(v.sealed, 'base64'),
					search = v.search, version = s.version + 1
				FROM jsonb_to_recordset(?::jsonb) AS v(id bigint, settings jsonb, sealed text, search text) WHERE s.id = v.id
				RETURNING s.id, s.url, s.settings, s.sealed, s.version`, jsonText(updates)).Scan(&updated).Error; err != nil {
				return fmt.Errorf("import: update %d sites: %w", len(updates), err)
			}
			resp.Updated = len(updated)
			changed = append(changed, updated...)
			for _, r := range updated {
				resp.change("update", r.URL, fieldChanges(before[r.ID], after[r.ID])...)
			}
		}
		if err := checkImported(ctx, tx, changed); err != nil {
			return err
		}
		if opts.Prune {
			if err := tx.Raw(`DELETE FROM sites WHERE unique_url NOT IN (SELECT jsonb_array_elements_text(?::jsonb))
				RETURNING id, url`, jsonText(uniques)).Scan(&deleted).Error; err != nil {
				return fmt.Errorf("import: prune: %w", err)
			}
			resp.Deleted = len(deleted)
			ids := make([]int64, len(deleted))
			for i, r := range deleted {
				resp.change("delete", r.URL)
				ids[i] = r.ID
			}
			dropped, was, err := dropDependencies(ctx, tx, ids)
			if err != nil {
				return err
			}
			for _, r := range dropped {
				if i := slices.IndexFunc(changed, func(c *row) bool { return c.ID == r.ID }); i >= 0 {
					changed[i] = r // updated by the import, then for the prune
					continue
				}
				changed = append(changed, r)
				resp.Updated++
				resp.change("update", r.URL, fieldChanges(was[r.ID], r.Settings)...)
			}
		}
		if opts.DryRun {
			return errDryRun
		}
		return nil
	})
	if opts.DryRun && errors.Is(err, errDryRun) {
		return resp, nil
	}
	if err != nil {
		return nil, err
	}
	if len(deleted) > 0 {
		ids := make([]int64, len(deleted))
		for i, r := range deleted {
			ids[i] = r.ID
		}
		for _, l := range s.listeners {
			if bl, ok := l.(BulkListener); ok {
				bl.SitesDeleted(ctx, ids)
				continue
			}
			for _, id := range ids {
				l.SiteDeleted(ctx, id)
			}
		}
	}
	if len(changed) > 0 {
		entries := make([]Entry, len(changed))
		for i, r := range changed {
			e, err := s.entry(r)
			if err != nil {
				return nil, err
			}
			entries[i] = *e
		}
		for _, l := range s.listeners {
			if bl, ok := l.(BulkListener); ok {
				bl.SitesImported(ctx, entries)
			}
		}
	}
	return resp, nil
}

// importRow checks one row as POST /site would.
func (s *Service) importRow(ctx context.Context, i int, raw json.RawMessage) (importRow, error) {
	var f fields
	if err := json.Unmarshal(raw, &f); err != nil || f == nil {
		return importRow{}, errs.Errorf(errs.InvalidArgument, "each site must be a JSON object, not %s", jsonKind(raw))
	}
	st, err := f.settings("url", "id")
	if err != nil {
		return importRow{}, err
	}
	u, ok, err := f.str("url")
	if err != nil {
		return importRow{}, err
	}
	if !ok {
		return importRow{}, errs.Errorf(errs.InvalidArgument, "url is required")
	}
	if u, err = s.checkURL(ctx, u); err != nil {
		return importRow{}, err
	}
	if err := st.normalize(u, s.defaults); err != nil {
		return importRow{}, err
	}
	if err := s.checkReach(ctx, u, st); err != nil {
		return importRow{}, err
	}
	return importRow{index: i, url: u, settings: st, unique: s.uniqueURL(u)}, nil
}

// jsonText writes v as JSON text, for a query parameter.
func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // lists of strings and settings always marshal
	}
	return string(b)
}

// sameJSON reports whether two JSON texts hold the same value.
func sameJSON(a, b string) bool {
	same, err := jsonEqual(a, b)
	return err == nil && same
}

// ExportSite is a site as an export lists it: its URL and the settings it
// was given, in the form an import takes.
type ExportSite struct {
	// URL is the site's URL, password included.
	URL string `json:"url"`
	Settings
}

// ExportResponse is every site, in the form an import takes.
type ExportResponse struct {
	// Sites are the sites, oldest first.
	Sites []ExportSite `json:"sites"`
}

// Export returns every site with the settings it was given, credentials
// included, so that importing it elsewhere makes the same sites.
func (s *Service) Export(ctx context.Context) (*ExportResponse, error) {
	var rows []*row
	if err := s.db.WithContext(ctx).Order("id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("export sites: %w", err)
	}
	resp := &ExportResponse{Sites: make([]ExportSite, len(rows))}
	for i, r := range rows {
		u, st, err := s.open(r)
		if err != nil {
			return nil, err
		}
		resp.Sites[i] = ExportSite{URL: u, Settings: st}
	}
	return resp, nil
}

// handleImport serves POST /site/import?dry_run=&prune=: {"sites": [...]}
// → {"created", "updated", "unchanged", "deleted", "errors", "changes"}.
func (s *Service) handleImport(r *http.Request) (any, error) {
	req, err := api.Decode[ImportRequest](r)
	if err != nil {
		return nil, err
	}
	if req.Sites == nil {
		return nil, errs.Errorf(errs.InvalidArgument, `sites is required: {"sites": [{"url": ...}, ...]}`)
	}
	var opts ImportOptions
	if opts.DryRun, err = api.QueryBool(r, "dry_run"); err != nil {
		return nil, err
	}
	if opts.Prune, err = api.QueryBool(r, "prune"); err != nil {
		return nil, err
	}
	return s.Import(r.Context(), req, opts)
}

// handleExport serves GET /site/export → {"sites": [...]}, which POST
// /site/import takes back.
func (s *Service) handleExport(r *http.Request) (any, error) {
	return s.streamExport(r.Context())
}
