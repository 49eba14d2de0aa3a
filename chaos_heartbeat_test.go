//go:build chaos

package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"uptime/internal/fakeslack"
	"uptime/internal/wait"
)

// TestChaosHeartbeatDeadlinesKilled runs two instances over push sites
// whose deadlines pass at once, and kills one of them with SIGKILL while
// they are recording the missed deadlines, then starts it again: each
// site is recorded down once, with one down message decided for it, each
// heard by Slack within its grace and 5 seconds; then each success brings
// one up message.
func TestChaosHeartbeatDeadlinesKilled(t *testing.T) {
	const n = 300
	slack := fakeslack.New(t)
	first, second := twoInstances(t, "SLACK_WEBHOOK_URL="+slack.URL+"/hook")
	db := first.monitorDB(t)
	ctx := context.Background()

	// The sites, imported with tokens of their own.
	type row struct {
		URL       string `json:"url"`
		Name      string `json:"name"`
		Interval  string `json:"interval"`
		Grace     string `json:"grace"`
		TokenHash string `json:"token_hash"`
	}
	var rows []row
	tokens := make([]string, n)
	for i := range n {
		tokens[i] = fmt.Sprintf("%032x", i+1)
		sum := sha256.Sum256([]byte(tokens[i]))
		rows = append(rows, row{URL: fmt.Sprintf("push://%016x", i+1), Name: fmt.Sprintf("job-%d", i), Interval: "1h", Grace: "2s",
			TokenHash: hex.EncodeToString(sum[:])})
	}
	body, _ := json.Marshal(map[string]any{"sites": rows})
	var imported struct{ Created int }
	second.Call(t, "POST", "/site/import", string(body), &imported)
	if imported.Created != n {
		t.Fatalf("imported %d push sites, want %d", imported.Created, n)
	}
	signalAll := func() {
		for i, token := range tokens {
			p := first
			if i%2 == 1 {
				p = second
			}
			resp, err := http.Get("http://" + p.addr + "/heartbeat/" + token)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("the signal of job-%d: %s", i, resp.Status)
			}
		}
	}
	signalAll()
	wait.Until(t, 30*time.Second, "not every push site's success was recorded", func() bool {
		var k int
		db.QueryRow(ctx, `SELECT count(*) FROM heartbeat WHERE expected_at IS NOT NULL`).Scan(&k)
		return k == n
	})

	// Every deadline passes at once, in five seconds; one instance is
	// killed while the two record them.
	var due time.Time
	if err := db.QueryRow(ctx, `UPDATE heartbeat SET expected_at = now() + interval '3 seconds', due_at = now() + interval '5 seconds'
		RETURNING due_at`).Scan(&due); err != nil {
		t.Fatal(err)
	}
	missedChecks := func() int {
		var k int
		db.QueryRow(ctx, `SELECT count(*) FROM checks WHERE reason LIKE 'no signal since%'`).Scan(&k)
		return k
	}
	var atKill int
	for deadline := due.Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if atKill = missedChecks(); atKill > 0 || time.Now().After(deadline) {
			break
		}
	}
	first.kill()
	killedAt := time.Now()
	// Only a deadline on record by now can have had its delivery in flight
	// in the killed instance.
	byKill := missedChecks()
	t.Logf("killed an instance %s after the deadlines, with %d of %d recorded", killedAt.Sub(due).Round(time.Millisecond), atKill, n)
	first.start(t)
	restarted := time.Since(killedAt)

	downRe := regexp.MustCompile(`\*(job-\d+) is down!\*`)
	heard := map[string]time.Time{}
	listen := func(within time.Duration) {
		for deadline := time.Now().Add(within); len(heard) < n && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			for _, b := range slack.Bodies() {
				if m := downRe.FindStringSubmatch(b); m != nil {
					if _, ok := heard[m[1]]; !ok {
						heard[m[1]] = time.Now()
					}
				}
			}
		}
	}
	listen(30 * time.Second)
	var latest time.Duration
	for _, at := range heard {
		latest = max(latest, at.Sub(due))
	}
	soon := len(heard)
	// A delivery the killed instance was making is made again once River
	// rescues its job (after 2 minutes, looked for every 30 s).
	listen(4 * time.Minute)
	var rescued time.Duration
	for _, at := range heard {
		rescued = max(rescued, at.Sub(due))
	}
	time.Sleep(5 * time.Second) // a second message for a site would come meanwhile

	var recorded, doubledChecks, downJobs, doubledJobs int
	db.QueryRow(ctx, `SELECT count(*), count(*) - count(DISTINCT site_id) FROM checks WHERE reason LIKE 'no signal since%'`).Scan(&recorded, &doubledChecks)
	db.QueryRow(ctx, `SELECT count(*), count(*) - count(DISTINCT args->'event'->'site'->>'id') FROM river_job
		WHERE kind = 'uptime-transition.slack-notification' AND args->'event'->>'event' = 'down'`).Scan(&downJobs, &doubledJobs)
	downs := 0
	for _, b := range slack.Bodies() {
		if downRe.MatchString(b) {
			downs++
		}
	}
	f := faultFigures{fault: "SIGKILL of one of two instances while they record 300 missed heartbeat deadlines", sites: n,
		window: time.Since(due).Round(time.Second), performed: n, recorded: recorded, doubled: doubledChecks, missed: n - len(heard),
		maxGap: latest, recoveryIn: restarted}
	f.note = fmt.Sprintf("killed with %d of %d recorded; down messages decided %d, Slack heard %d; %d heard by %s after the deadlines (grace 2 s; bound grace + 5 s)",
		atKill, n, downJobs, downs, soon, latest.Round(100*time.Millisecond))
	if soon < n {
		f.note += fmt.Sprintf(", the %d in delivery at the kill by %s, once River rescued them", n-soon, rescued.Round(time.Second))
	}
	report(t, f)
	if recorded != n {
		var pending, states string
		db.QueryRow(ctx, `SELECT count(*)::text FROM heartbeat WHERE due_at IS NOT NULL`).Scan(&pending)
		db.QueryRow(ctx, `SELECT string_agg(DISTINCT coalesce(reason, 'up'), '; ') FROM site_state`).Scan(&states)
		t.Logf("deadlines still pending: %s; states: %s\nthe restarted instance's log:\n%s", pending, states, first.logTail())
	}
	if recorded != n || doubledChecks != 0 || downJobs != n || doubledJobs != 0 {
		t.Fatalf("%d missed deadlines recorded (%d twice), %d down messages decided (%d twice); want %d once each", recorded, doubledChecks, downJobs, doubledJobs, n)
	}
	if len(heard) != n {
		t.Errorf("Slack heard %d of %d sites down", len(heard), n)
	}
	if latest > 2*time.Second+5*time.Second || n-soon > byKill {
		t.Errorf("%d sites heard down by %s after their deadline, want all within their grace and 5 s but those in delivery at the kill (at most the %d on record by then)",
			soon, latest, byKill)
	}

	// Each success brings one up message.
	signalAll()
	wait.Until(t, time.Minute, "Slack did not hear every site back up", func() bool {
		ups := 0
		for _, b := range slack.Bodies() {
			if strings.Contains(b, "is back up") {
				ups++
			}
		}
		return ups >= n
	})
	time.Sleep(3 * time.Second)
	var upJobs int
	db.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'uptime-transition.slack-notification' AND args->'event'->>'event' = 'up'`).Scan(&upJobs)
	if upJobs != n {
		t.Errorf("%d up messages decided, want %d", upJobs, n)
	}
}
