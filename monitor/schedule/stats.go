package schedule

import (
	"slices"
	"sync"
	"time"

	"uptime/internal/metrics"
)

// Stats count this instance's scheduled checks and how late they
// started.
type Stats struct {
	mu         sync.Mutex
	since      time.Time
	claimed    int64
	checks     int64
	missed     int64
	late       []float64 // the latest lateness samples, in milliseconds
	next       int       // where the next sample goes once late is full
	maxLateMS  float64
	lastMissed time.Time
}

// lateSamples is how many of the latest checks lateness is reported over.
const lateSamples = 100_000

// Scheduled counts the rounds a pass claimed, and those it passed over.
func (st *Stats) Scheduled(claimed, missed int) {
	metrics.MissedRounds.Add(float64(missed))
	st.mu.Lock()
	defer st.mu.Unlock()
	st.claimed += int64(claimed)
	st.missed += int64(missed)
	if missed > 0 {
		st.lastMissed = time.Now()
	}
}

// MissedRound counts a round that was not run.
func (st *Stats) MissedRound() { st.Scheduled(0, 1) }

// Started counts a round that started, late after its due time.
func (st *Stats) Started(late time.Duration) {
	metrics.Lateness.Observe(max(late, 0).Seconds())
	v := float64(max(late, 0).Microseconds()) / 1000
	st.mu.Lock()
	defer st.mu.Unlock()
	st.checks++
	st.maxLateMS = max(st.maxLateMS, v)
	if len(st.late) < lateSamples {
		st.late = append(st.late, v)
		return
	}
	st.late[st.next] = v
	st.next = (st.next + 1) % lateSamples
}

// NewStats returns the figures of an instance that starts counting now.
func NewStats() *Stats { return &Stats{since: time.Now()} }

// SchedulerStats is what GET /scheduler answers: this instance's share of
// the scheduled checks and how late they started.
type SchedulerStats struct {
	// Since is when this instance started counting.
	Since time.Time `json:"since"`
	// Claimed is how many rounds this instance's scheduling passes handed out.
	Claimed int64 `json:"claimed"`
	// Checks is how many scheduled rounds this instance started.
	Checks int64 `json:"checks"`
	// Missed is how many rounds were not run: rounds that came later than
	// half their site's interval, and rounds a late pass passed over.
	Missed int64 `json:"missed"`
	// LatenessMS is how long after its due time a round started, over the
	// latest rounds: p50, p99 and max (max over every round).
	LatenessMS struct {
		P50 float64 `json:"p50"`
		P99 float64 `json:"p99"`
		Max float64 `json:"max"`
	} `json:"lateness_ms"`
}

// Snapshot returns the figures so far.
func (st *Stats) Snapshot() *SchedulerStats {
	st.mu.Lock()
	out := &SchedulerStats{Since: st.since, Claimed: st.claimed, Checks: st.checks, Missed: st.missed}
	late := slices.Clone(st.late)
	out.LatenessMS.Max = st.maxLateMS
	st.mu.Unlock()
	if len(late) > 0 {
		slices.Sort(late)
		out.LatenessMS.P50 = late[len(late)/2]
		out.LatenessMS.P99 = late[min(len(late)-1, len(late)*99/100)]
	}
	return out
}
