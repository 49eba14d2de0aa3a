package monitor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"uptime/internal/due"
	"uptime/internal/errs"
	"uptime/internal/text"
	"uptime/site"
)

// A push site's job reports in at its ping URL: a run began (/start), it
// ended well (nothing after the token, or exit code 0), it failed (/fail,
// or another exit code), or a line for the record (/log). Each end of a
// run is recorded as a check of the site (its length, from its start, as
// the latency) and decided as any check is. The deadline, the earliest of
// the awaited run's expected time and each run's start, plus the grace, is
// a row in the heartbeat table: every instance looks each second for
// deadlines passed (deadlines.go), and one of them records the site down,
// once, in the transaction that moves the deadline on.

// Signal kinds, as the heartbeat_signal table keeps them.
const (
	signalSuccess = "success"
	signalFail    = "fail"
	signalExit    = "exit"
	signalStart   = "start"
	signalLog     = "log"
)

// MaxPingBody is how much of a signal's body is kept, as Healthchecks
// keeps it; the rest is cut off. A ping's answer says it in Ping-Body-Limit.
const MaxPingBody = 10_000

// A Ping is one signal of a push site's job.
type Ping struct {
	// Token is the token in the ping URL.
	Token string
	// Signal is what follows the token: empty, start, fail, log, or an
	// exit code from 0 to 255.
	Signal string
	// RID pairs a run's start with its end, where runs overlap: a UUID,
	// or empty.
	RID string
	// Body is what a POST carried, at most MaxPingBody bytes.
	Body string
	// At is when the signal came.
	At time.Time
}

// signal is what a ping says: its kind and, for an exit code, the code.
type signal struct {
	kind string
	code int
}

// signalOf reads what a ping URL says after its token.
func signalOf(what string) (signal, error) {
	switch what {
	case "":
		return signal{kind: signalSuccess}, nil
	case signalFail, signalStart, signalLog:
		return signal{kind: what}, nil
	}
	code, err := strconv.Atoi(what)
	if err != nil || code < 0 || code > 255 || strconv.Itoa(code) != what {
		return signal{}, errs.Errorf(errs.NotFound, "a ping URL ends with its token, /start, /fail, /log, or an exit code from 0 to 255")
	}
	return signal{kind: signalExit, code: code}, nil
}

// ends tells whether the signal ends a run, and so is a check of the site.
func (g signal) ends() bool { return g.kind != signalStart && g.kind != signalLog }

// up tells whether a run that ended so went well.
func (g signal) up() bool { return g.kind == signalSuccess || g.kind == signalExit && g.code == 0 }

// reason says why a run that ended so is down, quoting its body.
func (g signal) reason(body string) string {
	why := "the job reported a failure"
	if g.kind == signalExit {
		why = fmt.Sprintf("exit code %d", g.code)
	}
	if q := quoteBody(body); q != "" {
		why += ": " + q
	}
	return why
}

// maxQuoted is the most of a body a down message quotes: its end, where a
// job's error usually is.
const maxQuoted = 200

// quoteBody is a signal's body as a down message quotes it: on one line,
// what looks like a credential hidden, shortened to its end.
func quoteBody(body string) string {
	b := strings.Join(strings.Fields(strings.ToValidUTF8(body, "\uFFFD")), " ")
	if b == "" {
		return ""
	}
	b = text.RedactOutput(b)
	if len(b) > maxQuoted {
		cut := len(b) - maxQuoted
		for cut < len(b) && b[cut]&0xC0 == 0x80 {
			cut++
		}
		b = "…" + b[cut:]
	}
	return strconv.Quote(b)
}

// rid is the form of a run's id: a UUID.
var rid = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// pushState is a push site's row of the heartbeat table.
type pushState struct {
	id                   int64
	schedule             due.Schedule
	grace                time.Duration
	expected, lastSignal *time.Time
	lastSuccess          *time.Time
	signals              int64
}

// pushColumns are the columns scanPush reads.
const pushColumns = `site_id, period_ms, grace_ms, cron, timezone, expected_at, last_signal_at, last_success_at, signals`

