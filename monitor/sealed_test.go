package monitor_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"uptime/internal/pgtest"
)

// withCredentials is a site that answers 200 only to a check that brings
// every credential: basic auth, a token in the query, a header and a body.
type withCredentials struct{ good, bad atomic.Int32 }

func (c *withCredentials) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	user, pw, _ := r.BasicAuth()
	body, _ := io.ReadAll(r.Body)
	if user == "bob" && pw == "s3cret-pw" && r.URL.Query().Get("token") == "s3cret-token" &&
		r.Header.Get("X-JWT") == "s3cret-jwt" && string(body) == "s3cret-body" {
		c.good.Add(1)
		return
	}
	c.bad.Add(1)
	w.WriteHeader(http.StatusUnauthorized)
}

// The scheduler checks a site with every credential it was given, from
// the monitor's copy of its settings, which holds none of them in the
// open; nor does anything else the monitor's database keeps.
func TestTheScheduleKeepsCredentialsSealed(t *testing.T) {
	t.Parallel()
	e := setup(t, setupOpts{})
	site := &withCredentials{}
	srv := httptest.NewServer(site)
	t.Cleanup(srv.Close)
	u := strings.Replace(srv.URL, "http://", "http://bob:s3cret-pw@", 1) + "/?token=s3cret-token"
	s := e.addWith(t, u, `"interval": "10s", "method": "POST", "body": "s3cret-body", "headers": {"X-JWT": "s3cret-jwt"}`)
	e.waitFirstCheck(t, s.ID)
	// The first check follows the site service; the next ones the
	// schedule's copy.
	for deadline := time.Now().Add(30 * time.Second); site.good.Load() < 3; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) || site.bad.Load() > 0 {
			t.Fatalf("checks with every credential: %d, without some: %d", site.good.Load(), site.bad.Load())
		}
	}
	stored := pgtest.Dump(t, e.db.Config().ConnString())
	if !strings.Contains(stored, "X-JWT") || !strings.Contains(stored, "bob:xxxxx@") {
		t.Fatalf("the monitor's database holds no copy of the site: %s", stored)
	}
	if i := strings.Index(stored, "s3cret"); i >= 0 {
		t.Fatalf("a credential is stored in the open: …%s…", stored[max(0, i-200):min(len(stored), i+100)])
	}
}
