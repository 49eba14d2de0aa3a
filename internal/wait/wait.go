// Package wait lets a test wait for a condition rather than for a time:
// it looks often at first and less often later, and fails the test with
// what it was waiting for once the deadline has passed.
package wait

import (
	"errors"
	"testing"
	"time"
)

// For calls check until it returns nil and fails t with check's last error
// if that has not happened within the given time.
func For(t testing.TB, within time.Duration, check func() error) {
	t.Helper()
	if err := Poll(within, check); err != nil {
		t.Fatalf("%v (waited %s)", err, within)
	}
}

// Until waits for cond to hold and fails t saying what did not happen if it
// has not within the given time.
func Until(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	For(t, within, func() error {
		if cond() {
			return nil
		}
		return errors.New(what)
	})
}

// Poll calls check until it returns nil or the time is up, and returns its
// last error then. It is For for goroutines, which may not fail a test.
func Poll(within time.Duration, check func() error) error {
	deadline := time.Now().Add(within)
	pause := 2 * time.Millisecond
	for {
		err := check()
		if err == nil {
			return nil
		}
		if !time.Now().Before(deadline) {
			return err
		}
		time.Sleep(min(pause, time.Until(deadline)+time.Millisecond))
		pause = min(2*pause, 100*time.Millisecond)
	}
}
