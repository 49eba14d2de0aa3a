package monitor

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"uptime/internal/wait"
)

// Taking a site off the schedule waits for the transactions recording its
// checks, and one that holds the schedule after it finds the site gone,
// though it asked while forgetting waited. A forgetting stopped after the
// site left the schedule, its history still there, is finished by
// reconciliation.
func TestForgetWaitsForRecordingAndIsFinished(t *testing.T) {
	ctx := context.Background()
	s, db := newStateService(t, 2, io.Discard)
	for _, q := range []string{
		`INSERT INTO site_state (site_id, url, up, checked_at) VALUES (1, 'https://a.example/', true, now()), (2, 'https://a.example/', true, now())`,
		`INSERT INTO checks (site_id, up, checked_at) VALUES (1, true, now()), (2, true, now())`,
	} {
		if _, err := db.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}

	recording, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer recording.Rollback(ctx)
	if held, err := lockScheduled(ctx, recording, []int64{1, 2}); err != nil || len(held) != 2 {
		t.Fatalf("held %v, %v", held, err)
	}
	waiting := func(n int) func() bool {
		return func() bool {
			var got int
			db.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`).Scan(&got)
			return got == n
		}
	}
	unscheduled := make(chan error, 1)
	go func() { unscheduled <- s.unschedule(ctx, []int64{1}) }()
	wait.Until(t, 10*time.Second, "the forgetting does not wait for the recording", waiting(1))
	// A second recording asks while forgetting waits for the first.
	second := make(chan []int64, 1)
	go func() {
		err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
			held, err := lockScheduled(ctx, tx, []int64{1, 2})
			second <- held
			return err
		})
		if err != nil {
			t.Error(err)
		}
	}()
	wait.Until(t, 10*time.Second, "the second recording does not wait behind the forgetting", waiting(2))
	select {
	case err := <-unscheduled:
		t.Fatalf("unscheduled while a recording held the schedule: %v", err)
	default: // waiting, as pg_locks said
	}
	if _, err := recording.Exec(ctx, `INSERT INTO checks (site_id, up, checked_at) VALUES (1, true, now())`); err != nil {
		t.Fatal(err)
	}
	if err := recording.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-unscheduled; err != nil {
		t.Fatal(err)
	}
	if held := <-second; len(held) != 1 || held[0] != 2 {
		t.Errorf("a recording after the forgetting holds %v, want [2]", held)
	}

	count := func(q string) int {
		t.Helper()
		var n int
		if err := db.QueryRow(ctx, q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(`SELECT count(*) FROM monitored WHERE site_id = 1`) + count(`SELECT count(*) FROM site_state WHERE site_id = 1`); n != 0 {
		t.Errorf("%d rows of schedule and state left once unscheduled", n)
	}
	if n := count(`SELECT count(*) FROM checks WHERE site_id = 1`); n != 2 {
		t.Errorf("%d checks of the site before its history is deleted, want 2", n)
	}
	// Stopped here: reconciliation finds it, and finishes.
	orphans, err := s.copy.Orphans(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(orphans) != 1 || orphans[0] != 1 {
		t.Fatalf("orphans %v, want [1]", orphans)
	}
	if err := s.forget(ctx, orphans); err != nil {
		t.Fatal(err)
	}
	if n := count(`SELECT count(*) FROM checks WHERE site_id = 1`) + count(`SELECT count(*) FROM forgetting`); n != 0 {
		t.Errorf("%d rows of checks and forgetting left once forgotten", n)
	}
	if n := count(`SELECT count(*) FROM checks WHERE site_id = 2`) + count(`SELECT count(*) FROM monitored WHERE site_id = 2`); n != 2 {
		t.Errorf("the other site has %d rows of checks and schedule, want 2", n)
	}
}
