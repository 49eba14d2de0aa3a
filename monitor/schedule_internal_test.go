package monitor

import (
	"fmt"
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
				due := nextDue(id, tt.interval, start)
				if due.Before(start) || !due.Before(start.Add(tt.interval)) {
					t.Fatalf("site %d is due at %s, outside the interval from %s", id, due, start)
				}
				if again := nextDue(id, tt.interval, due); !again.Equal(due) {
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

func TestAdvance(t *testing.T) {
	due := time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)
	iv := 10 * time.Second
	for _, tt := range []struct {
		name   string
		now    time.Time
		next   time.Time
		missed int
	}{
		{"claimed ahead of time", due.Add(-time.Second), due.Add(iv), 0},
		{"claimed a little late", due.Add(2 * time.Second), due.Add(iv), 0},
		{"late by more than half: the next is skipped", due.Add(6 * time.Second), due.Add(2 * iv), 1},
		{"late by several intervals", due.Add(35 * time.Second), due.Add(4 * iv), 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			next, missed := advance(due, iv, tt.now)
			if !next.Equal(tt.next) || missed != tt.missed {
				t.Fatalf("advance = %s, %d missed; want %s, %d", next, missed, tt.next, tt.missed)
			}
			if next.Sub(tt.now) < iv/2 {
				t.Fatalf("the next round is %s after now, less than half an interval", next.Sub(tt.now))
			}
		})
	}
}
