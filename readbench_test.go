//go:build readbench

// The expensive reads at size, run by `make bench-reads`: the real binary
// with BENCH_READS_SITES sites (100,000 by default), 20 clients each
// asking for every site at once (GET /site, unpaged) while the dashboard
// reads the states of some (/status?ids=). It measures the process's
// memory and the dashboard's latency meanwhile, and writes
// bench-reads-results.md.

package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"uptime/internal/api"
	"uptime/internal/wait"
)

// rss reads a process's resident memory and its peak, in MiB.
func rss(t *testing.T, pid int) (now, peak float64) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			now = kb / 1024
		case "VmHWM:":
			peak = kb / 1024
		}
	}
	return now, peak
}

// clientFrom is an HTTP client whose connections come from ip, a loopback
// address of its own, so that the server counts it as a client of its own.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}, Timeout: 5 * time.Minute}
}

func TestReadsBenchmark(t *testing.T) {
	sites := 100_000
	if v := os.Getenv("BENCH_READS_SITES"); v != "" {
		sites, _ = strconv.Atoi(v)
	}
	const readers = 20
	farm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer farm.Close()
	p := newProgram(t, "UPTIME_METRICS_PER_SITE=false")
	p.start(t)
	for start := 0; start < sites; start += 50_000 {
		var rows []string
		for i := start; i < min(start+50_000, sites); i++ {
			rows = append(rows, fmt.Sprintf(`{"url": "%s/s/%d", "name": "site %d", "headers": {"Authorization": "Bearer t%d"}}`, farm.URL, i, i, i))
		}
		p.Call(t, "POST", "/site/import", `{"sites": [`+strings.Join(rows, ",")+`]}`, nil)
	}
	// The first checks of the imported sites (500 a second, over a
	// minute at most) are over before the reads are measured: they are
	// the import's cost, not the reads'.
	last := fmt.Sprintf("/status?ids=%d", sites)
	wait.For(t, 5*time.Minute, func() error {
		if _, body := p.Do(t, "GET", last, ""); strings.Contains(body, "checked_at") {
			return nil
		}
		return fmt.Errorf("the imported sites' first checks did not end in 5 minutes")
	})
	time.Sleep(2 * time.Second)
	var ids []string
	for id := 1; id <= 50; id++ {
		p.Call(t, "POST", fmt.Sprintf("/check/%d", id), "", nil)
		ids = append(ids, strconv.Itoa(id))
	}
	idle, _ := rss(t, p.cmd.Process.Pid)

	// One unpaged read alone, for its size and time.
	start := time.Now()
	resp, err := http.Get(p.URL + "/site")
	if err != nil {
		t.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	alone := time.Since(start)

	var (
		mu        sync.Mutex
		statuses  = map[int]int{}
		durations []time.Duration
		latencies []time.Duration
		peakSeen  float64
		wg        sync.WaitGroup
	)
	ctx, stop := context.WithCancel(context.Background())
	// Memory, every 50 ms.
	wg.Go(func() {
		for ctx.Err() == nil {
			now, _ := rss(t, p.cmd.Process.Pid)
			mu.Lock()
			peakSeen = max(peakSeen, now)
			mu.Unlock()
			time.Sleep(50 * time.Millisecond)
		}
	})
	// The dashboard's read, from a client of its own.
	dash := clientFrom("127.0.0.200")
	wg.Go(func() {
		for ctx.Err() == nil {
			t0 := time.Now()
			resp, err := dash.Get(p.URL + "/status?ids=" + strings.Join(ids, ","))
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			mu.Lock()
			latencies = append(latencies, time.Since(t0))
			if resp.StatusCode != 200 {
				statuses[-resp.StatusCode]++
			}
			mu.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
	})
	time.Sleep(time.Second)
	// The peak is measured from here: the import's is not the reads'.
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", p.cmd.Process.Pid), []byte("5"), 0); err != nil {
		t.Logf("cannot reset the peak of resident memory: %v", err)
	}
	var readersWG sync.WaitGroup
	began := time.Now()
	for i := range readers {
		c := clientFrom(fmt.Sprintf("127.0.0.%d", 10+i))
		readersWG.Go(func() {
			t0 := time.Now()
			resp, err := c.Get(p.URL + "/site")
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			mu.Lock()
			statuses[resp.StatusCode]++
			if resp.StatusCode == 200 {
				durations = append(durations, time.Since(t0))
			}
			mu.Unlock()
		})
	}
	readersWG.Wait()
	took := time.Since(began)
	time.Sleep(time.Second)
	stop()
	wg.Wait()
	_, hwm := rss(t, p.cmd.Process.Pid)

	slices.Sort(latencies)
	slices.Sort(durations)
	pct := func(d []time.Duration, q float64) time.Duration {
		if len(d) == 0 {
			return 0
		}
		return d[min(len(d)-1, int(float64(len(d))*q))]
	}
	out := fmt.Sprintf(`## Reads of every site at size

%d sites; %d clients, each from a loopback address of its own, ask for every site at once (GET /site, unpaged), while the dashboard's read (/status?ids= of 50 sites) runs every 20 ms from another. `+"`make bench-reads`"+`, %s.

| figure | value |
| --- | --- |
| one unpaged GET /site alone | %.1f MiB in %s |
| the %d at once | %v (429: beyond the %d in flight of expensive reads), all done in %s; each 200 in %s to %s |
| resident memory | %.0f MiB before, %.0f MiB at most while they ran (sampled every 50 ms; the kernel's peak since they began: %.0f MiB) |
| /status?ids= meanwhile | %d requests, p50 %s, p99 %s, max %s; refused: %d |
`, sites, readers, time.Now().UTC().Format("2006-01-02"),
		float64(n)/(1<<20), alone.Round(time.Millisecond),
		readers, statusCounts(statuses), api.ExpensiveOverall, took.Round(time.Millisecond), pct(durations, 0).Round(time.Millisecond), pct(durations, 1).Round(time.Millisecond),
		idle, peakSeen, hwm,
		len(latencies), pct(latencies, 0.5).Round(100*time.Microsecond), pct(latencies, 0.99).Round(100*time.Microsecond),
		pct(latencies, 1).Round(100*time.Microsecond), statuses[-429]+statuses[-503])
	t.Log("\n" + out)
	if dir := os.Getenv("BENCH_READS_OUT"); dir != "" {
		os.WriteFile(filepath.Join(dir), []byte(out), 0o644)
	}
}

func statusCounts(m map[int]int) string {
	var parts []string
	for _, code := range []int{200, 429, 503, 500} {
		if m[code] > 0 {
			parts = append(parts, fmt.Sprintf("%d×%d", m[code], code))
		}
	}
	return strings.Join(parts, ", ")
}
