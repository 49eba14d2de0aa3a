package monitor

import (
	"strings"
	"testing"
)

// A job's output is quoted on one line, its credentials hidden, its end
// kept where it is long.
func TestQuoteBody(t *testing.T) {
	long := strings.Repeat("é", 150) + " the end"
	for _, c := range []struct{ body, want string }{
		{"", ""},
		{" \n\t", ""},
		{"pg_dump: connection refused\n", `"pg_dump: connection refused"`},
		{"line one\n  line two", `"line one line two"`},
		{"PGPASSWORD=hunter2 ./backup.sh", `"PGPASSWORD=xxxxx ./backup.sh"`},
		{`api_key: s3cr3t and token="a b" left`, `"api_key: xxxxx and token=xxxxx left"`},
		{"curl https://ops:hunter2@db.example/x failed", `"curl https://ops:xxxxx@db.example/x failed"`},
		{"GET /x?sig=abc123&a=1", `"GET /x?sig=xxxxx&a=1"`},
		{long, `"…` + long[len(long)-200:] + `"`},
	} {
		if got := quoteBody(c.body); got != c.want {
			t.Errorf("quoteBody(%q) = %s, want %s", c.body, got, c.want)
		}
	}
}

func TestSignalOf(t *testing.T) {
	for _, c := range []struct {
		what     string
		ends, up bool
		bad      bool
	}{
		{"", true, true, false}, {"0", true, true, false}, {"fail", true, false, false}, {"1", true, false, false},
		{"255", true, false, false}, {"start", false, false, false}, {"log", false, false, false},
		{"256", false, false, true}, {"-1", false, false, true}, {"007", false, false, true}, {"success", false, false, true},
	} {
		g, err := signalOf(c.what)
		if (err != nil) != c.bad || err == nil && (g.ends() != c.ends || g.up() != c.up) {
			t.Errorf("signalOf(%q) = %+v, %v", c.what, g, err)
		}
	}
}
