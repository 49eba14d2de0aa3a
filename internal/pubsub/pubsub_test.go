package pubsub

import (
	"testing"
	"time"
)

func TestBackoffIsEncores(t *testing.T) {
	want := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second,
		160 * time.Second, 320 * time.Second, 10 * time.Minute, 10 * time.Minute}
	for i, w := range want {
		if got := Backoff(MinBackoff, i+1); got != w {
			t.Errorf("Backoff after attempt %d = %s, want %s", i+1, got, w)
		}
	}
	if got := Backoff(MinBackoff, 100); got != MaxBackoff {
		t.Errorf("Backoff after attempt 100 = %s, want %s", got, MaxBackoff)
	}
}