// scanPush reads a row of pushColumns, and of more columns after them
// into more.
func scanPush(row pgx.Row, more ...any) (pushState, error) {
	var (
		p                  pushState
		periodMS, graceMS  int64
		cronExpr, timezone string
	)
	dest := append([]any{&p.id, &periodMS, &graceMS, &cronExpr, &timezone, &p.expected, &p.lastSignal, &p.lastSuccess, &p.signals}, more...)
	if err := row.Scan(dest...); err != nil {
		return p, err
	}
	p.grace = time.Duration(graceMS) * time.Millisecond
	p.schedule = due.Every(time.Duration(periodMS) * time.Millisecond)
	if cronExpr != "" {
		sched, err := due.Cron(cronExpr, timezone)
		if err != nil {
			return p, fmt.Errorf("the schedule of push site %d: %w", p.id, err)
		}
		p.schedule = sched
	}
	return p, nil
}

// keptSignals is how many signals of a site are kept, about; the oldest
// beyond them are deleted every pruneEvery signals.
const (
	keptSignals = 100
	pruneEvery  = 25
)

// Signal records a ping of a push site's job (see Ping). An unknown token
// is not found; a ping of a paused site is taken and changes nothing.
func (s *Service) Signal(ctx context.Context, p Ping) error {
	g, err := signalOf(p.Signal)
	if err != nil {
		return err
	}
	if p.RID != "" && !rid.MatchString(p.RID) {
		return errs.Errorf(errs.InvalidArgument, "rid must be a UUID, as 3f2a6c1e-8b0d-4f5e-9a7c-2d1b0e4f6a8c")
	}
	if p.At.IsZero() {
		p.At = time.Now()
	}
	hash := site.HashToken(p.Token)
	id, err := s.pushSites.id(ctx, s.db, hash)
	if err != nil {
		return err
	}
	// The site's target is read before the transaction, so that no
	// signal holds a connection while it waits for another; one that
	// changed meanwhile is read again.
	for range 3 {
		t, version, err := s.pushSites.target(ctx, s, id)
		if err != nil {
			return err
		}
		err = s.signalTx(ctx, g, p, hash, t, version)
		if !errors.Is(err, errStaleTarget) {
			return err
		}
		s.pushSites.drop(id)
	}
	return fmt.Errorf("record a signal of site %d: its settings keep changing", id)
}

// errStaleTarget is a site's target older than its heartbeat row.
var errStaleTarget = errors.New("the site changed meanwhile")

