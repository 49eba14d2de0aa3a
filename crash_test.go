package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// hitCounter is a site that counts the requests it gets and the ones it is
// answering now, answering each after delay.
type hitCounter struct {
	hits, inFlight atomic.Int32
	delay          time.Duration
}

func (h *hitCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.hits.Add(1)
	h.inFlight.Add(1)
	defer h.inFlight.Add(-1)
	time.Sleep(h.delay)
}

// TestKilledDuringCheckAllResumesOnSchedule kills the real binary with
// SIGKILL while a scheduled check-all is running, starts it again, and
// expects scheduled checking to go on: the killed run must not hold up the
// ones after it, and no round may check a site twice.
func TestKilledDuringCheckAllResumesOnSchedule(t *testing.T) {
	killDuringCheckAll(t, 1)
}

// killDuringCheckAll kills the program during a scheduled round the given
// number of times, each time expecting checking to resume after a restart.
func killDuringCheckAll(t *testing.T, kills int) {
	slow := &hitCounter{delay: 1500 * time.Millisecond}
	fast := &hitCounter{}
	slowSrv, fastSrv := httptest.NewServer(slow), httptest.NewServer(fast)
	defer slowSrv.Close()
	defer fastSrv.Close()

	p := newProgram(t, "UPTIME_CHECK_EVERY=2s")
	p.start(t)
	p.AddSite(t, slowSrv.URL)
	p.AddSite(t, fastSrv.URL)

	for round := 1; round <= kills; round++ {
		// Wait until a scheduled round is checking the slow site, then kill.
		for deadline := time.Now().Add(60 * time.Second); slow.hits.Load() < 3 || slow.inFlight.Load() == 0; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("kill %d: no scheduled check of the slow site in progress within 60s (%d hits)", round, slow.hits.Load())
			}
		}
		p.kill()
		killedAt := fast.hits.Load()
		slow.hits.Store(0)

		p.start(t)
		// Leadership passes to the new process once the dead one's lease
		// ends (about 15s); then checking must resume at its 2s interval.
		for deadline := time.Now().Add(45 * time.Second); fast.hits.Load() < killedAt+3; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("after kill %d the fast site was checked %d times in 45s, want 3 or more: scheduled checking did not resume",
					round, fast.hits.Load()-killedAt)
			}
		}
	}

	// No round checked a site twice: checks of the fast site are about an
	// interval apart, never two at once. Its first check, made when it was
	// added, may fall next to the first round's and is left out.
	conn := p.monitorDB(t)
	var doubled int
	err := conn.QueryRow(context.Background(), `SELECT count(*) FROM (
		SELECT checked_at - lag(checked_at) OVER (ORDER BY checked_at) AS gap FROM (
			SELECT checked_at FROM checks WHERE site_id = 2 ORDER BY checked_at OFFSET 1) c) g
		WHERE gap < interval '500 milliseconds'`).Scan(&doubled)
	if err != nil {
		t.Fatal(err)
	}
	if doubled != 0 {
		t.Fatalf("%d checks of the fast site came less than 500ms after the one before: a round was doubled", doubled)
	}
}

// TestDBShellOnANewStateDirectory opens `uptime db shell monitor` where
// `uptime run` never ran: the databases are made and migrated first, so the
// shell finds the tables.
func TestDBShellOnANewStateDirectory(t *testing.T) {
	p := newProgram(t)
	cmd := exec.Command(p.bin, "db", "shell", "monitor")
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdin = strings.NewReader("SELECT count(*) AS checks_recorded FROM checks;\n")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "checks_recorded") || !strings.Contains(string(out), "0") {
		t.Fatalf("uptime db shell monitor on a new state directory: %v\n%s", err, out)
	}
}
