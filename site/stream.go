package site

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"uptime/internal/api"
)

// streamSites answers {"sites": [...]} with every site, oldest first, each
// written by item as its row arrives from the database: a hundred thousand
// sites cost one row in memory, not the whole answer.
func (s *Service) streamSites(ctx context.Context, item func(r *row) (any, error)) (api.Stream, error) {
	rows, err := s.db.WithContext(ctx).Raw("SELECT " + rowColumns + " FROM sites ORDER BY id").Rows()
	if err != nil {
		return nil, fmt.Errorf("list sites: %w", err)
	}
	return func(w io.Writer) error {
		defer rows.Close()
		b := make([]byte, 0, 64<<10)
		b = append(b, `{"sites":[`...)
		first := true
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.ID, &r.URL, &r.Settings, &r.Sealed, &r.Version); err != nil {
				return fmt.Errorf("list sites: %w", err)
			}
			v, err := item(&r)
			if err != nil {
				return err
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			if b, err = appendJSON(b, v); err != nil {
				return err
			}
			if len(b) >= 60<<10 {
				if _, err := w.Write(b); err != nil {
					return err
				}
				b = b[:0]
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("list sites: %w", err)
		}
		_, err := w.Write(append(b, "]}\n"...))
		return err
	}, nil
}

func appendJSON(b []byte, v any) ([]byte, error) {
	j, err := json.Marshal(v)
	if err != nil {
		return b, fmt.Errorf("encode a site: %w", err)
	}
	return append(b, j...), nil
}

// streamList answers GET /site unpaged: every site as open reads show it.
func (s *Service) streamList(req *http.Request) (api.Stream, error) {
	return s.streamSites(req.Context(), func(r *row) (any, error) {
		e, err := s.publicEntry(r)
		if err != nil {
			return nil, err
		}
		return s.shown(req, *e), nil
	})
}

// streamExport answers GET /site/export: every site with the settings it
// was given, credentials included.
func (s *Service) streamExport(ctx context.Context) (api.Stream, error) {
	return s.streamSites(ctx, func(r *row) (any, error) {
		u, st, err := s.open(r)
		if err != nil {
			return nil, err
		}
		return ExportSite{URL: u, Settings: st}, nil
	})
}
