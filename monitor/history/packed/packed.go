// Package packed writes a site's checks of one day from one location as a
// few bytes each, and reads them back exactly.
//
// A day of checks is a run of columns, each coded for what it holds:
//
//   - times, in microseconds: the first whole, then each interval as its
//     difference from the interval before (a check on schedule costs one
//     or two bytes, whatever its phase);
//   - latencies, in microseconds (a latency kept in milliseconds with more
//     digits than that is kept whole, at nine bytes);
//   - flags (up, degraded, maintenance), status codes, reasons (through a
//     dictionary of the day's) and certificate expiries, as runs of one
//     value: a day of the same answer is a few bytes.
//
// Every integer is a varint. The result is meant to be stored in a column
// the database compresses too.
package packed

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// Check is one check as the history keeps it.
type Check struct {
	At          time.Time
	Up          bool
	Degraded    bool
	Maintenance bool
	// Status is the HTTP status; nil without a response.
	Status *int
	// LatencyMS is the time to the answer in milliseconds; nil when none
	// was measured.
	LatencyMS   *float64
	Reason      string
	CertExpires *time.Time
}

// Equal tells whether two checks say the same, times by their instant.
func (c Check) Equal(o Check) bool {
	return c.At.Equal(o.At) && c.Up == o.Up && c.Degraded == o.Degraded && c.Maintenance == o.Maintenance &&
		equal(c.Status, o.Status, func(a, b int) bool { return a == b }) &&
		equal(c.LatencyMS, o.LatencyMS, func(a, b float64) bool { return a == b }) &&
		c.Reason == o.Reason && equal(c.CertExpires, o.CertExpires, time.Time.Equal)
}

func equal[T any](a, b *T, eq func(T, T) bool) bool {
	return (a == nil) == (b == nil) && (a == nil || eq(*a, *b))
}

// version is the first byte of every packed day.
const version = 1

// MaxChecks is the most checks a packed day holds: one a second.
const MaxChecks = 86400 * 2

// Encode packs checks, in time order.
func Encode(checks []Check) ([]byte, error) {
	if len(checks) > MaxChecks {
		return nil, fmt.Errorf("pack %d checks: at most %d", len(checks), MaxChecks)
	}
	for i := 1; i < len(checks); i++ {
		if checks[i].At.Before(checks[i-1].At) {
			return nil, fmt.Errorf("pack checks: check %d is before check %d", i, i-1)
		}
	}
	b := make([]byte, 0, 16+5*len(checks))
	b = append(b, version)
	b = binary.AppendUvarint(b, uint64(len(checks)))
	if len(checks) == 0 {
		return b, nil
	}

	var prev, interval int64
	for i, c := range checks {
		us := c.At.UnixMicro()
		if i == 0 {
			b = binary.AppendVarint(b, us)
		} else {
			d := us - prev
			b = binary.AppendVarint(b, d-interval)
			interval = d
		}
		prev = us
	}

	for _, c := range checks {
		b = appendLatency(b, c.LatencyMS)
	}

	b = appendRuns(b, checks, func(c Check) uint64 {
		var f uint64
		if c.Up {
			f |= 1
		}
		if c.Degraded {
			f |= 2
		}
		if c.Maintenance {
			f |= 4
		}
		return f
	})
	b = appendRuns(b, checks, func(c Check) uint64 {
		if c.Status == nil {
			return 0
		}
		return zigzag(int64(*c.Status)) + 1
	})

	dict := map[string]uint64{}
	var words []string
	for _, c := range checks {
		if _, ok := dict[c.Reason]; !ok {
			dict[c.Reason] = uint64(len(words))
			words = append(words, c.Reason)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(words)))
	for _, w := range words {
		b = binary.AppendUvarint(b, uint64(len(w)))
		b = append(b, w...)
	}
	b = appendRuns(b, checks, func(c Check) uint64 { return dict[c.Reason] })

	b = appendRuns(b, checks, func(c Check) uint64 {
		if c.CertExpires == nil {
			return 0
		}
		return zigzag(c.CertExpires.UnixMicro()) + 1
	})
	return b, nil
}

