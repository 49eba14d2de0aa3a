package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5/pgxpool"

	"uptime/internal/chromium"
	"uptime/internal/pglocal"
)

// result is what was measured at one number of sites.
type result struct {
	n                  int
	mix                map[string]int
	addSeconds         float64
	firstChecksSeconds float64
	ticks              []tickResult
	bare               []bareResult
	rss                int64
	restartToTick      float64
	restartChecks      int64
	latencies          []latency
	dashboard          []float64 // seconds to a first page with every status shown
	dashboardErr       string
	downToSlack        []float64
	upToSlack          []float64
}

type tickResult struct {
	seconds, uptimeCPU, postgresCPU float64
	checks, dbBytes                 int64
}

type latency struct {
	name     string
	p50, p99 time.Duration
	bytes    int
}

// measure runs Uptime over the first n sites of the farm.
func measure(ctx context.Context, o options, self string, cluster *pglocal.Cluster, f *farm, hook *slackHook, n int) (*result, error) {
	r := &result{n: n, mix: mix(n)}
	prefix := fmt.Sprintf("bench%d_", n)
	env := []string{
		"DATABASE_URL=" + cluster.URL("postgres"),
		"UPTIME_DATABASE_PREFIX=" + prefix,
		"UPTIME_STATE_DIR=" + filepath.Join(o.workDir, "state-"+strconv.Itoa(n)),
		"UPTIME_CHECK_EVERY=24h", // the ticks are driven through the API
		"UPTIME_CHECK_CONCURRENCY=" + strconv.Itoa(o.concurrency),
		"UPTIME_CHECK_TIMEOUT=" + o.timeout.String(),
		"SLACK_WEBHOOK_URL=" + hook.url,
	}
	env = append(env, f.env()...)
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	logFile := filepath.Join(o.workDir, fmt.Sprintf("uptime-%d.log", n))
	progress("%d sites: starting uptime (log in %s)", n, logFile)
	p, err := startUptime(o.uptime, addr, logFile, env)
	if err != nil {
		return nil, err
	}
	defer func() {
		if p != nil {
			p.stop()
		}
	}()
	db, err := monitorPool(ctx, cluster, prefix)
	if err != nil {
		return nil, err
	}
	defer db.Close()

	progress("%d sites: adding them through POST /site", n)
	start := time.Now()
	if err := addSites(p.url, f, n); err != nil {
		return nil, err
	}
	r.addSeconds = time.Since(start).Seconds()
	start = time.Now()
	if err := waitFirstChecks(ctx, db, n); err != nil {
		return nil, err
	}
	r.firstChecksSeconds = time.Since(start).Seconds()

	urlFile := filepath.Join(o.workDir, fmt.Sprintf("urls-%d.txt", n))
	if err := writeSites(urlFile, f.sites([]string{"http"}, n)); err != nil {
		return nil, err
	}
	for i := range o.ticks {
		progress("%d sites: bare loop %d of %d", n, i+1, o.ticks)
		b, err := runBare(self, o, f, urlFile, 0)
		if err != nil {
			return nil, err
		}
		r.bare = append(r.bare, b)
		progress("%d sites: check-all tick %d of %d", n, i+1, o.ticks)
		t, err := tick(ctx, p, db, cluster)
		if err != nil {
			return nil, err
		}
		if t.checks < int64(n) {
			return nil, fmt.Errorf("a tick over %d sites recorded %d checks", n, t.checks)
		}
		r.ticks = append(r.ticks, t)
	}

	progress("%d sites: API latencies", n)
	if r.latencies, err = apiLatencies(p.url, n); err != nil {
		return nil, err
	}
	progress("%d sites: the dashboard in Chromium", n)
	r.dashboard, err = dashboard(p.url, min(n, 50))
	if err != nil {
		r.dashboardErr = err.Error()
	}

	progress("%d sites: sites going down and coming back, to Slack", n)
	if r.downToSlack, r.upToSlack, err = flips(ctx, p, db, cluster, f, hook, n); err != nil {
		return nil, err
	}
	r.rss = peakRSS(p.pid())

	progress("%d sites: restarting uptime", n)
	p.stop()
	p = nil
	if p, err = startUptime(o.uptime, addr, logFile, env); err != nil {
		return nil, err
	}
	// The first check-all, asked for as soon as the program answers.
	t, err := tick(ctx, p, db, cluster)
	if err != nil {
		return nil, err
	}
	r.restartToTick = time.Since(p.started).Seconds()
	r.restartChecks = t.checks
	return r, nil
}

