package app_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"uptime/internal/apptest"
	"uptime/internal/dbutil"
	"uptime/internal/pgtest"
	"uptime/internal/wait"
)

// TestOneInstanceAloneSaysNothingOfLeaders: a single instance on a new
// database schedules until River elects it, then its leader schedules;
// neither is news, and its log speaks of no other instance. Requests that
// succeed quickly are not logged at INFO.
func TestOneInstanceAloneSaysNothingOfLeaders(t *testing.T) {
	var log syncBuffer
	prefix := pgtest.Prefix(t)
	started := time.Now()
	a := apptest.Start(t, apptest.Setup{Prefix: prefix, Log: &log})
	a.Call(t, "GET", "/site", "", nil)
	monitorURL, err := dbutil.DatabaseURL(pgtest.ServerURL(t), prefix+"monitor")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, monitorURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// Elected, and a scheduling pass of its leader's since.
	wait.For(t, 30*time.Second, func() error {
		var elected bool
		var last time.Time
		conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM river_leader), (SELECT last_pass FROM scheduler)").Scan(&elected, &last)
		if elected && last.After(started) {
			return nil
		}
		return errors.New("no leader elected and no scheduling pass within 30s")
	})
	time.Sleep(3 * time.Second) // the stand-in looks every second
	out := log.String()
	for _, word := range []string{"leader", "elsewhere", "fills in", "filling in"} {
		if strings.Contains(out, word) {
			t.Errorf("a single instance's log speaks of %q:\n%s", word, out)
		}
	}
	if strings.Contains(out, "path=/site ") {
		t.Errorf("a quick, successful request was logged at INFO:\n%s", out)
	}
}
