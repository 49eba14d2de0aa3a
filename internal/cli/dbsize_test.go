package cli

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"uptime/internal/apptest"
	"uptime/internal/pgtest"
)

// TestDBSize checks a site a few times and asks `uptime db size` and
// /metrics what its history costs: the raw checks counted, their bytes
// per check, the days kept.
func TestDBSize(t *testing.T) {
	prefix := pgtest.Prefix(t)
	a := apptest.Start(t, apptest.Setup{Prefix: prefix})
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(srv.Close)
	id := a.AddSite(t, srv.URL)
	for range 5 {
		a.Call(t, "POST", fmt.Sprintf("/check/%d", id), "", nil)
	}

	var out bytes.Buffer
	args := []string{"db", "size", "--database-url", pgtest.ServerURL(t), "--database-prefix", prefix, "--state-dir", t.TempDir()}
	if code := Main(context.Background(), args, strings.NewReader(""), &out, &out); code != 0 {
		t.Fatalf("uptime db size: exit %d\n%s", code, out.String())
	}
	text := out.String()
	t.Logf("uptime db size:\n%s", text)
	checks := regexp.MustCompile(`(?m)^\s*checks\s+\S+ \S*B\s+(\d+)\s+(\d+)\s*$`).FindStringSubmatch(text)
	if checks == nil {
		t.Fatalf("uptime db size shows no line for the checks:\n%s", text)
	}
	if n, _ := strconv.Atoi(checks[1]); n < 5 {
		t.Errorf("uptime db size counts %d checks, want the 5 made or more:\n%s", n, text)
	}
	perCheck := regexp.MustCompile(`bytes per check: raw (\d+), compacted \d`).FindStringSubmatch(text)
	if perCheck == nil || perCheck[1] == "0" {
		t.Errorf("uptime db size gives no bytes per check:\n%s", text)
	}
	for _, want := range []string{"rollup_day", "incident", "total", "days kept: raw checks ", "packed checks 0 (--compacted-retention)"} {
		if !strings.Contains(text, want) {
			t.Errorf("uptime db size does not say %q:\n%s", want, text)
		}
	}

	status, body := a.Do(t, "GET", "/metrics", "")
	if status != 200 {
		t.Fatalf("GET /metrics: %d", status)
	}
	for _, re := range []string{`(?m)^uptime_history_bytes\{table="checks"\} [1-9]`, `(?m)^uptime_history_bytes_per_check\{form="raw"\} [1-9]`,
		`(?m)^uptime_history_bytes_per_check\{form="packed"\} 0$`} {
		if !regexp.MustCompile(re).MatchString(body) {
			t.Errorf("/metrics has no line matching %s", re)
		}
	}
}
