package wait

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestPollReturnsOnceTheConditionHolds(t *testing.T) {
	calls := 0
	start := time.Now()
	err := Poll(10*time.Second, func() error {
		calls++
		if calls < 4 {
			return fmt.Errorf("call %d", calls)
		}
		return nil
	})
	if err != nil || calls != 4 {
		t.Fatalf("Poll = %v after %d calls, want nil after 4", err, calls)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("three misses took %s, want far less than the deadline", took)
	}
}

func TestPollGivesTheLastErrorAtTheDeadline(t *testing.T) {
	calls := 0
	start := time.Now()
	err := Poll(150*time.Millisecond, func() error {
		calls++
		return fmt.Errorf("still %d", calls)
	})
	if err == nil || err.Error() != fmt.Sprintf("still %d", calls) {
		t.Fatalf("Poll = %v, want the last error, still %d", err, calls)
	}
	if took := time.Since(start); took < 150*time.Millisecond {
		t.Errorf("gave up after %s, before the deadline", took)
	}
	if calls < 5 {
		t.Errorf("looked %d times in 150ms, want it to look often", calls)
	}
}

type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	panic(r)
}

func TestUntilFailsSayingWhatItWaitedFor(t *testing.T) {
	r := &recorder{TB: t}
	func() {
		defer func() {
			if p := recover(); p != nil && p != r {
				panic(p)
			}
		}()
		Until(r, 30*time.Millisecond, "the site went down", func() bool { return false })
	}()
	if !strings.Contains(r.failed, "the site went down") || !strings.Contains(r.failed, "30ms") {
		t.Errorf("failure = %q, want what was awaited and for how long", r.failed)
	}
	r.failed = ""
	For(r, time.Second, func() error { return nil })
	Until(r, time.Second, "x", func() bool { return true })
	if r.failed != "" {
		t.Errorf("a condition that holds failed the test: %q", r.failed)
	}
}
