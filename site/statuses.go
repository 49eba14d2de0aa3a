package site

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Statuses is a list of HTTP status ranges, such as "200-299,301,418".
type Statuses []StatusRange

// StatusRange is the statuses from Min to Max, both included.
type StatusRange struct{ Min, Max int }

// ParseStatuses reads a comma-separated list of statuses and ranges of
// statuses, each from 100 to 599.
func ParseStatuses(s string) (Statuses, error) {
	parts := strings.Split(s, ",")
	if len(parts) > maxStatusRanges {
		return nil, fmt.Errorf("at most %d statuses or ranges", maxStatusRanges)
	}
	var out Statuses
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			return nil, errors.New(`want statuses and ranges such as "200-299,301"`)
		}
		lo, hi, isRange := strings.Cut(p, "-")
		r := StatusRange{}
		var err error
		if r.Min, err = parseStatus(lo); err != nil {
			return nil, err
		}
		r.Max = r.Min
		if isRange {
			if r.Max, err = parseStatus(hi); err != nil {
				return nil, err
			}
			if r.Max < r.Min {
				return nil, fmt.Errorf("range %s ends before it starts", p)
			}
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b StatusRange) int { return a.Min - b.Min })
	return out, nil
}

func parseStatus(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 100 || n > 599 {
		return 0, fmt.Errorf("%q is not a status from 100 to 599", strings.TrimSpace(s))
	}
	return n, nil
}

// Contains reports whether status is in one of the ranges.
func (ss Statuses) Contains(status int) bool {
	for _, r := range ss {
		if status >= r.Min && status <= r.Max {
			return true
		}
	}
	return false
}

// String writes the ranges in the form ParseStatuses reads.
func (ss Statuses) String() string {
	var b strings.Builder
	for i, r := range ss {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(r.Min))
		if r.Max != r.Min {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(r.Max))
		}
	}
	return b.String()
}
