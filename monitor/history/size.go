package history

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TableSize is what one of the history's tables costs on disk.
type TableSize struct {
	// Name is the table's (a partitioned one's, its partitions together).
	Name string
	// Bytes is its size with its indexes and TOAST.
	Bytes int64
	// Rows is how many rows it holds: counted where the estimate is small,
	// else PostgreSQL's estimate from its last ANALYZE.
	Rows int64
}

// Size is what the history costs on disk, and how much it holds.
type Size struct {
	// Tables are the history's tables, raw checks first.
	Tables []TableSize
	// Bytes is all of them.
	Bytes int64
	// Checks is how many raw checks are kept; PackedChecks, how many in
	// packed days (counted where there are few rows, else estimated).
	Checks, PackedChecks int64
	// PackedDays is how many days packed checks go back.
	PackedDays int
	// RawDays is how many days of raw checks are kept (a partition each,
	// today's included); RollupDays, how many days the daily roll-ups go
	// back.
	RawDays, RollupDays int
}

// BytesPerCheck is what a raw check costs on disk, with its share of the
// indexes; 0 when none is kept.
func (s Size) BytesPerCheck() float64 {
	for _, t := range s.Tables {
		if t.Name == "checks" && t.Rows > 0 {
			return float64(t.Bytes) / float64(t.Rows)
		}
	}
	return 0
}

// BytesPerPackedCheck is what a check of a packed day costs on disk, with
// its share of its row and the indexes; 0 when none is kept.
func (s Size) BytesPerPackedCheck() float64 {
	for _, t := range s.Tables {
		if t.Name == "checks_packed" && s.PackedChecks > 0 {
			return float64(t.Bytes) / float64(s.PackedChecks)
		}
	}
	return 0
}

// sizedTables are the tables the history's size counts: every table that
// holds a site's history.
var sizedTables = tables

// countBelow is the estimate under which rows are counted exactly: a
// count of more would read the whole table.
const countBelow = 200_000

// Size measures the history on disk: each table with its indexes (a
// partitioned table with all its partitions), its rows, and the days kept.
func (s *History) Size(ctx context.Context) (Size, error) {
	var out Size
	for _, table := range sizedTables {
		t := TableSize{Name: table}
		var estimate float64
		err := s.db.QueryRow(ctx, `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint,
				coalesce(sum(greatest(c.reltuples, 0)), 0)::float8
			FROM (SELECT relid FROM pg_partition_tree($1::regclass) UNION SELECT $1::regclass) p
			JOIN pg_class c ON c.oid = p.relid`, table).Scan(&t.Bytes, &estimate)
		if err != nil {
			return Size{}, fmt.Errorf("measure %s: %w", table, err)
		}
		t.Rows = int64(estimate)
		if estimate < countBelow {
			if err := s.db.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&t.Rows); err != nil {
				return Size{}, fmt.Errorf("count %s: %w", table, err)
			}
		}
		out.Tables = append(out.Tables, t)
		out.Bytes += t.Bytes
		switch table {
		case "checks":
			out.Checks = t.Rows
		case "checks_packed":
			if err := s.packedChecks(ctx, t.Rows, &out); err != nil {
				return Size{}, err
			}
		}
	}
	days, err := s.partitions(ctx, checksTable)
	if err != nil {
		return Size{}, err
	}
	for _, d := range days {
		if !d.After(time.Now()) { // those made ahead hold nothing yet
			out.RawDays++
		}
	}
	var oldest *time.Time
	if err := s.db.QueryRow(ctx, "SELECT min(day) FROM rollup_day").Scan(&oldest); err != nil {
		return Size{}, fmt.Errorf("find the oldest roll-up: %w", err)
	}
	if oldest != nil {
		out.RollupDays = int(time.Since(*oldest).Hours()/24) + 1
	}
	return out, nil
}

// packedChecks counts the checks in packed days, and how many days they
// go back: exactly where there are few rows, else from a sample of them.
func (s *History) packedChecks(ctx context.Context, rows int64, out *Size) error {
	var oldest *time.Time
	if rows < countBelow {
		if err := s.db.QueryRow(ctx, "SELECT COALESCE(sum(checks), 0), min(day) FROM checks_packed").Scan(&out.PackedChecks, &oldest); err != nil {
			return fmt.Errorf("count packed checks: %w", err)
		}
	} else {
		var mean float64
		if err := s.db.QueryRow(ctx, `SELECT COALESCE(avg(checks), 0), min(day) FROM checks_packed TABLESAMPLE SYSTEM (1)`).Scan(&mean, &oldest); err != nil {
			return fmt.Errorf("count packed checks: %w", err)
		}
		out.PackedChecks = int64(mean * float64(rows))
	}
	if oldest != nil {
		out.PackedDays = int(time.Since(*oldest).Hours()/24) + 1
	}
	return nil
}

// sizeEvery is how long a measure of the history's size is served to
// scrapes before it is taken again: it reads every partition's size.
const sizeEvery = time.Minute

// SizeCollector serves the history's size to Prometheus:
// uptime_history_bytes and uptime_history_bytes_per_check.
func (s *History) SizeCollector() prometheus.Collector {
	return &sizeCollector{h: s,
		bytes: prometheus.NewDesc("uptime_history_bytes",
			"What the history of checks costs on disk, by table (indexes included).", []string{"table"}, nil),
		perCheck: prometheus.NewDesc("uptime_history_bytes_per_check",
			"What a check costs on disk, its share of the indexes included: raw, or in a packed day.", []string{"form"}, nil),
	}
}

type sizeCollector struct {
	h               *History
	bytes, perCheck *prometheus.Desc

	mu      sync.Mutex
	last    Size
	takenAt time.Time
}

func (c *sizeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.bytes
	ch <- c.perCheck
}

func (c *sizeCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.takenAt.IsZero() || time.Since(c.takenAt) >= sizeEvery {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		size, err := c.h.Size(ctx)
		cancel()
		if err != nil {
			ch <- prometheus.NewInvalidMetric(c.bytes, err)
			return
		}
		c.last, c.takenAt = size, time.Now()
	}
	for _, t := range c.last.Tables {
		ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, float64(t.Bytes), t.Name)
	}
	ch <- prometheus.MustNewConstMetric(c.perCheck, prometheus.GaugeValue, c.last.BytesPerCheck(), "raw")
	ch <- prometheus.MustNewConstMetric(c.perCheck, prometheus.GaugeValue, c.last.BytesPerPackedCheck(), "packed")
}
