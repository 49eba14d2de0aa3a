package monitor

import (
	"strings"
	"testing"
	"time"
)

// One certificate, as its end comes nearer, is warned of at 14, 7 and 1
// days, once each.
func TestCertificateWarnedAtEachThreshold(t *testing.T) {
	s := &Service{opts: Options{FlapWindow: time.Minute, FlapChanges: 4}}
	tg := &target{}
	expiry := time.Date(2026, 12, 31, 12, 0, 0, 0, time.UTC)
	st := alertState{announcedUp: true}
	var warned []string
	for _, daysLeft := range []float64{30, 20, 13.9, 13, 8, 6.9, 6, 2, 0.9, 0.5, 0.1} {
		at := expiry.Add(-time.Duration(daysLeft * float64(24*time.Hour)))
		next, events, err := s.alerts(t.Context(), nil, tg, st, decision{up: true, first: Result{Up: true}, final: Result{Up: true, CheckedAt: at, CertExpiry: &expiry}})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range events {
			warned = append(warned, ev.Reason)
		}
		st = next
	}
	if len(warned) != 3 {
		t.Fatalf("warnings %q, want 3: at 14, 7 and 1 days", warned)
	}
	for i, want := range []string{"13 days", "6 days", "21 hours"} {
		if !strings.Contains(warned[i], want) {
			t.Errorf("warning %d: %q, want it to say %s", i+1, warned[i], want)
		}
	}
}
