package app_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"uptime/internal/apptest"
	"uptime/internal/config"
	"uptime/internal/wait"
)

// TestLogsNameURLsByHostOnly: the log names the heartbeat URL and a site's
// URL by scheme, host and port, never with the tokens of their paths,
// queries or user information.
func TestLogsNameURLsByHostOnly(t *testing.T) {
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer refusing.Close()
	var log syncBuffer
	a := apptest.Start(t, apptest.Setup{Log: &log, Configure: func(c *config.Config) {
		c.CheckEvery = time.Second
		c.HeartbeatURL = refusing.URL + "/fail/HBT0KEN123?key=HBK3Y&x=1"
	}})
	host := strings.TrimPrefix(refusing.URL, "http://")
	a.AddSite(t, "http://bob:SITEPW@"+host+"/hook/SITET0KEN?sig=SITES1G")
	wait.For(t, 20*time.Second, func() error {
		if !strings.Contains(log.String(), "heartbeat ping refused") ||
			!strings.Contains(log.String(), "site changed state") {
			return fmt.Errorf("no refused heartbeat and no change of state logged within 20s:\n%s", log.String())
		}
		return nil
	})
	out := log.String()
	for _, secret := range []string{"HBT0KEN123", "HBK3Y", "SITEPW", "SITET0KEN", "SITES1G", "/fail/", "/hook/"} {
		if strings.Contains(out, secret) {
			t.Errorf("the log holds %q:\n%s", secret, out)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if (strings.Contains(line, "heartbeat ping refused") || strings.Contains(line, "site changed state")) &&
			!strings.Contains(line, "url="+refusing.URL+" ") {
			t.Errorf("a log line that does not name the URL as %s: %s", refusing.URL, line)
		}
	}
}
