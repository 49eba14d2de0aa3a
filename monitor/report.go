package monitor

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"uptime/monitor/check"
	"uptime/site"
)

// A probe records nothing itself. It reports its rounds, a batch at a
// time, to the database function probe_report (migration 16), which
// enqueues them as a probe-report job of the probe's location (taken from
// its role, not from the report) that the full instances work: they check
// each round against the schedule and record and decide it as they do
// their own. So a probe taken over can make up the results of its own
// location, and nothing else: the quorum outvotes it.

// ProbeReportArgs is a probe's report, as probe_report enqueues it.
type ProbeReportArgs struct {
	// Location is the probe's, from its role.
	Location string `json:"location"`
	// Rounds are what it saw.
	Rounds []ReportedRound `json:"rounds"`
}

// Kind names the job; probe_report writes it too.
func (ProbeReportArgs) Kind() string { return "probe-report" }

// ReportedRound is a round of one site's checks as a probe reports it.
type ReportedRound struct {
	Site int64 `json:"site"`
	// CutShort marks a confirmation cut short: recorded, deciding nothing.
	CutShort bool            `json:"cut_short,omitempty"`
	Checks   []ReportedCheck `json:"checks"`
}

// ReportedCheck is one check of a reported round.
type ReportedCheck struct {
	Up         bool       `json:"up"`
	Status     int        `json:"status,omitempty"`
	LatencyUS  int64      `json:"latency_us"`
	Reason     string     `json:"reason,omitempty"`
	CertExpiry *time.Time `json:"cert_expiry,omitempty"`
	CheckedAt  time.Time  `json:"checked_at"`
	Degraded   bool       `json:"degraded,omitempty"`
}

// Bounds of what a report may say, past which a check is refused: a
// check's time within an hour before it is recorded (a report waiting
// longer is no news) and a minute after (the clocks of probe and instance
// differ a little), a status of three digits, a latency under ten
// minutes, a reason as a check gives it (see check.Reason).
const (
	reportPast    = time.Hour
	reportFuture  = time.Minute
	reportMaxWait = 10 * time.Minute
)

// HasProbes tells whether a probe's role is registered (deploy/probe-role.sql):
// then roles other than the owner's connect to the monitor's database, and
// no process may trust PostgreSQL's notifications (see queue.PollOnly).
func (s *Service) HasProbes(ctx context.Context) (bool, error) {
	var has bool
	if err := s.db.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM probe_role)").Scan(&has); err != nil {
		return false, fmt.Errorf("read the probes' roles: %w", err)
	}
	return has, nil
}

// report hands a batch of rounds to probe_report.
func (s *Service) report(batch []tickResult) error {
	rounds := make([]ReportedRound, len(batch))
	for i, r := range batch {
		rounds[i] = ReportedRound{Site: r.target.ID, CutShort: r.cutShort, Checks: make([]ReportedCheck, len(r.attempts))}
		for j, a := range r.attempts {
			rounds[i].Checks[j] = ReportedCheck{Up: a.Up, Status: a.Status, LatencyUS: a.Latency.Microseconds(), Reason: a.Reason,
				CertExpiry: a.CertExpiry, CheckedAt: a.CheckedAt, Degraded: a.Degraded}
		}
	}
	body, err := json.Marshal(rounds)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := s.db.Exec(ctx, "SELECT probe_report($1::jsonb)", string(body)); err != nil {
		return fmt.Errorf("report %d rounds: %w", len(rounds), err)
	}
	for _, r := range batch {
		s.countChecks(r.target.URL, r.attempts)
	}
	return nil
}

