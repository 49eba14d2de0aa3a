package monitor

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"uptime/internal/dbutil"
	"uptime/internal/pgtest"
	"uptime/internal/pubsub"
	"uptime/internal/queue"
	"uptime/internal/seal"
	"uptime/monitor/check"
	"uptime/monitor/event"
)

// The schedule's copies written before credentials were sealed are sealed
// in place at start-up, with the URL each site's state keeps, and checked
// with every credential as before; an instance or probe with another key
// refuses to start.
func TestSealOlderCopies(t *testing.T) {
	ctx := context.Background()
	dbURL := pgtest.NewDatabase(t)
	if err := dbutil.Migrate(dbURL, pgtest.MigrationsBefore(t, Migrations, "migrations", 14), "migrations"); err != nil {
		t.Fatal(err)
	}
	db, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	const (
		full     = "http://bob:s3cret-pw@a.example/x?token=s3cret-token"
		settings = `{"interval": "1m", "method": "POST", "body": "s3cret-body", "headers": {"X-JWT": "s3cret-jwt"}}`
	)
	for _, q := range []string{
		`INSERT INTO monitored (site_id, url, settings, version, defaults, interval_ms, phase_ms, budget_ms)
			VALUES (1, '` + full + `', '` + settings + `', 3, '', 60000, 0, 10000),
			       (2, 'https://plain.example/', '{}', 1, '', 60000, 0, 10000)`,
		`INSERT INTO site_state (site_id, url, up) VALUES (1, '` + full + `', true), (2, 'https://plain.example/', true)`,
	} {
		if _, err := db.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if err := dbutil.Migrate(dbURL, Migrations, "migrations"); err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	box := seal.Ephemeral()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	newService := func(box *seal.Box) *Service {
		q := queue.New()
		return New(db, nil, q, pubsub.NewTopic[event.Transition](q, event.Topic, log), Options{Box: box}, log)
	}
	s := newService(box)
	if err := s.SealOlder(ctx); err != nil {
		t.Fatal(err)
	}
	stored := pgtest.Dump(t, dbURL)
	if i := strings.Index(stored, "s3cret"); i >= 0 || !strings.Contains(stored, "bob:xxxxx@a.example") {
		t.Fatalf("after sealing, the database holds: …%s…", stored[max(0, i-200):min(len(stored), i+100)])
	}
	targets, err := s.scheduledTargets(ctx, []int64{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	a, b := targets[1], targets[2]
	h, _ := a.check.Check.(*check.HTTP)
	if a.target == nil || a.URL != full || h == nil || h.URL != full || h.Body != "s3cret-body" || h.Header.Get("X-JWT") != "s3cret-jwt" ||
		h.Method != "POST" || a.shown != "http://bob:xxxxx@a.example/x?token=xxxxx" {
		t.Errorf("the sealed site as the scheduler reads it: %+v %+v", a.target, h)
	}
	if b.target == nil || b.URL != "https://plain.example/" {
		t.Errorf("the site without credentials as the scheduler reads it: %+v", b.target)
	}
	var version int64
	db.QueryRow(ctx, "SELECT version FROM monitored WHERE site_id = 1").Scan(&version)
	if version != 3 {
		t.Errorf("sealing changed the copy's version to %d", version)
	}

	other := newService(seal.Ephemeral())
	if err := other.CheckKey(ctx); err == nil || !strings.Contains(err.Error(), seal.EnvName) {
		t.Errorf("a service with another key: %v, want a refusal naming %s", err, seal.EnvName)
	}
	// One that started before the key was claimed leaves the site out
	// rather than check it without its credentials.
	targets, err = other.scheduledTargets(ctx, []int64{1, 2})
	if err != nil || targets[1].target != nil || targets[2].target == nil {
		t.Errorf("another key's round: %v, %v", targets, err)
	}
	if err := s.CheckKey(ctx); err != nil {
		t.Errorf("the service that sealed them: %v", err)
	}
}
