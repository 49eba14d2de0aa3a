package api

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// A count that asks for something more is absent, or a count: given empty
// it is an error, where a limit falls back to its default.
func TestQueryCountAndLimit(t *testing.T) {
	tests := []struct {
		query        string
		count        int
		given        bool
		countErr     bool
		limit        int
		limitErr     bool
		errorMention string
	}{
		{"", 0, false, false, 100, false, ""},
		{"n=", 0, true, true, 100, false, `got ""`},
		{"n=7", 7, true, false, 7, false, ""},
		{"n=0", 0, true, true, 0, true, "from 1 to 400"},
		{"n=401", 0, true, true, 0, true, `got "401"`},
		{"n=week", 0, true, true, 0, true, `got "week"`},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/x?"+tt.query, nil)
		n, given, err := QueryCount(r, "n", 400)
		if n != tt.count || given != tt.given || (err != nil) != tt.countErr {
			t.Errorf("QueryCount(%q) = %d, %v, %v; want %d, %v, error %v", tt.query, n, given, err, tt.count, tt.given, tt.countErr)
		}
		if err != nil && !strings.Contains(err.Error(), tt.errorMention) {
			t.Errorf("QueryCount(%q) says %q, want it to mention %s", tt.query, err, tt.errorMention)
		}
		l, err := QueryLimit(r, "n", 100, 400)
		if l != tt.limit || (err != nil) != tt.limitErr {
			t.Errorf("QueryLimit(%q) = %d, %v; want %d, error %v", tt.query, l, err, tt.limit, tt.limitErr)
		}
	}
}
