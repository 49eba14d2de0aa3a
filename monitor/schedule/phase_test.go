package schedule

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// Sites of one interval are due at an even rate: no second holds more
// than three times the mean, whatever ids they have.
func TestPhasesSpreadChecksEvenly(t *testing.T) {
	for _, tt := range []struct {
		first, n int64
		interval time.Duration
	}{
		{1, 60, time.Minute},
		{1, 600, time.Minute},
		{5000, 1000, time.Minute},
		{1, 100_000, time.Minute},
		{1, 100_000, 5 * time.Minute},
		{77, 3000, 10 * time.Second},
		{1, 86_400, 24 * time.Hour},
	} {
		t.Run(fmt.Sprintf("%d sites from id %d every %s", tt.n, tt.first, tt.interval), func(t *testing.T) {
			start := time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)
			perSecond := map[int64]int{}
			for id := tt.first; id < tt.first+tt.n; id++ {
				due := NextDue(id, tt.interval, start)
				if due.Before(start) || !due.Before(start.Add(tt.interval)) {
					t.Fatalf("site %d is due at %s, outside the interval from %s", id, due, start)
				}
				if again := NextDue(id, tt.interval, due); !again.Equal(due) {
					t.Fatalf("site %d: due at %s, but the due time at or after it is %s", id, due, again)
				}
				perSecond[due.Unix()]++
			}
			mean := float64(tt.n) / tt.interval.Seconds()
			most := 0
			for _, n := range perSecond {
				most = max(most, n)
			}
			if float64(most) > 3*mean {
				t.Fatalf("%d checks in the busiest second, mean %.2f: more than 3 times the mean", most, mean)
			}
			t.Logf("busiest second %d checks, mean %.2f (%.2f×)", most, mean, float64(most)/mean)
		})
	}
}

// Consecutive windows claim every round once: each site of an interval is
// claimed in a window exactly when one of its due times falls in it, and
// its due time is that one, or the last of them when a long window holds
// several.
func TestWindowsClaimEveryRoundOnce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	intervals := []int64{10_000, 60_000, 300_000}
	for range 2000 {
		a := int64(1_795_000_000_000) + rng.Int64N(1_000_000)
		b := a + 1 + rng.Int64N(700_000)
		rs := ranges(intervals, a, b)
		for _, iv := range intervals {
			for range 20 {
				ph := rng.Int64N(iv)
				var in []phaseRange
				for _, r := range rs {
					if r.iv == iv && ph >= r.lo && ph < r.hi {
						in = append(in, r)
					}
				}
				// Brute force: the site's due times in [a, b).
				var slots []int64
				for t := slotAtOrAfter(a, iv, ph); t < b; t += iv {
					slots = append(slots, t)
				}
				if len(in) > 1 {
					t.Fatalf("window [%d, %d) interval %d: phase %d is in %d ranges", a, b, iv, ph, len(in))
				}
				if (len(in) == 1) != (len(slots) > 0) {
					t.Fatalf("window [%d, %d) interval %d phase %d: claimed %v, but its due times there are %v", a, b, iv, ph, len(in) == 1, slots)
				}
				if len(slots) == 0 {
					continue
				}
				at, skipped := due(iv, ph, a, b)
				if at != slots[len(slots)-1] || skipped != int64(len(slots)-1) {
					t.Fatalf("window [%d, %d) interval %d phase %d: due %d, %d skipped; want %d, %d",
						a, b, iv, ph, at, skipped, slots[len(slots)-1], len(slots)-1)
				}
			}
		}
	}
}