// addSites adds sites 0 to n-1 of the farm, 16 requests at a time.
func addSites(base string, f *farm, n int) error {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		errMu sync.Mutex
		first error
	)
	for range 16 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				body := fmt.Sprintf(`{"url": %q}`, f.url(i))
				resp, err := client.Post(base+"/site", "application/json", strings.NewReader(body))
				if err == nil {
					msg, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("POST /site %s: %d %s", body, resp.StatusCode, msg)
					}
				}
				if err != nil {
					errMu.Lock()
					if first == nil {
						first = err
					}
					errMu.Unlock()
					next.Store(int64(n))
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// waitFirstChecks waits until every new site has been checked once, by the
// checks that adding a site starts.
func waitFirstChecks(ctx context.Context, db *pgxpool.Pool, n int) error {
	deadline := time.Now().Add(30 * time.Minute)
	for {
		var checked, pending int
		err := db.QueryRow(ctx, `SELECT (SELECT count(*) FROM site_state WHERE checked_at IS NOT NULL),
			(SELECT count(*) FROM river_job WHERE kind = 'site-added' AND state NOT IN ('completed', 'discarded', 'cancelled'))`,
		).Scan(&checked, &pending)
		if err != nil {
			return err
		}
		if checked >= n && pending == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after 30 minutes, %d of %d new sites checked, %d first checks pending", checked, n, pending)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// tick runs one check-all through the API and measures it.
func tick(ctx context.Context, p *uptimeProc, db *pgxpool.Pool, cluster *pglocal.Cluster) (tickResult, error) {
	var t tickResult
	var checks0, size0 int64
	if err := db.QueryRow(ctx, "SELECT count(*), pg_database_size(current_database()) FROM checks").Scan(&checks0, &size0); err != nil {
		return t, err
	}
	up0 := processCPU(p.pid())
	pg0, err := postgresCPU(cluster.DataDir())
	if err != nil {
		return t, err
	}
	start := time.Now()
	resp, err := http.Post(p.url+"/check-all", "application/json", nil)
	if err != nil {
		return t, err
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return t, fmt.Errorf("POST /check-all: %d %s", resp.StatusCode, msg)
	}
	t.seconds = time.Since(start).Seconds()
	t.uptimeCPU = processCPU(p.pid()) - up0
	pg1, err := postgresCPU(cluster.DataDir())
	if err != nil {
		return t, err
	}
	t.postgresCPU = pg1 - pg0
	var checks1, size1 int64
	if err := db.QueryRow(ctx, "SELECT count(*), pg_database_size(current_database()) FROM checks").Scan(&checks1, &size1); err != nil {
		return t, err
	}
	t.checks, t.dbBytes = checks1-checks0, size1-size0
	return t, nil
}

// apiLatencies times the reads a dashboard or an API client makes.
func apiLatencies(base string, n int) ([]latency, error) {
	reps := 200
	if n > 20000 {
		reps = 100
	}
	ids := make([]string, min(n, 50))
	for i := range ids {
		ids[i] = strconv.Itoa(i + 1)
	}
	search := fmt.Sprintf("/s/%d", n-1) // one match, found after reading the whole list
	cases := []struct{ name, path string }{
		{"`GET /status` (every site)", "/status"},
		{"`GET /status?ids=…` (50 sites)", "/status?ids=" + strings.Join(ids, ",")},
		{"`GET /site` (every site)", "/site"},
		{"`GET /site?limit=50` (first page)", "/site?limit=50"},
		{"`GET /site?q=…` (search)", "/site?limit=50&q=" + search},
		{"`GET /history/1?limit=30`", "/history/1?limit=30"},
	}
	client := &http.Client{}
	var out []latency
	for _, c := range cases {
		var times []time.Duration
		var size int
		for range reps {
			start := time.Now()
			resp, err := client.Get(base + c.path)
			if err != nil {
				return nil, err
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				return nil, fmt.Errorf("GET %s: %d %v", c.path, resp.StatusCode, err)
			}
			times = append(times, time.Since(start))
			size = len(body)
		}
		slices.Sort(times)
		out = append(out, latency{name: c.name, p50: times[len(times)/2], p99: times[(len(times)*99+99)/100-1], bytes: size})
	}
	return out, nil
}

// dashboard opens the dashboard in headless Chromium five times and
// returns, for each, the seconds from navigation until the first page's
// rows all show a status.
func dashboard(base string, rows int) ([]float64, error) {
	path := chromium.Path()
	if path == "" {
		return nil, fmt.Errorf("not measured: Chromium is not installed")
	}
	opts := chromium.Options(path)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		return nil, err
	}
	ready := fmt.Sprintf(`document.querySelectorAll("#sites tr .badge.up, #sites tr .badge.down").length >= %d`+
		` && document.querySelectorAll("#sites tr .tick").length > 0 ? performance.now() : 0`, rows)
	var out []float64
	for range 5 {
		runCtx, cancelRun := context.WithTimeout(ctx, time.Minute)
		err := chromedp.Do(runCtx, chromedp.Navigate("about:blank"), chromedp.Navigate(base+"/frontend/"))
		var ms float64
		if err == nil {
			ms, err = chromedp.Run(runCtx, chromedp.Poll[float64](ready, chromedp.WithPollingInterval(5*time.Millisecond)))
		}
		cancelRun()
		if err != nil {
			return out, err
		}
		out = append(out, ms/1000)
	}
	return out, nil
}

// flips takes some healthy sites down and back up, a tick after each, and
// returns how long each change took to reach Slack.
func flips(ctx context.Context, p *uptimeProc, db *pgxpool.Pool, cluster *pglocal.Cluster, f *farm, hook *slackHook, n int) (down, up []float64, err error) {
	k := max(5, n/1000)
	var sites []int
	for j := range k {
		i := j*(n/k) + 10
		for kind(i) != fast {
			i++
		}
		sites = append(sites, i)
	}
	change := func(goDown bool) ([]float64, error) {
		texts := make([]string, len(sites))
		for j, i := range sites {
			texts[j] = f.url(i) + map[bool]string{true: " is down!", false: " is back up."}[goDown]
		}
		at := time.Now()
		f.setDown(goDown, sites...)
		if _, err := tick(ctx, p, db, cluster); err != nil {
			return nil, err
		}
		deadline := time.Now().Add(2 * time.Minute)
		for {
			seen := hook.firstSince(at, texts)
			if len(seen) == len(texts) {
				var out []float64
				for _, t := range seen {
					out = append(out, t.Sub(at).Seconds())
				}
				return out, nil
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("%d of %d changes reached Slack within 2 minutes of the tick", len(seen), len(texts))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if down, err = change(true); err != nil {
		return nil, nil, err
	}
	up, err = change(false)
	return down, up, err
}
