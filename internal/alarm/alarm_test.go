package alarm

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestOneErrorAMinuteAndOneInfoAtTheEnd(t *testing.T) {
	var buf bytes.Buffer
	a := New(slog.New(slog.NewTextHandler(&buf, nil)), "the database is unreachable")
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a.now = func() time.Time { return now }

	a.Clear() // nothing to clear: no line
	// Seven failures a second for two and a half minutes.
	for i := 0; i < 7*150; i++ {
		a.Raise("connection refused")
		now = now.Add(time.Second / 7)
	}
	if up, since := a.Raised(); !up || !since.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("Raised() = %v, %v", up, since)
	}
	a.Clear()
	a.Clear()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	var errs, infos int
	for _, l := range lines {
		switch {
		case strings.Contains(l, "level=ERROR"):
			errs++
		case strings.Contains(l, "level=INFO"):
			infos++
			if !strings.Contains(l, "lasted=2m30s") || !strings.Contains(l, "times_seen=1050") {
				t.Errorf("the end line does not say how long and how often: %s", l)
			}
		}
	}
	// At 0s, 60s and 120s.
	if errs != 3 || infos != 1 || len(lines) != 4 {
		t.Fatalf("%d ERROR and %d INFO lines, want 3 and 1:\n%s", errs, infos, buf.String())
	}
	if up, _ := a.Raised(); up {
		t.Fatal("still raised after Clear")
	}
}