// appendLatency writes a latency: 0 for none, 1 and its bits for one not
// a whole number of microseconds, else 2 plus its microseconds.
func appendLatency(b []byte, ms *float64) []byte {
	if ms == nil {
		return append(b, 0)
	}
	us := math.Round(*ms * 1000)
	if us >= 0 && us < 1<<52 && us/1000 == *ms {
		return binary.AppendUvarint(b, uint64(us)+2)
	}
	b = append(b, 1)
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(*ms))
}

// appendRuns writes the values of the checks as runs: each its length and
// its value.
func appendRuns(b []byte, checks []Check, value func(Check) uint64) []byte {
	for i := 0; i < len(checks); {
		v, j := value(checks[i]), i+1
		for j < len(checks) && value(checks[j]) == v {
			j++
		}
		b = binary.AppendUvarint(b, uint64(j-i))
		b = binary.AppendUvarint(b, v)
		i = j
	}
	return b
}

func zigzag(v int64) uint64   { return uint64(v<<1) ^ uint64(v>>63) }
func unzigzag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }

// ErrCorrupt is returned for bytes Encode did not write.
var ErrCorrupt = errors.New("packed checks are corrupt")

// reader reads varints, keeping the first error.
type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = ErrCorrupt
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = ErrCorrupt
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if uint64(len(r.b)) < n {
		r.err = ErrCorrupt
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

// runs reads n values written by appendRuns, calling set for each.
func (r *reader) runs(n int, set func(i int, v uint64)) {
	for i := 0; i < n && r.err == nil; {
		length, v := r.uvarint(), r.uvarint()
		if length == 0 || length > uint64(n-i) {
			r.err = ErrCorrupt
			return
		}
		for end := i + int(length); i < end; i++ {
			set(i, v)
		}
	}
}

// Decode reads back what Encode wrote.
func Decode(b []byte) ([]Check, error) {
	if len(b) == 0 || b[0] != version {
		return nil, ErrCorrupt
	}
	r := &reader{b: b[1:]}
	count := r.uvarint()
	if r.err != nil || count > MaxChecks {
		return nil, ErrCorrupt
	}
	n := int(count)
	if n == 0 {
		if len(r.b) != 0 {
			return nil, ErrCorrupt
		}
		return []Check{}, nil
	}
	checks := make([]Check, n)

	var prev, interval int64
	for i := range checks {
		if i == 0 {
			prev = r.varint()
		} else {
			interval += r.varint()
			prev += interval
		}
		checks[i].At = time.UnixMicro(prev).UTC()
	}

	for i := range checks {
		switch tag := r.uvarint(); {
		case r.err != nil:
		case tag == 0:
		case tag == 1:
			bits := r.bytes(8)
			if r.err == nil {
				ms := math.Float64frombits(binary.LittleEndian.Uint64(bits))
				checks[i].LatencyMS = &ms
			}
		default:
			ms := float64(tag-2) / 1000
			checks[i].LatencyMS = &ms
		}
	}

	r.runs(n, func(i int, f uint64) {
		checks[i].Up, checks[i].Degraded, checks[i].Maintenance = f&1 != 0, f&2 != 0, f&4 != 0
	})
	r.runs(n, func(i int, v uint64) {
		if v > 0 {
			s := int(unzigzag(v - 1))
			checks[i].Status = &s
		}
	})

	nwords := r.uvarint()
	if nwords > uint64(n) {
		return nil, ErrCorrupt
	}
	words := make([]string, nwords)
	for i := range words {
		words[i] = string(r.bytes(r.uvarint()))
	}
	r.runs(n, func(i int, v uint64) {
		if v >= uint64(len(words)) {
			r.err = ErrCorrupt
			return
		}
		checks[i].Reason = words[v]
	})

	var certs []time.Time // one value for a run of checks
	r.runs(n, func(i int, v uint64) {
		if v == 0 {
			return
		}
		t := time.UnixMicro(unzigzag(v - 1)).UTC()
		if len(certs) == 0 || !certs[len(certs)-1].Equal(t) {
			certs = append(certs, t)
		}
		checks[i].CertExpires = &certs[len(certs)-1]
	})
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, ErrCorrupt
	}
	return checks, nil
}
