package app

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"uptime/internal/alarm"
)

// TestQuietFoldsOutagesAndRepeats checks the logger River gets: routine
// info is dropped, a message is passed on once a minute, and records that
// say the database cannot be reached raise the outage alarm instead.
func TestQuietFoldsOutagesAndRepeats(t *testing.T) {
	var out, alarmOut bytes.Buffer
	down := alarm.New(slog.New(slog.NewTextHandler(&alarmOut, nil)), "the database is unreachable")
	log := quiet(slog.New(slog.NewTextHandler(&out, nil)), down)

	log.Info("producer: fetched jobs")
	for range 5 {
		log.Error("producer: Error fetching jobs", "err", "dial tcp 127.0.0.1:5432: connect: connection refused")
		log.With("component", "elector").Error("elector: Error attempting to elect", "error",
			"FATAL: terminating connection due to administrator command (SQLSTATE 57P01)")
		log.Warn("job worker: job failed", "err", "site 7: boom")
	}
	got := out.String()
	if strings.Contains(got, "fetched jobs") || strings.Contains(got, "connection refused") || strings.Contains(got, "SQLSTATE 57P01") {
		t.Fatalf("routine info or outage records were passed on:\n%s", got)
	}
	if n := strings.Count(got, "job failed"); n != 1 {
		t.Fatalf("a repeated message was passed on %d times in a minute, want once:\n%s", n, got)
	}
	if raised, _ := down.Raised(); !raised {
		t.Fatal("records of a lost connection did not raise the outage alarm")
	}
	if n := strings.Count(alarmOut.String(), "level=ERROR"); n != 1 {
		t.Fatalf("the outage alarm logged %d ERROR lines for 10 records, want 1:\n%s", n, alarmOut.String())
	}
}
