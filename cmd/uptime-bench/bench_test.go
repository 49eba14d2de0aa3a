package main

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestFarmServesItsMixAndTheBareLoopCountsIt(t *testing.T) {
	const n = 400
	f, err := startFarm(n, false, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	defer f.close()
	m := mix(n)
	if m[hang] != 1 || m[refuse] != 2 || m[fail] != 4 || m[slow] != 8 || m[fast] != n-15 {
		t.Fatalf("mix of %d sites = %v", n, m)
	}
	res := checkAll(f.sites([]string{"http"}, n), 50, time.Second, 0)
	if res.Checks != n || res.Up != int64(m[fast]+m[slow]) {
		t.Fatalf("bare loop: %+v, want %d checks and %d up", res, n, m[fast]+m[slow])
	}
	if res.Seconds < 1 || res.CPUSeconds <= 0 {
		t.Errorf("bare loop took %.2fs and %.3fs of CPU; the hanging site alone takes its 1s timeout", res.Seconds, res.CPUSeconds)
	}

	// A site set down fails; set up again, it answers as its kind does.
	sites := []int{0, 1, 2}
	f.setDown(true, sites...)
	if res := checkAll(f.sites([]string{"http"}, 3), 3, time.Second, 0); res.Up != 0 {
		t.Fatalf("%d of the sites set down answered", res.Up)
	}
	f.setDown(false, sites...)
	if res := checkAll(f.sites([]string{"http"}, 3), 3, time.Second, 0); res.Up != 3 {
		t.Fatalf("%d of 3 sites set up again answered", res.Up)
	}
}

// TestInternetFarm checks a farm like the internet with the checker Uptime
// uses, trusting the farm's CA through SSL_CERT_FILE as the measured
// processes do: a quarter of the sites over HTTPS, each 20 to 300 ms away;
// and the sites of the other kinds, every one of which is up, on an
// address of its own. (One test: the process reads SSL_CERT_FILE once.)
func TestInternetFarm(t *testing.T) {
	const n = 200
	f, err := startFarm(n, true, benchKinds, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer f.close()
	t.Setenv("SSL_CERT_FILE", f.caFile)
	var tlsSites int
	for i := range n {
		if strings.HasPrefix(f.url(i), "https://") {
			tlsSites++
		}
		if d := distance(i); d < 20*time.Millisecond || d > 300*time.Millisecond {
			t.Fatalf("site %d is %s away, want 20 to 300 ms", i, d)
		}
	}
	if tlsSites < n/5 || tlsSites > n/3 {
		t.Fatalf("%d of %d sites over HTTPS, want about a quarter", tlsSites, n)
	}
	m := mix(n)
	res := checkAll(f.sites([]string{"http"}, n), 50, 2*time.Second, 0)
	if res.Up != int64(m[fast]+m[slow]) {
		t.Fatalf("bare loop over a farm like the internet: %d up, want %d (the HTTPS sites must be trusted)", res.Up, m[fast]+m[slow])
	}
	// 200 sites 20 to 300 ms away, 50 at a time: at least 4 rounds of 20 ms.
	if res.Seconds < 0.08 {
		t.Fatalf("the farm answered %d checks in %.3fs: its sites are not away", n, res.Seconds)
	}

	others := f.sites([]string{"tcp", "tls", "dns", "icmp"}, 20)
	urls := map[string]bool{}
	for _, s := range others {
		urls[s.URL] = true
	}
	if len(urls) != len(others) {
		t.Fatalf("%d sites of the other kinds have %d URLs: each needs its own", len(others), len(urls))
	}
	if res := checkAll(others, 10, 2*time.Second, 0); res.Up != int64(len(others)) {
		t.Fatalf("%d of %d sites of the other kinds up", res.Up, len(others))
	}
	if res := checkAll([]spec{{URL: "dns://s1.farm.test", DNSServer: f.kinds.dnsAddr}}, 1, time.Second, 0); res.Up != 1 {
		t.Fatalf("the farm's DNS server does not answer")
	}
	if res := checkAll([]spec{{URL: fmt.Sprintf("tls://127.0.0.1:%d", f.kinds.tcpPort)}}, 1, time.Second, 0); res.Up != 0 {
		t.Fatalf("a TLS check of the plain TCP port is up")
	}
}

func TestProcessFigures(t *testing.T) {
	start := time.Now()
	for time.Since(start) < 100*time.Millisecond {
	}
	ppid, own, _, err := procStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if ppid != os.Getppid() || own < 0.05 {
		t.Errorf("procStat: parent %d (want %d), CPU %.2fs after a 0.1s busy loop", ppid, os.Getppid(), own)
	}
	if rss := peakRSS(os.Getpid()); rss < 1<<20 {
		t.Errorf("peak RSS %d bytes", rss)
	}
	if got := thousands(100000); got != "100,000" {
		t.Errorf("thousands(100000) = %q", got)
	}
}

// A paced bare loop starts its checks at the rate asked for.
func TestBareLoopPaced(t *testing.T) {
	f, err := startFarm(40, false, nil, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer f.close()
	urls := f.sites([]string{"http"}, 40)[10:30] // fast and slow sites only
	res := checkAll(urls, 50, time.Second, 20)
	if res.Checks != 20 || res.Seconds < 0.9 || res.Seconds > 3 {
		t.Fatalf("20 checks at 20 a second: %+v, want about a second", res)
	}
}

// The lateness of a window is read from the histogram on /metrics: the
// rounds started since the first scrape, and the bucket their p99 is in.
func TestLatenessOfAWindow(t *testing.T) {
	page := func(counts ...int) string {
		var b strings.Builder
		b.WriteString("# TYPE uptime_scheduler_lateness_seconds histogram\n")
		for i, le := range []string{"0.001", "0.005", "1", "+Inf"} {
			fmt.Fprintf(&b, "uptime_scheduler_lateness_seconds_bucket{le=%q} %d\n", le, counts[i])
		}
		fmt.Fprintf(&b, "uptime_scheduler_lateness_seconds_sum 1\nuptime_scheduler_lateness_seconds_count %d\n", counts[3])
		return b.String()
	}
	var body atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(body.Load().(string))) }))
	defer srv.Close()
	// At first 500 rounds, 400 of them later than a second (an import).
	body.Store(page(50, 60, 100, 500))
	before, err := readLateness(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if got := before.quantile(0.99); !math.IsInf(got, 1) {
		t.Fatalf("p99 of the first rounds: %g, want beyond the last bound", got)
	}
	// Then 1,000 more: 990 within 1 ms, 5 within 5 ms, 5 within a second.
	body.Store(page(1040, 1055, 1100, 1500))
	after, err := readLateness(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	w := after.since(before)
	if p50, p99 := w.quantile(0.5), w.quantile(0.99); p50 != 0.001 || p99 != 0.001 {
		t.Fatalf("the window's p50, p99: %g, %g; want 0.001, 0.001", p50, p99)
	}
	if p := w.quantile(0.999); p != 1 {
		t.Fatalf("the window's p99.9: %g, want 1", p)
	}
}