// signalTx records a ping of the push site t, at the version, whose
// token has the hash.
func (s *Service) signalTx(ctx context.Context, g signal, p Ping, hash string, t *target, version int64) error {
	id := t.ID
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("record a signal: %w", err)
	}
	defer tx.Rollback(ctx)
	if held, err := lockScheduled(ctx, tx, []int64{id}); err != nil {
		return err
	} else if len(held) == 0 {
		s.pushSites.forget(hash)
		return errs.Errorf(errs.NotFound, "no push site has this ping URL")
	}
	// The heartbeat's row after the schedule's and before the state's,
	// as the deadlines' pass takes them.
	var (
		rowVersion int64
		paused     bool
		going      int
	)
	st, err := scanPush(tx.QueryRow(ctx, `SELECT `+pushColumns+`, version, paused,
			(SELECT count(*) FROM heartbeat_run r WHERE r.site_id = heartbeat.site_id)
		FROM heartbeat WHERE site_id = $1 AND token_hash = $2 FOR UPDATE`, id, hash), &rowVersion, &paused, &going)
	if errors.Is(err, pgx.ErrNoRows) { // its token was made anew meanwhile
		s.pushSites.forget(hash)
		return errs.Errorf(errs.NotFound, "no push site has this ping URL")
	}
	if err != nil {
		return fmt.Errorf("read the heartbeat of site %d: %w", id, err)
	}
	if paused {
		return nil
	}
	if rowVersion != version {
		return errStaleTarget
	}
	var attempts []Result
	var took *time.Duration
	switch {
	case g.kind == signalStart:
		if _, err := tx.Exec(ctx, `INSERT INTO heartbeat_run (site_id, rid, started_at) VALUES ($1, $2, $3)
			ON CONFLICT (site_id, rid) DO UPDATE SET started_at = excluded.started_at`, id, p.RID, p.At); err != nil {
			return fmt.Errorf("record the start of a run of site %d: %w", id, err)
		}
	case g.ends():
		attempts = []Result{{Up: g.up(), CheckedAt: p.At}}
		if !g.up() {
			attempts[0].Reason = g.reason(p.Body)
		}
		s.markMaintenance(ctx, t, attempts)
		if going > 0 {
			var started time.Time
			err := tx.QueryRow(ctx, `DELETE FROM heartbeat_run WHERE site_id = $1 AND rid = $2 RETURNING started_at`, id, p.RID).Scan(&started)
			switch {
			case err == nil:
				d := max(p.At.Sub(started), 0)
				took = &d
				attempts[0].Latency = d
			case !errors.Is(err, pgx.ErrNoRows):
				return fmt.Errorf("end a run of site %d: %w", id, err)
			}
		}
		// A run ended, well or not: the next is awaited.
		var awaited time.Time
		if st.expected != nil {
			awaited = *st.expected
		}
		if next := st.schedule.After(awaited, p.At, st.grace); !next.IsZero() {
			st.expected = &next
		}
		if g.up() {
			st.lastSuccess = &p.At
		}
		if err := s.insertChecks(ctx, tx, id, s.opts.Location, attempts); err != nil {
			return err
		}
		if err := s.decideTx(ctx, tx, t, s.opts.Location, attempts); err != nil {
			return err
		}
	}
	// The signal kept, the deadline moved on, in one round trip.
	batch := &pgx.Batch{}
	queueSignal(batch, id, g, p, took)
	batch.Queue(`UPDATE heartbeat SET last_signal_at = $2, last_success_at = $3, expected_at = $4,
			signals = signals + 1, due_at = `+dueAt("$4")+` WHERE site_id = $1`,
		id, p.At, st.lastSuccess, st.expected)
	if (st.signals+1)%pruneEvery == 0 {
		batch.Queue(`DELETE FROM heartbeat_signal WHERE site_id = $1 AND at < (
			SELECT at FROM heartbeat_signal WHERE site_id = $1 ORDER BY at DESC OFFSET $2 LIMIT 1)`, id, keptSignals-1)
	}
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("record a signal of site %d: %w", id, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("record a signal of site %d: %w", id, err)
	}
	s.countChecks(t.URL, attempts)
	return nil
}

// pushSites remembers, for the signals, which push site each token's hash
// names and each push site's target at its version, so that a signal
// reads neither the site's copy nor its token's row but once.
type pushSites struct {
	mu      sync.Mutex
	ids     map[string]int64 // token hash → site id
	targets map[int64]versioned
}

type versioned struct {
	version int64
	t       *target
}

// maxRemembered bounds what pushSites remembers; past it, it starts over.
const maxRemembered = 1 << 18

// id returns the id of the push site whose token has the hash.
func (c *pushSites) id(ctx context.Context, db *pgxpool.Pool, hash string) (int64, error) {
	c.mu.Lock()
	id, ok := c.ids[hash]
	c.mu.Unlock()
	if ok {
		return id, nil
	}
	err := db.QueryRow(ctx, "SELECT site_id FROM heartbeat WHERE token_hash = $1", hash).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, errs.Errorf(errs.NotFound, "no push site has this ping URL")
	}
	if err != nil {
		return 0, fmt.Errorf("find the push site of a signal: %w", err)
	}
	c.mu.Lock()
	if c.ids == nil || len(c.ids) >= maxRemembered {
		c.ids = make(map[string]int64)
	}
	c.ids[hash] = id
	c.mu.Unlock()
	return id, nil
}

// forget forgets a token's hash, made anew or deleted.
func (c *pushSites) forget(hash string) {
	c.mu.Lock()
	delete(c.ids, hash)
	c.mu.Unlock()
}

// target returns the push site with the id as the monitor's copy last
// held it, and its version.
func (c *pushSites) target(ctx context.Context, s *Service, id int64) (*target, int64, error) {
	c.mu.Lock()
	v, ok := c.targets[id]
	c.mu.Unlock()
	if ok {
		return v.t, v.version, nil
	}
	e, shown, found, err := s.copy.Entry(ctx, id)
	if err != nil {
		return nil, 0, err
	}
	if !found {
		return nil, 0, errs.Errorf(errs.NotFound, "no push site has this ping URL")
	}
	t := newTarget(e.Site, shown, s.config(&e))
	c.mu.Lock()
	if c.targets == nil || len(c.targets) >= maxRemembered {
		c.targets = make(map[int64]versioned)
	}
	c.targets[id] = versioned{e.Version, t}
	c.mu.Unlock()
	return t, e.Version, nil
}

