package site_test

import (
	"net/url"
	"testing"
)

// A search matches what an open read shows, never a credential: a password
// could otherwise be guessed one character at a time from the totals.
func TestSearchMatchesOnlyWhatReadsShow(t *testing.T) {
	e := setup(t, "")
	for _, body := range []string{
		`{"url": "http://bob:s3cret@shop.example/health?api_key=K3Y-abc&page=2", "name": "Shop front"}`,
		`{"url": "https://ghp_t0ken@git.example/repo"}`,
		`{"url": "https://alice:Pa55,w0rd;x@api.example/"}`,
	} {
		e.Call(t, "POST", "/site", body, nil)
	}
	total := func(q string) int {
		t.Helper()
		var page struct{ Total int }
		e.Call(t, "GET", "/site?limit=10&q="+url.QueryEscape(q), "", &page)
		return page.Total
	}
	for _, q := range []string{"bob:s", "s3cret", "bob:s3", "K3Y", "api_key=K", "ghp_", "t0ken", "Pa55", "w0rd;x", "alice:P"} {
		if n := total(q); n != 0 {
			t.Errorf("q=%s matched %d sites: it reads a credential", q, n)
		}
	}
	for q, want := range map[string]int{"shop.example": 1, "SHOP FRONT": 1, "/health": 1, "page=2": 1, "bob:": 1,
		"git.example/repo": 1, "alice": 1, "example": 3, "api_key=xxxxx": 1} {
		if n := total(q); n != want {
			t.Errorf("q=%s matched %d sites, want %d", q, n, want)
		}
	}
	// Searches use the trigram index (pg_trgm ships with PostgreSQL).
	var indexed int64
	if err := e.db.Raw("SELECT count(*) FROM pg_indexes WHERE indexname = 'sites_search_trgm'").Scan(&indexed).Error; err != nil || indexed != 1 {
		t.Errorf("the search's trigram index: %d (%v), want 1", indexed, err)
	}
}
