package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"uptime/internal/pglocal"
	"uptime/monitor/schedule"
)

// steadyOptions describe a steady-state run: sites of one interval,
// checked by the scheduler for a while, by one instance or more.
type steadyOptions struct {
	interval  time.Duration
	duration  time.Duration
	warmup    time.Duration
	instances int
	// locations gives each instance a location of its own.
	locations bool
	// kinds are the kinds of check, n sites of each.
	kinds []string
	// statements reports PostgreSQL's statements in the window.
	statements bool
}

// steadyResult is what a steady-state run measured.
type steadyResult struct {
	n, instances     int
	kinds            []string
	perKind          map[string]float64 // checks per second of each kind, in the window
	interval, window time.Duration
	importSeconds    float64
	importCreated    int
	checks           int64
	expected         float64 // checks the window should hold: n × window / interval
	rateMean         float64 // checks started per second
	rateMax          int64
	lateness         []schedule.SchedulerStats // per instance, at the end
	windowLate       []latenessBuckets         // per instance, of the rounds started in the window
	shares           []int64                   // scheduled checks per instance in the window
	uptimeCPU        []float64                 // CPU seconds per instance in the window
	postgresCPU      float64
	bare             bareResult // as fast as it can
	barePaced        bareResult // at the steady state's rate
	rss              []int64
	dbBytes          int64
	doubled          int64   // checks of a site less than half an interval after its previous one
	killRecovery     float64 // until the last site's first check after the kill started
	killRecorded     float64 // until every site had a check recorded after the kill
	killRecoveryErr  string
	locations        bool
	perLocation      map[string]float64 // checks per second from each location, in the window
	outageToSlack    []float64          // seconds from sites failing to their down message
	failToSlack      []float64          // seconds from each one's first failing check to its down message
	outageErr        string
	statements       string // the costliest statements in the window, as a table
	processes        string // PostgreSQL's CPU by process and its tables' vacuums in the window, as a table
}

