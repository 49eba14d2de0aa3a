package packed

import (
	"math/rand/v2"
	"testing"
	"time"
)

func ptr[T any](v T) *T { return &v }

// day returns a day of checks every interval from start, with jitter, of
// every kind: up, down without an answer, degraded, in maintenance, with
// reasons and certificates, latencies from 0.1 ms to 60 s.
func day(rng *rand.Rand, start time.Time, interval time.Duration) []Check {
	var out []Check
	cert := start.AddDate(0, 2, 0).Add(123456 * time.Microsecond)
	for at := start; at.Before(start.Add(24 * time.Hour)); at = at.Add(interval) {
		c := Check{At: at.Add(time.Duration(rng.IntN(20000)) * time.Microsecond), Up: true, Status: ptr(200),
			LatencyMS: ptr(float64(100+rng.IntN(900_000)) / 1000), CertExpires: &cert}
		switch k := rng.IntN(100); {
		case k < 3:
			c.Up, c.Status, c.LatencyMS, c.Reason = false, nil, nil, "dial tcp 127.0.0.1:1: connect: connection refused"
		case k < 5:
			c.Up, c.Status, c.Reason = false, ptr(503), "status 503"
		case k < 7:
			c.Degraded, c.LatencyMS = true, ptr(60_000.0)
		case k < 8:
			c.Maintenance = true
		case k < 9:
			c.LatencyMS = ptr(0.1)
		case k < 10:
			c.LatencyMS = ptr(12.3456789) // not a whole microsecond
		case k < 11:
			c.CertExpires = nil
		}
		if rng.IntN(500) == 0 {
			cert = cert.AddDate(0, 3, 0) // renewed
		}
		out = append(out, c)
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)
	for _, interval := range []time.Duration{time.Minute, 5 * time.Minute, 37 * time.Second} {
		checks := day(rng, start, interval)
		b, err := Encode(checks)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(checks) {
			t.Fatalf("every %s: %d checks back, want %d", interval, len(got), len(checks))
		}
		for i := range checks {
			if !got[i].Equal(checks[i]) {
				t.Fatalf("every %s: check %d back as %+v, want %+v", interval, i, got[i], checks[i])
			}
		}
		t.Logf("every %s: %d checks in %d bytes, %.1f a check", interval, len(checks), len(b), float64(len(b))/float64(len(checks)))
	}
}

func TestEdges(t *testing.T) {
	at := time.Date(1999, 12, 31, 23, 59, 59, 999999000, time.UTC)
	cases := map[string][]Check{
		"none":         {},
		"one":          {{At: at}},
		"same instant": {{At: at, Up: true}, {At: at, Up: false, Reason: "x"}},
		"odd status":   {{At: at, Status: ptr(0)}, {At: at.Add(time.Second), Status: ptr(999)}, {At: at.Add(2 * time.Second), Status: ptr(-1)}},
		"long gap":     {{At: at}, {At: at.Add(time.Microsecond)}, {At: at.Add(23 * time.Hour)}, {At: at.Add(23*time.Hour + time.Microsecond)}},
		"zero latency": {{At: at, LatencyMS: ptr(0.0)}, {At: at.Add(time.Second), LatencyMS: ptr(-3.5)}},
		"empty reason": {{At: at, Reason: ""}, {At: at.Add(time.Second), Reason: "ü\x00"}},
		"cert epoch":   {{At: at, CertExpires: ptr(time.Unix(0, 0))}, {At: at.Add(time.Second), CertExpires: ptr(time.UnixMicro(-5))}},
	}
	for name, checks := range cases {
		b, err := Encode(checks)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(got) != len(checks) {
			t.Fatalf("%s: %d checks back, want %d", name, len(got), len(checks))
		}
		for i := range checks {
			if !got[i].Equal(checks[i]) {
				t.Fatalf("%s: check %d back as %+v, want %+v", name, i, got[i], checks[i])
			}
		}
	}
}

func TestOutOfOrderRefused(t *testing.T) {
	at := time.Now()
	if _, err := Encode([]Check{{At: at}, {At: at.Add(-time.Second)}}); err == nil {
		t.Fatal("checks out of order were packed")
	}
}

// TestSize: a day of checks every minute of a site that answers alike
// most of the time fits in a few bytes a check, before the database's own
// compression.
func TestSize(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	start := time.Date(2026, 11, 3, 0, 0, 17, 0, time.UTC)
	var checks []Check
	cert := start.AddDate(0, 1, 0)
	for i := range 1440 {
		checks = append(checks, Check{At: start.Add(time.Duration(i)*time.Minute + time.Duration(rng.IntN(5000))*time.Microsecond),
			Up: true, Status: ptr(200), LatencyMS: ptr(float64(20_000+rng.IntN(200_000)) / 1000), CertExpires: &cert})
	}
	b, err := Encode(checks)
	if err != nil {
		t.Fatal(err)
	}
	per := float64(len(b)) / float64(len(checks))
	t.Logf("%d checks in %d bytes: %.2f a check", len(checks), len(b), per)
	if per > 8 {
		t.Fatalf("%.2f bytes a check, want at most 8", per)
	}
}

func FuzzDecode(f *testing.F) {
	rng := rand.New(rand.NewPCG(5, 6))
	b, _ := Encode(day(rng, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Hour))
	f.Add(b)
	f.Add([]byte{version, 2, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		checks, err := Decode(b)
		if err != nil {
			return
		}
		// What decodes packs again to what reads back the same.
		again, err := Encode(checks)
		if err != nil {
			return // out of order: times wrapped around
		}
		back, err := Decode(again)
		if err != nil || len(back) != len(checks) {
			t.Fatalf("decoded %d checks, packed again and read back %d: %v", len(checks), len(back), err)
		}
	})
}
