// Package schedule is when sites are due: each site's phase inside its
// interval, the rounds due in a window of time, and the claim of them from
// the monitored table, with this instance's figures of how late they
// started.
package schedule

import (
	"math"
	"time"
)

// Phase returns the site's fixed offset inside its interval. Multiples of
// the golden ratio, taken modulo one, spread the ids 1, 2, 3... evenly
// over the interval however many there are, so checks arrive at an even
// rate rather than in bursts.
func Phase(id int64, interval time.Duration) time.Duration {
	const phi = 0.6180339887498949
	f := math.Mod(float64(id)*phi, 1)
	return time.Duration(f*float64(interval.Milliseconds())) * time.Millisecond
}

// NextDue returns the site's first due time at or after t.
func NextDue(id int64, interval time.Duration, t time.Time) time.Time {
	iv := interval.Milliseconds()
	if iv <= 0 {
		return t
	}
	return time.UnixMilli(slotAtOrAfter(t.UnixMilli(), iv, Phase(id, interval).Milliseconds()))
}

// slotAtOrAfter returns the first time at or after t, in Unix
// milliseconds, that is ph past a multiple of iv.
func slotAtOrAfter(t, iv, ph int64) int64 {
	return t + mod(ph-t, iv)
}

func mod(a, b int64) int64 { return ((a % b) + b) % b }

// phaseRange is the sites of one interval whose phase is in [lo, hi),
// each due at most once in the window being claimed.
type phaseRange struct{ iv, lo, hi int64 }

// ranges returns, for each interval, the phases due in the window [a, b):
// one range, two when the window wraps around a multiple of the interval,
// or every phase when the window is as long as the interval.
func ranges(intervals []int64, a, b int64) []phaseRange {
	var out []phaseRange
	for _, iv := range intervals {
		if b-a >= iv {
			out = append(out, phaseRange{iv, 0, iv})
			continue
		}
		lo, hi := mod(a, iv), mod(b, iv)
		if lo < hi {
			out = append(out, phaseRange{iv, lo, hi})
		} else {
			out = append(out, phaseRange{iv, lo, iv}, phaseRange{iv, 0, hi})
		}
	}
	return out
}

// due returns when a site of the interval and phase is due in the window
// [a, b): its one slot there, or its last when the window holds more, with
// how many of them it skips.
func due(iv, ph, a, b int64) (at int64, skipped int64) {
	first := slotAtOrAfter(a, iv, ph)
	if first >= b {
		return first, 0 // not in the window: cannot happen for a claimed phase
	}
	n := (b - 1 - first) / iv
	return first + n*iv, n
}

// Round is a round a pass claimed: a site and its due time, in Unix
// milliseconds.
type Round struct {
	Site, Due int64
	// Version is the site's version when it was claimed, 0 if unknown.
	Version int64
	// Locations are the site's own; empty for every location.
	Locations []string
}
