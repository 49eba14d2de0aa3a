package main

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// formatReport writes the results as Markdown: the machine, then one
// table with a column for each number of sites.
func formatReport(o options, pgVersion string, results []*result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Measured %s on %s.\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), machine())
	fmt.Fprintf(&b, "Go %s, PostgreSQL %s. Checks: %d at once, %s time limit, 2 confirmations 3 s apart (the defaults).\n\n",
		strings.TrimPrefix(runtime.Version(), "go"), pgVersion, o.concurrency, o.timeout)
	if o.internet {
		b.WriteString("Farm like the internet: one site in four over HTTPS (a new TLS handshake each check), " +
			"every site 20 to 300 ms away.\n\n")
	} else {
		b.WriteString("Farm on loopback: every site over HTTP, answering at once.\n\n")
	}

	row := func(name string, f func(r *result) string) {
		fmt.Fprintf(&b, "| %s |", name)
		for _, r := range results {
			fmt.Fprintf(&b, " %s |", f(r))
		}
		b.WriteString("\n")
	}
	b.WriteString("| |")
	for _, r := range results {
		fmt.Fprintf(&b, " %s sites |", thousands(r.n))
	}
	b.WriteString("\n|---|")
	for range results {
		b.WriteString("---:|")
	}
	b.WriteString("\n")

	row("farm: fast / slow / failing / refusing / hanging", func(r *result) string {
		return fmt.Sprintf("%d / %d / %d / %d / %d", r.mix[fast], r.mix[slow], r.mix[fail], r.mix[refuse], r.mix[hang])
	})
	row("**check-all tick** (median)", func(r *result) string { return secs(r.tickMedian().seconds) })
	row("bare loop over the same farm (median)", func(r *result) string { return secs(r.bareMedian().Seconds) })
	row("checks per second: Uptime / bare", func(r *result) string {
		return fmt.Sprintf("%s / %s", thousands(int(r.checksPerSecond())), thousands(int(r.bareChecksPerSecond())))
	})
	row("**throughput, share of bare**", func(r *result) string { return pct(r.checksPerSecond() / r.bareChecksPerSecond()) })
	row("CPU per check: Uptime + PostgreSQL", func(r *result) string {
		up, pg := r.cpuPerCheck()
		return fmt.Sprintf("%s + %s", micros(up), micros(pg))
	})
	row("CPU per check: bare", func(r *result) string { return micros(r.bareCPUPerCheck()) })
	row("**CPU per check, times bare**", func(r *result) string {
		up, pg := r.cpuPerCheck()
		return fmt.Sprintf("%.2f×", (up+pg)/r.bareCPUPerCheck())
	})
	row("**peak RSS of Uptime**", func(r *result) string { return fmt.Sprintf("%.0f MiB", float64(r.rss)/(1<<20)) })
	row("database growth per 1,000 checks", func(r *result) string {
		var bytes, checks int64
		for _, t := range r.ticks {
			bytes += t.dbBytes
			checks += t.checks
		}
		return fmt.Sprintf("%.0f KiB", float64(bytes)/float64(checks)*1000/1024)
	})
	row("adding the sites (`POST /site`, 16 at a time)", func(r *result) string {
		return fmt.Sprintf("%s (%s/s)", secs(r.addSeconds), thousands(int(float64(r.n)/r.addSeconds)))
	})
	row("then until every new site was checked", func(r *result) string { return secs(r.firstChecksSeconds) })
	row("**restart to first complete tick**", func(r *result) string {
		return fmt.Sprintf("%s (%s checks)", secs(r.restartToTick), thousands(int(r.restartChecks)))
	})
	for i := range results[0].latencies {
		row(results[0].latencies[i].name+": p50 / p99", func(r *result) string {
			l := r.latencies[i]
			return fmt.Sprintf("%s / %s (%s)", millis(l.p50), millis(l.p99), size(l.bytes))
		})
	}
	row("**dashboard, first page shown** (median / worst of 5)", func(r *result) string {
		if len(r.dashboard) == 0 {
			return r.dashboardErr
		}
		return fmt.Sprintf("%s / %s", secs(median(r.dashboard)), secs(slices.Max(r.dashboard)))
	})
	row("**down → Slack** (median / worst)", func(r *result) string {
		return fmt.Sprintf("%s / %s (%d sites)", secs(median(r.downToSlack)), secs(slices.Max(r.downToSlack)), len(r.downToSlack))
	})
	row("back up → Slack (median / worst)", func(r *result) string {
		return fmt.Sprintf("%s / %s", secs(median(r.upToSlack)), secs(slices.Max(r.upToSlack)))
	})
	return b.String()
}

func (r *result) tickMedian() tickResult {
	s := slices.Clone(r.ticks)
	slices.SortFunc(s, func(a, b tickResult) int { return int((a.seconds - b.seconds) * 1e6) })
	return s[len(s)/2]
}

func (r *result) bareMedian() bareResult {
	s := slices.Clone(r.bare)
	slices.SortFunc(s, func(a, b bareResult) int { return int((a.Seconds - b.Seconds) * 1e6) })
	return s[len(s)/2]
}

func (r *result) checksPerSecond() float64 { return float64(r.n) / r.tickMedian().seconds }

func (r *result) bareChecksPerSecond() float64 { return float64(r.n) / r.bareMedian().Seconds }

// cpuPerCheck is the CPU time per recorded check over every tick, in
// seconds, of Uptime and of PostgreSQL.
func (r *result) cpuPerCheck() (uptime, postgres float64) {
	var checks int64
	for _, t := range r.ticks {
		uptime += t.uptimeCPU
		postgres += t.postgresCPU
		checks += t.checks
	}
	return uptime / float64(checks), postgres / float64(checks)
}

func (r *result) bareCPUPerCheck() float64 {
	var cpu float64
	var checks int
	for _, b := range r.bare {
		cpu += b.CPUSeconds
		checks += b.Checks
	}
	return cpu / float64(checks)
}

func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		fmt.Sscanf(strings.SplitN(string(b), "\n", 2)[0], "MemTotal: %d kB", &kb)
		mem = fmt.Sprintf(", %.0f GiB of memory", float64(kb)/(1<<20))
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return fmt.Sprintf("%d cores of %s%s, Linux %s", runtime.NumCPU(), model, mem, strings.TrimSpace(string(kernel)))
}

func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func pct(f float64) string { return fmt.Sprintf("%.0f %%", 100*f) }

func secs(s float64) string {
	if s < 10 {
		return fmt.Sprintf("%.2f s", s)
	}
	return fmt.Sprintf("%.1f s", s)
}

func micros(s float64) string { return fmt.Sprintf("%.0f µs", s*1e6) }

func millis(d time.Duration) string {
	ms := float64(d.Microseconds()) / 1000
	if ms < 10 {
		return fmt.Sprintf("%.1f ms", ms)
	}
	return fmt.Sprintf("%.0f ms", ms)
}

func size(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