// drop forgets a push site's target, older than its copy.
func (c *pushSites) drop(id int64) {
	c.mu.Lock()
	delete(c.targets, id)
	c.mu.Unlock()
}

// dueAt is the deadline a heartbeat row's update sets, from its new
// expected_at, the parameter named: the earliest of the awaited run's
// time and each run's start, plus the grace; none while nothing is
// awaited or going.
func dueAt(expected string) string {
	return `LEAST(` + expected + `::timestamptz, (SELECT min(started_at) FROM heartbeat_run r WHERE r.site_id = heartbeat.site_id))
		+ grace_ms * interval '1 millisecond'`
}

// queueSignal queues the keeping of a signal, for the site's list of
// recent runs.
func queueSignal(batch *pgx.Batch, id int64, g signal, p Ping, took *time.Duration) {
	var code *int
	if g.kind == signalExit {
		code = &g.code
	}
	var ms *int64
	if took != nil {
		v := took.Milliseconds()
		ms = &v
	}
	body := strings.ToValidUTF8(strings.ReplaceAll(p.Body, "\x00", ""), "\uFFFD")
	batch.Queue(`INSERT INTO heartbeat_signal (site_id, at, kind, exit_code, rid, duration_ms, body)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, id, p.At, g.kind, code, p.RID, ms, body)
}

// signalsPerSecond is how many signals of one token an instance takes in a
// second; beyond, it answers 429.
const signalsPerSecond = 5

// tokenLimit counts each token's signals in the current second.
type tokenLimit struct {
	mu     sync.Mutex
	second int64
	counts map[string]int
}

// allow tells whether a signal of the token may be taken now.
func (l *tokenLimit) allow(token string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if sec := now.Unix(); sec != l.second || l.counts == nil {
		l.second, l.counts = sec, make(map[string]int)
	}
	l.counts[token]++
	return l.counts[token] <= signalsPerSecond
}

// handleSignal serves GET, HEAD and POST on a ping URL,
// /heartbeat/<token>[/<signal>][?rid=<uuid>], open to anyone with the
// token: OK; not found for a token no push site has; 429 beyond
// signalsPerSecond signals of a token a second.
func (s *Service) handleSignal(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Ping-Body-Limit", strconv.Itoa(MaxPingBody))
	p := Ping{Token: r.PathValue("token"), Signal: r.PathValue("signal"), RID: r.URL.Query().Get("rid"), At: time.Now()}
	if !s.pings.allow(p.Token, p.At) {
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprintf(w, "too many signals: at most %d a second\n", signalsPerSecond)
		return
	}
	if r.Method == http.MethodPost {
		body, err := io.ReadAll(io.LimitReader(r.Body, MaxPingBody))
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte("could not read the body\n"))
			return
		}
		p.Body = string(body)
	}
	err := s.Signal(r.Context(), p)
	var e *errs.Error
	switch {
	case err == nil:
		w.Write([]byte("OK\n"))
	case errs.Is(err, errs.NotFound), errs.Is(err, errs.InvalidArgument):
		errors.As(err, &e)
		code := http.StatusNotFound
		if e.Code == errs.InvalidArgument {
			code = http.StatusBadRequest
		}
		w.WriteHeader(code)
		w.Write([]byte(e.Message + "\n"))
	default:
		s.log.Warn("push sites: could not record a signal", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("could not record the signal; try again\n"))
	}
}

// WatchItself has the instance report, as a push site's job would, to the
// push site whose token is token, every every while its checking is
// healthy: when checking stalls, or every instance is gone and one comes
// back, that site is late, and alerted as any.
func (s *Service) WatchItself(token string, every time.Duration) {
	s.watchdog.OnHealthy(every, func(ctx context.Context) {
		if err := s.Signal(ctx, Ping{Token: token}); err != nil && !errs.Is(err, errs.NotFound) && ctx.Err() == nil {
			s.log.Warn("watching itself: could not report in", "err", err)
		}
	})
}
