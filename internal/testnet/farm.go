package testnet

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"
)

// Farm is many sites on one loopback server, each a path, that records
// when each was checked, so that a test can tell a round missed or
// checked twice.
type Farm struct {
	*httptest.Server
	mu     sync.Mutex
	checks map[string][]time.Time
}

// NewFarm starts a farm, closed when the test ends.
func NewFarm(t testing.TB) *Farm {
	f := &Farm{checks: map[string][]time.Time{}}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.checks[r.URL.Path] = append(f.checks[r.URL.Path], time.Now())
		f.mu.Unlock()
	}))
	t.Cleanup(f.Close)
	return f
}

// Checks returns when path was checked.
func (f *Farm) Checks(path string) []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.checks[path])
}

// Gaps reports, for each path checked at least twice after from, a gap
// between consecutive checks outside [lo, hi]: a round missed or checked
// twice. A path checked less than twice after from is reported too.
func (f *Farm) Gaps(paths []string, from time.Time, lo, hi time.Duration) []string {
	var bad []string
	for _, p := range paths {
		var times []time.Time
		for _, c := range f.Checks(p) {
			if !c.Before(from) {
				times = append(times, c)
			}
		}
		if len(times) < 2 {
			bad = append(bad, fmt.Sprintf("%s checked %d times since %s", p, len(times), from.Format(time.TimeOnly)))
			continue
		}
		for i := 1; i < len(times); i++ {
			if g := times[i].Sub(times[i-1]); g < lo || g > hi {
				bad = append(bad, fmt.Sprintf("%s: %s between checks at %s and %s", p, g.Round(time.Millisecond),
					times[i-1].Format("15:04:05.000"), times[i].Format("15:04:05.000")))
			}
		}
	}
	return bad
}