// steady imports n sites of each of the kinds with the interval into
// instances of Uptime on one database, lets the scheduler run for warmup,
// and measures duration of steady checking; with two instances, it then
// kills the first and measures how long until every site has been checked
// again.
func steady(ctx context.Context, o options, so steadyOptions, self string, cluster *pglocal.Cluster, f *farm, hook *slackHook, n int) (*steadyResult, error) {
	r := &steadyResult{n: n, kinds: so.kinds, instances: so.instances, interval: so.interval, window: so.duration, locations: so.locations}
	name := strings.Join(so.kinds, "_")
	prefix := fmt.Sprintf("steady%d_%s_%d_", n, name, so.instances)
	if so.locations {
		prefix = fmt.Sprintf("steady%d_%s_%dloc_", n, name, so.instances)
	}
	specs := f.sites(so.kinds, n)
	total := len(specs)
	label := fmt.Sprintf("steady %d %s sites", total, strings.Join(so.kinds, "+"))

	urlFile := filepath.Join(o.workDir, fmt.Sprintf("sites-%s-%d.txt", name, n))
	if err := writeSites(urlFile, specs); err != nil {
		return nil, err
	}
	progress("%s: the bare loop, for CPU per check", label)
	b, err := runBare(self, o, f, urlFile, 0)
	if err != nil {
		return nil, err
	}
	r.bare = b
	// The same checks at the steady state's rate, for a minute at most:
	// what spreading the checks over time costs by itself.
	rate := float64(total) / so.interval.Seconds()
	paced := specs[:min(total, int(rate*60))]
	pacedFile := filepath.Join(o.workDir, fmt.Sprintf("sites-paced-%s-%d.txt", name, n))
	if err := writeSites(pacedFile, paced); err != nil {
		return nil, err
	}
	progress("%s: the bare loop at %.0f checks a second", label, rate)
	if r.barePaced, err = runBare(self, o, f, pacedFile, rate); err != nil {
		return nil, err
	}

	var procs []*uptimeProc
	defer func() {
		for _, p := range procs {
			if p != nil {
				p.stop()
			}
		}
	}()
	for i := range so.instances {
		env := []string{
			"DATABASE_URL=" + cluster.URL("postgres"),
			"UPTIME_DATABASE_PREFIX=" + prefix,
			"UPTIME_STATE_DIR=" + filepath.Join(o.workDir, fmt.Sprintf("state-%s%d", prefix, i)),
			"UPTIME_CHECK_TIMEOUT=" + o.timeout.String(),
			"SLACK_WEBHOOK_URL=" + hook.url,
		}
		if so.locations {
			env = append(env, fmt.Sprintf("UPTIME_LOCATION=loc-%d", i+1))
		}
		env = append(env, f.env()...)
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		logFile := filepath.Join(o.workDir, fmt.Sprintf("uptime-%s%d.log", prefix, i))
		progress("%s: starting instance %d (log in %s)", label, i+1, logFile)
		p, err := startUptime(o.uptime, addr, logFile, env)
		if err != nil {
			return nil, err
		}
		procs = append(procs, p)
	}
	db, err := monitorPool(ctx, cluster, prefix)
	if err != nil {
		return nil, err
	}
	defer db.Close()

	progress("%s: importing them, every %s", label, so.interval)
	start := time.Now()
	if r.importCreated, err = importSites(procs[0].url, specs, so.interval); err != nil {
		return nil, err
	}
	r.importSeconds = time.Since(start).Seconds()
	if r.importCreated != total {
		return nil, fmt.Errorf("the import created %d of %d sites", r.importCreated, total)
	}
	// The figures by kind count on the ids the import gave: n of each
	// kind, one kind after another.
	for k, kind := range so.kinds {
		if err := siteIs(procs[0].url, k*n+1, kind); err != nil {
			return nil, err
		}
	}

	progress("%s: warming up for %s", label, so.warmup)
	time.Sleep(so.warmup)

	type snapshot struct {
		at       time.Time
		checks   int64
		size     int64
		uptime   []float64
		postgres float64
		sched    []schedule.SchedulerStats
		late     []latenessBuckets
		pgProcs  pgProcesses
		vacuums  map[string]int64
	}
	take := func() (snapshot, error) {
		var s snapshot
		s.at = time.Now()
		if err := db.QueryRow(ctx, "SELECT count(*), pg_database_size(current_database()) FROM checks").Scan(&s.checks, &s.size); err != nil {
			return s, err
		}
		for _, p := range procs {
			s.uptime = append(s.uptime, processCPU(p.pid()))
			st, err := scheduler(p.url)
			if err != nil {
				return s, err
			}
			s.sched = append(s.sched, st)
			late, err := readLateness(p.url)
			if err != nil {
				return s, err
			}
			s.late = append(s.late, late)
		}
		if so.statements {
			var err error
			if s.pgProcs, err = postgresProcesses(cluster.DataDir()); err != nil {
				return s, err
			}
			if s.vacuums, err = autovacuums(ctx, db); err != nil {
				return s, err
			}
		}
		pg, err := postgresCPU(cluster.DataDir())
		s.postgres = pg
		return s, err
	}
	if so.statements {
		if _, err := db.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements; SELECT pg_stat_statements_reset()"); err != nil {
			return nil, fmt.Errorf("pg_stat_statements: %w", err)
		}
	}
	s0, err := take()
	if err != nil {
		return nil, err
	}
	for left := so.duration; left > 0; left -= time.Minute {
		progress("%s: measuring, %s left", label, left)
		time.Sleep(min(left, time.Minute))
	}
	s1, err := take()
	if err != nil {
		return nil, err
	}
	r.checks = s1.checks - s0.checks
	if so.statements {
		if r.statements, err = costliestStatements(ctx, db, r.checks); err != nil {
			return nil, err
		}
		r.processes = formatProcesses(s1.pgProcs.since(s0.pgProcs), s0.vacuums, s1.vacuums, r.checks)
	}
	r.expected = float64(total) * s1.at.Sub(s0.at).Seconds() / so.interval.Seconds()
	if so.locations {
		r.expected *= float64(so.instances) // each round from each location
	}
	r.dbBytes = s1.size - s0.size
	r.postgresCPU = s1.postgres - s0.postgres
	for i, p := range procs {
		r.uptimeCPU = append(r.uptimeCPU, s1.uptime[i]-s0.uptime[i])
		r.shares = append(r.shares, s1.sched[i].Checks-s0.sched[i].Checks)
		r.lateness = append(r.lateness, s1.sched[i])
		r.windowLate = append(r.windowLate, s1.late[i].since(s0.late[i]))
		r.rss = append(r.rss, peakRSS(p.pid()))
	}

	progress("%s: reading the rate and the rounds", label)
	// Whole seconds inside the window: checks started in each.
	rows, err := db.Query(ctx, `SELECT count(*) FROM checks WHERE checked_at >= $1 AND checked_at < $2
		GROUP BY date_trunc('second', checked_at)`, s0.at.Truncate(time.Second).Add(time.Second), s1.at.Truncate(time.Second))
	if err != nil {
		return nil, err
	}
	var perSecond []int64
	for rows.Next() {
		var c int64
		if err := rows.Scan(&c); err != nil {
			return nil, err
		}
		perSecond = append(perSecond, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(perSecond) > 0 {
		var sum int64
		for _, c := range perSecond {
			sum += c
		}
		r.rateMean = float64(sum) / float64(len(perSecond))
		r.rateMax = slices.Max(perSecond)
	}
	// Failing sites are re-checked seconds apart before they are down: only
	// the checks that found a site up say whether a round was doubled, at a
	// location.
	if err := db.QueryRow(ctx, `SELECT count(*) FROM (
			SELECT checked_at - lag(checked_at) OVER (PARTITION BY site_id, location ORDER BY checked_at) AS gap
			FROM checks WHERE up AND checked_at >= $1 AND checked_at < $2) g
		WHERE gap < $3::interval`, s0.at, s1.at, (so.interval / 2).String()).Scan(&r.doubled); err != nil {
		return nil, err
	}
	rows, err = db.Query(ctx, `SELECT COALESCE(location, ''), count(*) FROM checks WHERE checked_at >= $1 AND checked_at < $2
		GROUP BY location`, s0.at, s1.at)
	if err != nil {
		return nil, err
	}
	r.perLocation = map[string]float64{}
	for rows.Next() {
		var loc string
		var c int64
		if err := rows.Scan(&loc, &c); err != nil {
			return nil, err
		}
		r.perLocation[loc] = float64(c) / s1.at.Sub(s0.at).Seconds()
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}

	r.perKind = map[string]float64{}
	rows, err = db.Query(ctx, `SELECT (site_id - 1) / $3, count(*) FROM checks WHERE checked_at >= $1 AND checked_at < $2
		GROUP BY 1`, s0.at, s1.at, n)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var k int
		var c int64
		if err := rows.Scan(&k, &c); err != nil {
			return nil, err
		}
		if k >= 0 && k < len(so.kinds) {
			r.perKind[so.kinds[k]] = float64(c) / s1.at.Sub(s0.at).Seconds()
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}

	if so.kinds[0] != "http" {
		return r, nil // the outage and the kill are measured with HTTP sites
	}
	// An outage of some sites, from everywhere: how long until Slack
	// hears of each, through the scheduled rounds (a site fails at a
	// random moment of its interval, so the mean wait is half of it).
	progress("%s: an outage of some sites, until Slack hears of it", label)
	// Sites next to each other: their phases, multiples of the golden
	// ratio apart, spread over the interval (sites a thousand apart would
	// be due within seconds of each other).
	var sites []int
	for i := 10; len(sites) < max(10, n/1000); i++ {
		if kind(i) == fast {
			sites = append(sites, i)
		}
	}
	texts := make([]string, len(sites))
	for j, i := range sites {
		texts[j] = f.url(i) + " is down!"
	}
	at := time.Now()
	f.setDown(true, sites...)
	for deadline := at.Add(so.interval + 2*time.Minute); ; time.Sleep(50 * time.Millisecond) {
		seen := hook.firstSince(at, texts)
		if len(seen) == len(texts) {
			for j, i := range sites {
				heard := seen[texts[j]]
				r.outageToSlack = append(r.outageToSlack, heard.Sub(at).Seconds())
				// From the site's first failing check, at any location: what
				// confirming and agreeing cost, beside waiting for the round.
				var first time.Time
				if err := db.QueryRow(ctx, `SELECT min(checked_at) FROM checks WHERE site_id = $1 AND NOT up AND checked_at >= $2`,
					i+1, at).Scan(&first); err != nil {
					return nil, err
				}
				r.failToSlack = append(r.failToSlack, heard.Sub(first).Seconds())
			}
			break
		}
		if time.Now().After(deadline) {
			r.outageErr = fmt.Sprintf("%d of %d down messages within %s", len(seen), len(texts), time.Since(at).Round(time.Second))
			break
		}
	}
	f.setDown(false, sites...)

	if so.instances > 1 && !so.locations {
		progress("%s: killing instance 1", label)
		procs[0].cmd.Process.Signal(syscall.SIGKILL)
		<-procs[0].exited
		procs[0] = nil
		killed := time.Now()
		deadline := killed.Add(so.interval + 5*time.Minute)
		for {
			var checked int
			if err := db.QueryRow(ctx, "SELECT count(DISTINCT site_id) FROM checks WHERE checked_at > $1", killed).Scan(&checked); err != nil {
				return nil, err
			}
			if checked >= total {
				r.killRecorded = time.Since(killed).Seconds()
				// When each site's first check after the kill started: a hanging
				// site's is recorded only after its time limit.
				var last time.Time
				if err := db.QueryRow(ctx, `SELECT max(first) FROM (SELECT min(checked_at) AS first FROM checks
					WHERE checked_at > $1 GROUP BY site_id) f`, killed).Scan(&last); err != nil {
					return nil, err
				}
				r.killRecovery = last.Sub(killed).Seconds()
				break
			}
			if time.Now().After(deadline) {
				r.killRecoveryErr = fmt.Sprintf("%d of %d sites checked in the %s after the kill", checked, total, time.Since(killed).Round(time.Second))
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	return r, nil
}

// importSites imports the sites in one request.
func importSites(base string, sites []spec, interval time.Duration) (int, error) {
	var b bytes.Buffer
	b.WriteString(`{"sites": [`)
	for i, s := range sites {
		if i > 0 {
			b.WriteByte(',')
		}
		site := s.json()
		fmt.Fprintf(&b, `%s, "interval": %q}`, site[:len(site)-1], interval.String())
	}
	b.WriteString("]}")
	resp, err := http.Post(base+"/site/import", "application/json", &b)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("POST /site/import: %d %s", resp.StatusCode, body)
	}
	var out struct {
		Created int
		Errors  []json.RawMessage
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return 0, err
	}
	if len(out.Errors) > 0 {
		return out.Created, fmt.Errorf("POST /site/import: %d rows refused, the first: %s", len(out.Errors), out.Errors[0])
	}
	return out.Created, nil
}

// siteIs checks that the site of the id is of the kind.
func siteIs(base string, id int, kind string) error {
	resp, err := http.Get(fmt.Sprintf("%s/site/%d", base, id))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var s struct{ Kind string }
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return err
	}
	if s.Kind != kind {
		return fmt.Errorf("site %d is of kind %q, want %q: the import did not number the sites in order", id, s.Kind, kind)
	}
	return nil
}

func scheduler(base string) (schedule.SchedulerStats, error) {
	var s schedule.SchedulerStats
	resp, err := http.Get(base + "/scheduler")
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	return s, json.NewDecoder(resp.Body).Decode(&s)
}

// formatSteady writes a steady-state run as Markdown.
func formatSteady(o options, pgVersion string, r *steadyResult) string {
	var b strings.Builder
	farmName := "loopback"
	if o.internet {
		farmName = "internet"
	}
	where := ""
	if r.locations {
		where = fmt.Sprintf(", each its own location (every site checked from %d)", r.instances)
	}
	what := "sites"
	if len(r.kinds) > 1 || r.kinds[0] != "http" {
		what = strings.Join(r.kinds, ", ") + " sites"
		if len(r.kinds) > 1 {
			what += " (" + thousands(r.n) + " of each)"
		}
	}
	fmt.Fprintf(&b, "### %s %s every %s, %d instance%s%s, %s farm, %s measured\n\n",
		thousands(r.n*len(r.kinds)), what, r.interval, r.instances, map[bool]string{true: "s", false: ""}[r.instances > 1], where, farmName, r.window)
	fmt.Fprintf(&b, "%s; PostgreSQL %s. Import of the %s sites in one `POST /site/import`: %s.\n\n",
		machine(), pgVersion, thousands(r.n*len(r.kinds)), secs(r.importSeconds))
	totalCPU := 0.0
	for _, c := range r.uptimeCPU {
		totalCPU += c
	}
	bareCPU := r.bare.CPUSeconds / float64(max(r.bare.Checks, 1))
	pacedCPU := r.barePaced.CPUSeconds / float64(max(r.barePaced.Checks, 1))
	row := func(name, value string) { fmt.Fprintf(&b, "| %s | %s |\n", name, value) }
	b.WriteString("| figure | value |\n| --- | --- |\n")
	row("checks recorded in the window", fmt.Sprintf("%s (%.0f expected: sites × window / interval%s)", thousands(int(r.checks)), r.expected,
		map[bool]string{true: " × locations"}[r.locations]))
	row("checks started per second: mean, max, max/mean", fmt.Sprintf("%.0f, %d, %.2f", r.rateMean, r.rateMax, float64(r.rateMax)/max(r.rateMean, 1)))
	for i, l := range r.lateness {
		row(fmt.Sprintf("lateness, instance %d: p50 / p99 / max, over its latest rounds (the import's first ones among them)", i+1),
			fmt.Sprintf("%.1f / %.1f / %.1f ms; %d rounds missed", l.LatenessMS.P50, l.LatenessMS.P99, l.LatenessMS.Max, l.Missed))
		w := r.windowLate[i]
		row(fmt.Sprintf("lateness in the window, instance %d: p50 / p99 at most (buckets of the histogram)", i+1),
			fmt.Sprintf("%s / %s", lateBound(w.quantile(0.5)), lateBound(w.quantile(0.99))))
	}
	if r.instances > 1 && !r.locations {
		var parts []string
		var sum int64
		for _, s := range r.shares {
			sum += s
		}
		for _, s := range r.shares {
			parts = append(parts, pct(float64(s)/float64(max(sum, 1))))
		}
		row("share of the scheduled checks", strings.Join(parts, " / "))
	}
	var locs []string
	for l := range r.perLocation {
		locs = append(locs, l)
	}
	slices.Sort(locs)
	var perLoc []string
	for _, l := range locs {
		perLoc = append(perLoc, fmt.Sprintf("%s %.1f", l, r.perLocation[l]))
	}
	row("checks recorded per second, by location", strings.Join(perLoc, ", "))
	if len(r.kinds) > 1 {
		var perKind []string
		for _, k := range r.kinds {
			perKind = append(perKind, fmt.Sprintf("%s %.1f", k, r.perKind[k]))
		}
		row("checks recorded per second, by kind", strings.Join(perKind, ", "))
	}
	row("checks of an up site, from one location, less than half an interval apart (a doubled round)", strconv.FormatInt(r.doubled, 10))
	switch {
	case r.outageErr != "":
		row("sites failing everywhere: until Slack heard", r.outageErr)
	case len(r.outageToSlack) > 0:
		spread := func(v []float64) string {
			slices.Sort(v)
			return fmt.Sprintf("%s / %s / %s", secs(v[0]), secs(v[len(v)/2]), secs(v[len(v)-1]))
		}
		row(fmt.Sprintf("%d sites failing everywhere: until Slack heard, min / median / max", len(r.outageToSlack)), spread(r.outageToSlack))
		row("the same, from each one's first failing check (confirmations, agreement, delivery)", spread(r.failToSlack))
	}
	perCheck := totalCPU / float64(max(r.checks, 1))
	row("CPU per check: Uptime, PostgreSQL", fmt.Sprintf("%s, %s", micros(perCheck), micros(r.postgresCPU/float64(max(r.checks, 1)))))
	row("CPU per check: bare loop as fast as it goes, and paced at the same rate", fmt.Sprintf("%s, %s", micros(bareCPU), micros(pacedCPU)))
	row("Uptime's CPU per check against the bare loop: fast, paced", fmt.Sprintf("%.2f×, %.2f× (with PostgreSQL %.2f×, %.2f×)",
		perCheck/bareCPU, perCheck/pacedCPU, (totalCPU+r.postgresCPU)/float64(max(r.checks, 1))/bareCPU,
		(totalCPU+r.postgresCPU)/float64(max(r.checks, 1))/pacedCPU))
	var rss []string
	for _, x := range r.rss {
		rss = append(rss, size(int(x)))
	}
	row("peak RSS per instance", strings.Join(rss, " / "))
	row("database growth", fmt.Sprintf("%s per hour", size(int(float64(r.dbBytes)*float64(time.Hour)/float64(r.window)))))
	if r.instances > 1 && !r.locations {
		if r.killRecoveryErr != "" {
			row("instance 1 killed: every site checked again after", r.killRecoveryErr)
		} else {
			row("instance 1 killed: every site's next check started within, recorded within",
				fmt.Sprintf("%s, %s", secs(r.killRecovery), secs(r.killRecorded)))
		}
	}
	b.WriteString("\n")
	b.WriteString(r.statements)
	b.WriteString(r.processes)
	return b.String()
}

// autovacuums returns how many times autovacuum has vacuumed each table.
func autovacuums(ctx context.Context, db *pgxpool.Pool) (map[string]int64, error) {
	rows, err := db.Query(ctx, "SELECT relname, autovacuum_count FROM pg_stat_user_tables")
	if err != nil {
		return nil, fmt.Errorf("pg_stat_user_tables: %w", err)
	}
	out := map[string]int64{}
	var (
		name string
		n    int64
	)
	_, err = pgx.ForEachRow(rows, []any{&name, &n}, func() error {
		out[name] = n
		return nil
	})
	return out, err
}

// formatProcesses is a table of PostgreSQL's CPU in the window by kind of
// process, in µs a check, and a line naming the tables autovacuum
// vacuumed then, most often first.
func formatProcesses(cpu map[string]float64, vacuums0, vacuums1 map[string]int64, checks int64) string {
	var b strings.Builder
	b.WriteString("PostgreSQL's CPU in the window by process:\n\n| process | µs a check |\n| --- | --- |\n")
	kinds := slices.Collect(maps.Keys(cpu))
	slices.SortFunc(kinds, func(a, b string) int { return cmp.Compare(cpu[b], cpu[a]) })
	for _, k := range kinds {
		name := k
		if k == "ended" {
			name = "processes that ended in the window (autovacuum's workers, mostly)"
		}
		fmt.Fprintf(&b, "| %s | %.1f |\n", name, cpu[k]*1e6/float64(max(checks, 1)))
	}
	var vacuumed []string
	for t, n := range vacuums1 {
		if d := n - vacuums0[t]; d > 0 {
			vacuumed = append(vacuumed, fmt.Sprintf("%s %d", t, d))
		}
	}
	slices.SortFunc(vacuumed, func(a, b string) int {
		na, _ := strconv.Atoi(a[strings.LastIndexByte(a, ' ')+1:])
		nb, _ := strconv.Atoi(b[strings.LastIndexByte(b, ' ')+1:])
		return cmp.Or(cmp.Compare(nb, na), cmp.Compare(a, b))
	})
	fmt.Fprintf(&b, "\nTables autovacuum vacuumed in the window, and how often: %s.\n\n", cmp.Or(strings.Join(vacuumed, ", "), "none"))
	return b.String()
}

// costliestStatements is a table of the statements PostgreSQL spent the
// most time in since pg_stat_statements was reset, with each one's share.
func costliestStatements(ctx context.Context, db *pgxpool.Pool, checks int64) (string, error) {
	rows, err := db.Query(ctx, `SELECT calls, total_exec_time, total_exec_time / sum(total_exec_time) OVER (),
			shared_blks_hit + shared_blks_read, wal_records, left(regexp_replace(query, '\s+', ' ', 'g'), 120)
		FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 15`)
	if err != nil {
		return "", fmt.Errorf("pg_stat_statements: %w", err)
	}
	var b strings.Builder
	b.WriteString("PostgreSQL's costliest statements in the window (time inside the executor, waits included):\n\n")
	b.WriteString("| share | calls | µs a check | buffers a call | WAL records a call | statement |\n| --- | --- | --- | --- | --- | --- |\n")
	var (
		calls, blocks, wal int64
		ms, share          float64
		query              string
	)
	_, err = pgx.ForEachRow(rows, []any{&calls, &ms, &share, &blocks, &wal, &query}, func() error {
		fmt.Fprintf(&b, "| %.0f %% | %d | %.1f | %d | %d | `%s` |\n", 100*share, calls, 1000*ms/float64(max(checks, 1)),
			blocks/max(calls, 1), wal/max(calls, 1), strings.ReplaceAll(query, "|", "\\|"))
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("pg_stat_statements: %w", err)
	}
	b.WriteString("\n")
	return b.String(), nil
}

// formatKinds sums up runs of one kind each, and one of them all, as one
// table: a row per kind, and the mix.
func formatKinds(results []*steadyResult) string {
	var b strings.Builder
	r0 := results[0]
	fmt.Fprintf(&b, "### Kinds of check, %s of each every %s: each alone, and all together\n\n", thousands(r0.n), r0.interval)
	b.WriteString("| kind | checks per second (expected) | lateness p99 in the window, at most | CPU per check: Uptime, PostgreSQL | bare loop paced at the same rate | Uptime against it (with PostgreSQL) |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- |\n")
	for _, r := range results {
		name := strings.Join(r.kinds, " + ")
		if len(r.kinds) > 1 {
			name = "all together"
		}
		var cpu float64
		for _, c := range r.uptimeCPU {
			cpu += c
		}
		checks := float64(max(r.checks, 1))
		paced := r.barePaced.CPUSeconds / float64(max(r.barePaced.Checks, 1))
		p99 := 0.0
		for _, l := range r.windowLate {
			p99 = max(p99, l.quantile(0.99))
		}
		fmt.Fprintf(&b, "| %s | %.1f (%.1f) | %s | %s, %s | %s | %.2f× (%.2f×) |\n", name,
			float64(r.checks)/r.window.Seconds(), float64(r.n*len(r.kinds))/r.interval.Seconds(), lateBound(p99),
			micros(cpu/checks), micros(r.postgresCPU/checks), micros(paced), cpu/checks/paced, (cpu+r.postgresCPU)/checks/paced)
	}
	b.WriteString("\n")
	return b.String()
}
