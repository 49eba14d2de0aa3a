package monitor

import (
	"context"
	"io"
	"testing"
)

// A round whose job names the version its site was claimed at takes the
// site's settings from what this process read of that version, without
// reading them again; a job naming another version, or none, reads them.
func TestRoundsReadSettingsOncePerVersion(t *testing.T) {
	ctx := context.Background()
	s, db := newStateService(t, 1, io.Discard)
	setName := func(name string, version int64) {
		t.Helper()
		if _, err := db.Exec(ctx, `UPDATE monitored SET settings = jsonb_build_object('name', $1::text), version = $2 WHERE site_id = 1`,
			name, version); err != nil {
			t.Fatal(err)
		}
	}
	nameOf := func(versions []int64) string {
		t.Helper()
		targets, _, err := s.dueSites(ctx, []int64{1}, versions, false)
		if err != nil {
			t.Fatal(err)
		}
		tg, ok := targets[1]
		if !ok {
			t.Fatalf("no target for versions %v", versions)
		}
		return tg.name
	}
	setName("one", 1)
	if got := nameOf([]int64{1}); got != "one" {
		t.Fatalf("first read: %q", got)
	}
	// The row changes under the same version, as it never does: a job of
	// version 1 is served from what was read, so it still says one.
	setName("changed", 1)
	if got := nameOf([]int64{1}); got != "one" {
		t.Errorf("version 1 again: %q, want the one read before", got)
	}
	if got := nameOf(nil); got != "changed" {
		t.Errorf("with no versions: %q, want the row as it is", got)
	}
	setName("two", 2)
	if got := nameOf([]int64{2}); got != "two" {
		t.Errorf("version 2: %q", got)
	}
	if got := nameOf([]int64{0}); got != "two" {
		t.Errorf("version unknown: %q", got)
	}
	// Paused since: a job of an older version still names a version not
	// held, so the row is read, and the site left out.
	if _, err := db.Exec(ctx, `UPDATE monitored SET paused = true, version = 3 WHERE site_id = 1`); err != nil {
		t.Fatal(err)
	}
	if targets, _, err := s.dueSites(ctx, []int64{1}, []int64{3}, false); err != nil || len(targets) != 0 {
		t.Errorf("paused: %v, %v", targets, err)
	}
}
