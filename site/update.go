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

	"uptime/internal/errs"
	"uptime/internal/text"
)

// Update changes the site's URL and settings named in patch, and nothing
// else: a field left out keeps its value, a setting set to null goes back
// to its default. A header value shown masked ("xxxxx") keeps the value
// it hides, so a form that shows the site and sends it back loses no
// credential. A refused patch changes nothing.
func (s *Service) Update(ctx context.Context, id int64, patch map[string]json.RawMessage) (*Entry, error) {
	var (
		updated *Entry
		changed bool
	)
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var r row
		err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Take(&r, "id = ?", id).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return errs.Errorf(errs.NotFound, "site %d not found", id)
		}
		if err != nil {
			return fmt.Errorf("get site %d: %w", id, err)
		}
		old, err := s.entry(&r)
		if err != nil {
			return err
		}
		u, st, err := s.patched(ctx, old, fields(patch))
		if err != nil {
			return err
		}
		if u == old.URL && sameJSON(st.json(), old.Given.json()) {
			updated = old
			return nil
		}
		if err := checkDependencies(ctx, tx, id, st.DependsOn); err != nil {
			return err
		}
		next := s.sealRow(id, u, st, r.Version+1)
		if err := s.claimKey(ctx, next.Sealed); err != nil {
			return err
		}
		err = tx.Model(&row{}).Where("id = ?", id).Updates(map[string]any{"url": next.URL, "settings": next.Settings,
			"sealed": next.Sealed, "unique_url": next.UniqueURL, "version": next.Version, "search": next.Search}).Error
		if errors.Is(err, gorm.ErrDuplicatedKey) {
			return errs.Errorf(errs.AlreadyExists, "site %s is already monitored", text.Quote(text.Redact(u)))
		}
		if err != nil {
			return fmt.Errorf("update site %d: %w", id, err)
		}
		if updated, err = s.entry(next); err != nil {
			return err
		}
		changed = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	if changed {
		for _, l := range s.listeners {
			l.SiteChanged(ctx, *updated)
		}
	}
	return updated, nil
}

// patched returns the URL and the settings given that patch leaves the
// site old with, checked.
func (s *Service) patched(ctx context.Context, old *Entry, patch fields) (string, Settings, error) {
	u := old.URL
	if given, ok, err := patch.str("url"); err != nil {
		return "", Settings{}, err
	} else if ok {
		if text.Redact(old.URL) == given {
			given = old.URL // the URL as shown, password hidden: unchanged
		}
		if u, err = s.checkURL(ctx, given); err != nil {
			return "", Settings{}, err
		}
	} else if raw, given := patch["url"]; given && string(raw) == "null" {
		return "", Settings{}, errs.Errorf(errs.InvalidArgument, "url cannot be null")
	}
	merged := old.Given.toFields()
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
		return "", Settings{}, err
	}
	st.Headers = unmaskHeaders(st.Headers, old.Given.Headers)
	if st.Body != nil && *st.Body == text.Mask {
		st.Body = old.Given.Body // the body as shown, hidden: unchanged
	}
	if st.Send != nil && *st.Send == text.Mask {
		st.Send = old.Given.Send // as shown, hidden: unchanged
	}
	if err := st.normalize(u, s.defaults); err != nil {
		return "", Settings{}, err
	}
	if err := s.checkReach(ctx, u, st); err != nil {
		return "", Settings{}, err
	}
	return u, st, nil
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
		out[name] = text.Mask
	}
	return out
}

// unmaskHeaders puts back the values that h shows masked from old.
func unmaskHeaders(h, old map[string]string) map[string]string {
	for name, v := range h {
		if v != text.Mask {
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
