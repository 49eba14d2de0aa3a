package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"uptime/internal/pglocal"
)

// pushOptions are the push benchmark's: n push sites expected every
// interval, signalled at rate signals a second for duration, then missing
// of them at once.
type pushOptions struct {
	rate     float64
	duration time.Duration
	missing  int
	grace    time.Duration
	// statements reports PostgreSQL's statements while signals come at
	// the rate.
	statements bool
	// missRate is how many signals a second the other sites send while
	// some miss their deadline.
	missRate float64
}

// pushResult is what the push benchmark measured.
type pushResult struct {
	n                         int
	importSeconds             float64
	burst                     int
	burstSeconds              float64
	rate                      float64
	window                    time.Duration
	sent, refused, failed     int64
	p50, p99, max             time.Duration
	uptimeCPU, postgresCPU    float64 // seconds, over the paced window
	missing                   int
	grace                     time.Duration
	heard                     int
	missP50, missP99, missMax time.Duration // from each deadline's end to Slack
	elapsed                   time.Duration // how long the paced signals took
	missRate                  float64
	statements                string // PostgreSQL's costliest statements meanwhile
}

// pushToken is the token of the i-th push site: 128 bits in hex.
func pushToken(i int) string { return fmt.Sprintf("%032x", i+1) }

// pushBench measures n push sites with one instance: signals taken as
// fast as they come, then at the rate with their answer times, the CPU of
// the program and of PostgreSQL per signal, and the delay from the end of
// a deadline to Slack for the sites that miss it at once.
func pushBench(ctx context.Context, o options, po pushOptions, cluster *pglocal.Cluster, hook *slackHook, n int) (*pushResult, error) {
	r := &pushResult{n: n, rate: po.rate, window: po.duration, missing: min(po.missing, n/2), grace: po.grace, missRate: po.missRate}
	prefix := fmt.Sprintf("push%d_", n)
	label := fmt.Sprintf("push %d sites", n)
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	logFile := filepath.Join(o.workDir, fmt.Sprintf("uptime-%s.log", prefix))
	progress("%s: starting Uptime (log in %s)", label, logFile)
	p, err := startUptime(o.uptime, addr, logFile, []string{
		"DATABASE_URL=" + cluster.URL("postgres"),
		"UPTIME_DATABASE_PREFIX=" + prefix,
		"UPTIME_STATE_DIR=" + filepath.Join(o.workDir, "state-"+prefix),
		"SLACK_WEBHOOK_URL=" + hook.url,
	})
	if err != nil {
		return nil, err
	}
	defer p.stop()
	db, err := monitorPool(ctx, cluster, prefix)
	if err != nil {
		return nil, err
	}
	defer db.Close()

	progress("%s: importing them, every minute, grace %s", label, po.grace)
	start := time.Now()
	var b bytes.Buffer
	b.WriteString(`{"sites": [`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		sum := sha256.Sum256([]byte(pushToken(i)))
		fmt.Fprintf(&b, `{"url": "push://%016x", "name": "job-%d", "interval": "1m", "grace": %q, "token_hash": %q}`,
			i+1, i, po.grace.String(), hex.EncodeToString(sum[:]))
	}
	b.WriteString("]}")
	resp, err := http.Post(p.url+"/site/import", "application/json", &b)
	if err != nil {
		return nil, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), fmt.Sprintf(`"created":%d`, n)) {
		return nil, fmt.Errorf("POST /site/import: %d %.300s", resp.StatusCode, body)
	}
	r.importSeconds = time.Since(start).Seconds()
	// The monitor's copy of the sites is written as the import commits;
	// their heartbeat rows are there once it is.
	for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(time.Second) {
		var k int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM heartbeat`).Scan(&k); err != nil {
			return nil, err
		}
		if k == n {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%d of %d push sites in the monitor's copy after 5 minutes", k, n)
		}
	}

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}, Timeout: 30 * time.Second}
	signal := func(i int) (time.Duration, int, error) {
		t := time.Now()
		resp, err := client.Get(p.url + "/heartbeat/" + pushToken(i))
		if err != nil {
			return 0, 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return time.Since(t), resp.StatusCode, nil
	}

	// As fast as they are taken: each site once, 64 at a time.
	progress("%s: each site signals once, 64 at a time", label)
	start = time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	var burstFailed atomic.Int64
	for range 64 {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				if _, code, err := signal(i); err != nil || code != 200 {
					burstFailed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	r.burst, r.burstSeconds = n, time.Since(start).Seconds()
	if f := burstFailed.Load(); f > 0 {
		return nil, fmt.Errorf("%d of %d signals failed as fast as they came", f, n)
	}

	// At the rate: the answer times, and the CPU they cost.
	progress("%s: %.0f signals a second for %s", label, po.rate, po.duration)
	if po.statements {
		if _, err := db.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements; SELECT pg_stat_statements_reset()"); err != nil {
			return nil, fmt.Errorf("pg_stat_statements: %w", err)
		}
	}
	pg := cluster.DataDir()
	paced := time.Now()
	cpu0, pg0 := processCPU(p.pid()), mustPostgresCPU(pg)
	var (
		mu        sync.Mutex
		latencies []time.Duration
	)
	sent := pace(po.rate, po.duration, func(k int) {
		took, code, err := signal(k % n)
		switch {
		case err != nil:
			atomic.AddInt64(&r.failed, 1)
		case code == http.StatusTooManyRequests:
			atomic.AddInt64(&r.refused, 1)
		case code != 200:
			atomic.AddInt64(&r.failed, 1)
		default:
			mu.Lock()
			latencies = append(latencies, took)
			mu.Unlock()
		}
	})
	r.sent, r.elapsed = int64(sent), time.Since(paced)
	r.uptimeCPU, r.postgresCPU = processCPU(p.pid())-cpu0, mustPostgresCPU(pg)-pg0
	if po.statements {
		if r.statements, err = costliestStatements(ctx, db, r.sent); err != nil {
			return nil, err
		}
	}
	slices.Sort(latencies)
	if len(latencies) > 0 {
		r.p50, r.p99, r.max = latencies[len(latencies)/2], latencies[len(latencies)*99/100], latencies[len(latencies)-1]
	}

	// Missing at once: the first sites' deadlines end together in a few
	// seconds (their runs expected a grace before), while the others keep
	// signalling.
	progress("%s: %d sites miss their deadline at once", label, r.missing)
	var due time.Time
	if err := db.QueryRow(ctx, `UPDATE heartbeat SET expected_at = now() + interval '3 seconds' - grace_ms * interval '1 millisecond',
		due_at = now() + interval '3 seconds' WHERE site_id <= $1 RETURNING due_at`, r.missing).Scan(&due); err != nil {
		return nil, err
	}
	names := make([]string, r.missing)
	for i := range names {
		names[i] = fmt.Sprintf("*job-%d is down!*", i)
	}
	// The rate before may be more than this machine takes: the queue of
	// signals it left is let drain first, then the others signal at
	// missRate while the deadlines end.
	if po.missRate > 0 {
		go pace(po.missRate, time.Until(due)+30*time.Second, func(k int) { signal(r.missing + k%(n-r.missing)) })
	}
	var heard map[string]time.Time
	for deadline := due.Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if heard = hook.firstSince(due.Add(-time.Second), names); len(heard) == r.missing {
			break
		}
	}
	r.heard = len(heard)
	var delays []time.Duration
	for _, at := range heard {
		delays = append(delays, at.Sub(due))
	}
	slices.Sort(delays)
	if len(delays) > 0 {
		r.missP50, r.missP99, r.missMax = delays[len(delays)/2], delays[len(delays)*99/100], delays[len(delays)-1]
	}
	return r, nil
}

// pace calls f with 0, 1, 2... at rate calls a second for d, each in a
// goroutine of its own (at most 512 at once), and returns how many it
// made.
func pace(rate float64, d time.Duration, f func(int)) int {
	slots := make(chan struct{}, 512)
	var wg sync.WaitGroup
	start := time.Now()
	k := 0
	for {
		at := start.Add(time.Duration(float64(k) / rate * float64(time.Second)))
		if at.Sub(start) >= d {
			break
		}
		time.Sleep(time.Until(at))
		slots <- struct{}{}
		wg.Add(1)
		go func(k int) {
			defer func() { <-slots; wg.Done() }()
			f(k)
		}(k)
		k++
	}
	wg.Wait()
	return k
}

func mustPostgresCPU(dataDir string) float64 {
	v, _ := postgresCPU(dataDir)
	return v
}

// formatPush writes the push benchmark's figures as Markdown.
func formatPush(pgVersion string, r *pushResult) string {
	var b strings.Builder
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
	taken := float64(r.sent - r.refused - r.failed)
	fmt.Fprintf(&b, "## Push sites: %d, each expected every minute (PostgreSQL %s, one instance)\n\n", r.n, pgVersion)
	fmt.Fprintf(&b, "| Measure | Figure |\n|---|---|\n")
	fmt.Fprintf(&b, "| Import of %d push sites | %.1f s |\n", r.n, r.importSeconds)
	fmt.Fprintf(&b, "| Signals taken as fast as they come (64 at once, each site once) | %.0f a second (%d in %.1f s) |\n",
		float64(r.burst)/r.burstSeconds, r.burst, r.burstSeconds)
	fmt.Fprintf(&b, "| Signals at %.0f a second for %s | %d sent in %.1f s (%.0f a second taken), %d refused (429), %d failed |\n",
		r.rate, r.window, r.sent, r.elapsed.Seconds(), taken/r.elapsed.Seconds(), r.refused, r.failed)
	fmt.Fprintf(&b, "| Answer time at that rate: p50 / p99 / max | %s / %s / %s |\n", ms(r.p50), ms(r.p99), ms(r.max))
	if taken > 0 {
		fmt.Fprintf(&b, "| CPU per signal: Uptime + PostgreSQL | %.0f µs + %.0f µs = %.0f µs (%.2f + %.2f of a core) |\n",
			r.uptimeCPU/taken*1e6, r.postgresCPU/taken*1e6, (r.uptimeCPU+r.postgresCPU)/taken*1e6,
			r.uptimeCPU/r.elapsed.Seconds(), r.postgresCPU/r.elapsed.Seconds())
	}
	fmt.Fprintf(&b, "| %d sites missing their deadline at once (grace %s), the others signalling %.0f a second: heard by Slack | %d of %d |\n",
		r.missing, r.grace, r.missRate, r.heard, r.missing)
	fmt.Fprintf(&b, "| From a deadline's end to Slack: p50 / p99 / max (target: under 5 s each) | %s / %s / %s |\n\n",
		ms(r.missP50), ms(r.missP99), ms(r.missMax))
	b.WriteString(r.statements)
	return b.String()
}
