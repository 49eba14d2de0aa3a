//go:build authbench

// What checking who calls costs, run by `make bench-auth`: one server,
// the same read (GET /site?limit=1) sent with the API key (a hash and a
// comparison, the baseline), with a token (its SHA-256 looked up in what
// was read of the tokens in the last half second, read again from
// PostgreSQL after that) and with a session cookie, interleaved so that
// the machine's noise falls on all three alike. It writes
// bench-auth-results.md.

package app_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"uptime/internal/apptest"
	"uptime/internal/config"
	"uptime/internal/pgtest"
)

func TestAuthBenchmark(t *testing.T) {
	prefix := pgtest.Prefix(t)
	a := apptest.Start(t, apptest.Setup{Prefix: prefix, Configure: func(c *config.Config) { c.APIKey = accessKey }})
	key := apptest.Client{URL: a.URL, Key: accessKey}
	p := addPeople(t, key)
	s := signIn(t, a.URL, "viewer@example.com", "blue-kettle-viewer-orbit")
	key.AddSite(t, "https://example.com")

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	send := func(header ...string) time.Duration {
		req, _ := http.NewRequest("GET", a.URL+"/site?limit=1", nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		took := time.Since(start)
		if resp.StatusCode != 200 {
			t.Fatalf("GET /site as %v: %d", header, resp.StatusCode)
		}
		return took
	}
	callers := []struct {
		name   string
		header []string
	}{
		{"API key", []string{"Authorization", "Bearer " + accessKey}},
		{"token", []string{"Authorization", "Bearer " + p.viewer.Key}},
		{"session", []string{"Cookie", s.cookie}},
	}
	const n = 5000
	times := make([][]time.Duration, len(callers))
	for range 200 { // warm up: connections, caches, plans
		for _, c := range callers {
			send(c.header...)
		}
	}
	for range n {
		for i, c := range callers {
			times[i] = append(times[i], send(c.header...))
		}
	}
	mean := func(d []time.Duration) time.Duration {
		var sum time.Duration
		for _, x := range d {
			sum += x
		}
		return sum / time.Duration(len(d))
	}
	pct := func(d []time.Duration, q float64) time.Duration {
		s := slices.Clone(d)
		slices.Sort(s)
		return s[int(q*float64(len(s)-1))]
	}
	var out strings.Builder
	fmt.Fprintf(&out, "# Who calls: what checking it costs\n\n%s, `make bench-auth`: %d requests of `GET /site?limit=1` with each credential, interleaved, on one server and its PostgreSQL.\n\n",
		time.Now().UTC().Format("2006-01-02"), n)
	fmt.Fprintf(&out, "| credential | mean | p50 | p99 | added to the API key's mean |\n| --- | --- | --- | --- | --- |\n")
	base := mean(times[0])
	for i, c := range callers {
		fmt.Fprintf(&out, "| %s | %s | %s | %s | %s |\n", c.name, mean(times[i]).Round(time.Microsecond),
			pct(times[i], 0.5).Round(time.Microsecond), pct(times[i], 0.99).Round(time.Microsecond),
			(mean(times[i]) - base).Round(time.Microsecond))
	}
	t.Log("\n" + out.String())
	if path := os.Getenv("BENCH_AUTH_OUT"); path != "" {
		if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