// recordReport records and decides the rounds of a probe's report, each
// as a round of the report's location: those of sites still scheduled,
// and checked from there, whose checks are within the bounds above and
// newer than the location's latest of the site. A report worked again
// (retry: its job was cut short, by an error or a process killed while it
// recorded) also leaves out the rounds whose checks are recorded already,
// those that decided nothing among them, so nothing is recorded twice. It
// returns how many checks it refused.
func (s *Service) recordReport(ctx context.Context, args ProbeReportArgs, now time.Time, retry bool) (refused int, err error) {
	ids := make([]int64, 0, len(args.Rounds))
	for _, r := range args.Rounds {
		ids = append(ids, r.Site)
	}
	// The states as they are: what is recorded already is told by them.
	targets, states, err := s.dueSites(ctx, ids, nil, false)
	if err != nil {
		return 0, err
	}
	var (
		fails failures
		batch []tickResult
	)
	for _, r := range args.Rounds {
		t, ok := targets[r.Site]
		attempts, valid := reportedAttempts(r, now)
		switch {
		case !ok:
			continue // deleted or paused since
		case !valid || len(t.policy.Locations) > 0 && !slices.Contains(t.policy.Locations, args.Location):
			refused += len(r.Checks)
			continue
		}
		seen := states[r.Site]
		if here, known := seen.at(args.Location); known && !attempts[len(attempts)-1].CheckedAt.After(here.CheckedAt) {
			continue // recorded already
		}
		batch = append(batch, tickResult{target: t.target, attempts: attempts, from: args.Location, cutShort: r.CutShort, reported: true,
			seen: seen})
	}
	if retry {
		if batch, err = s.notRecorded(ctx, args.Location, batch); err != nil {
			return refused, err
		}
	}
	for start := 0; start < len(batch); start += batchSize {
		s.writeBatch(batch[start:min(start+batchSize, len(batch))], &fails)
	}
	if n, first := fails.get(); n > 0 {
		return refused, fmt.Errorf("record a report of %s: %d of %d rounds could not be recorded; first: %w",
			args.Location, n, len(batch), first)
	}
	return refused, nil
}

// notRecorded returns the rounds of the batch whose last check from the
// location is not recorded yet.
func (s *Service) notRecorded(ctx context.Context, location string, batch []tickResult) ([]tickResult, error) {
	ids, ats := make([]int64, len(batch)), make([]time.Time, len(batch))
	for i, r := range batch {
		ids[i], ats[i] = r.target.ID, r.attempts[len(r.attempts)-1].CheckedAt
	}
	rows, err := s.db.Query(ctx, `SELECT c.site_id, c.checked_at FROM unnest($2::bigint[], $3::timestamptz[]) AS r(site_id, at)
		JOIN checks c ON c.site_id = r.site_id AND c.checked_at = r.at AND c.location = $1`, location, ids, ats)
	if err != nil {
		return nil, fmt.Errorf("read the checks of a report recorded already: %w", err)
	}
	type key struct {
		id int64
		at int64
	}
	recorded := map[key]bool{}
	var (
		id int64
		at time.Time
	)
	if _, err := pgx.ForEachRow(rows, []any{&id, &at}, func() error {
		recorded[key{id, at.UnixMicro()}] = true
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read the checks of a report recorded already: %w", err)
	}
	return slices.DeleteFunc(batch, func(r tickResult) bool {
		return recorded[key{r.target.ID, r.attempts[len(r.attempts)-1].CheckedAt.UnixMicro()}]
	}), nil
}

// reportedAttempts returns a reported round's checks as results, and
// whether every one is within the bounds of a report.
func reportedAttempts(r ReportedRound, now time.Time) ([]Result, bool) {
	if len(r.Checks) == 0 || len(r.Checks) > site.MaxConfirmations+1 {
		return nil, false
	}
	out := make([]Result, len(r.Checks))
	for i, c := range r.Checks {
		latency := time.Duration(c.LatencyUS) * time.Microsecond
		switch {
		case c.CheckedAt.Before(now.Add(-reportPast)) || c.CheckedAt.After(now.Add(reportFuture)),
			i > 0 && !c.CheckedAt.After(r.Checks[i-1].CheckedAt),
			c.Status < 0 || c.Status > 999,
			latency < 0 || latency > reportMaxWait,
			len(c.Reason) > check.MaxReason+len("…") || strings.ContainsFunc(c.Reason, unicode.IsControl):
			return nil, false
		}
		out[i] = Result{Up: c.Up, Status: c.Status, Latency: latency, Reason: c.Reason, CertExpiry: c.CertExpiry,
			CheckedAt: c.CheckedAt, Degraded: c.Degraded && c.Up}
	}
	return out, true
}

type probeReportWorker struct {
	river.WorkerDefaults[ProbeReportArgs]
	s *Service
}

func (w *probeReportWorker) Work(ctx context.Context, job *river.Job[ProbeReportArgs]) error {
	refused, err := w.s.recordReport(ctx, job.Args, time.Now(), job.Attempt > 1)
	if refused > 0 {
		w.s.log.Warn("probe report: checks refused, out of the bounds of a check or of the sites checked from its location",
			"location", job.Args.Location, "refused", refused)
	}
	return err
}

// Timeout leaves room for recording 2,000 rounds a batch at a time.
func (w *probeReportWorker) Timeout(*river.Job[ProbeReportArgs]) time.Duration {
	return 5 * time.Minute
}
