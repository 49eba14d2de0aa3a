package site

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"uptime/internal/api"
)

// Update changes the site's URL and settings named in patch, and nothing
// else: a field left out keeps its value, a setting set to null goes back
// to its default. A header value shown masked ("xxxxx") keeps the value
// it hides, so a form that shows the site and sends it back loses no
// credential. A refused patch changes nothing.
func (s *Service) Update(ctx context.Context, id int, patch map[string]json.RawMessage) (*Entry, error) {
	var (
		updated *row
		changed bool
	)
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var r row
		err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Take(&r, "id = ?", id).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return api.Errorf(api.NotFound, "site %d not found", id)
		}
		if err != nil {
			return fmt.Errorf("get site %d: %w", id, err)
		}
		next, err := s.patched(ctx, &r, fields(patch))
		if err != nil {
			return err
		}
		if next.URL == r.URL && next.Settings == r.Settings {
			updated = &r
			return nil
		}
		next.Version = r.Version + 1
		err = tx.Model(&row{}).Where("id = ?", id).
			Updates(map[string]any{"url": next.URL, "settings": next.Settings, "version": next.Version, "search": next.Search}).Error
		if errors.Is(err, gorm.ErrDuplicatedKey) {
			return api.Errorf(api.AlreadyExists, "site %s is already monitored", api.Quote(api.Redact(next.URL)))
		}
		if err != nil {
			return fmt.Errorf("update site %d: %w", id, err)
		}
		updated, changed = next, true
		return nil
	})
	if err != nil {
		return nil, err
	}
	e, err := updated.entry(s.defaults)
	if err != nil {
		return nil, err
	}
	if changed {
		for _, l := range s.listeners {
			l.SiteChanged(ctx, *e)
		}
	}
	return e, nil
}

// patched returns the row as patch leaves it, checked.
func (s *Service) patched(ctx context.Context, r *row, patch fields) (*row, error) {
	old, err := r.settings()
	if err != nil {
		return nil, err
	}
	next := &row{ID: r.ID, URL: r.URL, Version: r.Version}
	if u, ok, err := patch.str("url"); err != nil {
		return nil, err
	} else if ok {
		if api.Redact(r.URL) == u {
			u = r.URL // the URL as shown, password hidden: unchanged
		}
		if next.URL, err = s.checkURL(ctx, u); err != nil {
			return nil, err
		}
	} else if raw, given := patch["url"]; given && string(raw) == "null" {
		return nil, api.Errorf(api.InvalidArgument, "url cannot be null")
	}
	merged := old.toFields()
	for name, raw := range patch {
		if name == "url" {
			continue
		}
		if string(raw) == "null" {
			delete(merged, name)
		} else {
			merged[name] = raw
		}
	}
	st, err := merged.settings("url")
	if err != nil {
		return nil, err
	}
	st.Headers = unmaskHeaders(st.Headers, old.Headers)
	if st.Body != nil && *st.Body == api.Mask {
		st.Body = old.Body // the body as shown, hidden: unchanged
	}
	if err := st.normalize(next.URL, s.defaults); err != nil {
		return nil, err
	}
	next.Settings = st.json()
	next.Search = searchText(next.URL, st)
	if same, _ := jsonEqual(next.Settings, r.Settings); same {
		next.Settings = r.Settings
	}
	return next, nil
}

// jsonEqual reports whether two JSON texts hold the same value.
func jsonEqual(a, b string) (bool, error) {
	var va, vb any
	if err := json.Unmarshal([]byte(a), &va); err != nil {
		return false, err
	}
	if err := json.Unmarshal([]byte(b), &vb); err != nil {
		return false, err
	}
	ja, _ := json.Marshal(va)
	jb, _ := json.Marshal(vb)
	return string(ja) == string(jb), nil
}

// maskHeaders returns the headers with every value hidden: any of them may
// be a credential (X-JWT, X-Access...), and a name is enough to tell them
// apart.
func maskHeaders(h map[string]string) map[string]string {
	out := maps.Clone(h)
	for name := range out {
		out[name] = api.Mask
	}
	return out
}

// unmaskHeaders puts back the values that h shows masked from old.
func unmaskHeaders(h, old map[string]string) map[string]string {
	for name, v := range h {
		if v != api.Mask {
			continue
		}
		for oldName, oldV := range old {
			if strings.EqualFold(oldName, name) {
				h[name] = oldV
			}
		}
	}
	return h
}
