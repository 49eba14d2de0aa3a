package frontend_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"uptime/internal/apptest"
	"uptime/internal/config"
	"uptime/internal/pgtest"
	"uptime/monitor/check"
)

// A site checked from two locations shows a dot for each, the one failing
// in red with its reason, and the detail view gives each location's state
// and latency; a location that stops checking is shown lost.
func TestLocationsInTheDashboard(t *testing.T) {
	prefix := pgtest.Prefix(t)
	at := func(loc string) *apptest.App {
		return apptest.Start(t, apptest.Setup{Prefix: prefix, Configure: func(c *config.Config) { c.Location = loc }})
	}
	eu, us := at("eu"), at("us")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.UserAgent() == check.LocationAgent("eu") {
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	t.Cleanup(srv.Close)
	id := eu.AddSite(t, srv.URL)
	for _, a := range []*apptest.App{eu, us} {
		if code, body := a.Do(t, "POST", fmt.Sprintf("/check/%d", id), ""); code != 200 {
			t.Fatalf("check: %d %s", code, body)
		}
	}

	p := open(t, eu)
	p.waitFor(row(srv.URL) + `?.querySelectorAll(".location").length === 2`)
	dot := func(loc string) string {
		return row(srv.URL) + fmt.Sprintf(`.querySelector('.location[data-location="%s"]')`, loc)
	}
	if got := eval[string](p, dot("eu")+`.className`); got != "location down" {
		t.Errorf("eu's dot is %q, want down", got)
	}
	if got := eval[string](p, dot("eu")+`.title`); !strings.Contains(got, "HTTP 502") {
		t.Errorf("eu's dot says %q, want its reason", got)
	}
	if got := eval[string](p, dot("us")+`.className`); got != "location up" {
		t.Errorf("us's dot is %q, want up", got)
	}
	if got := eval[string](p, row(srv.URL)+`.querySelector(".badge").textContent`); got != "Up" {
		t.Errorf("failing from one of two locations, the site shows %q, want Up", got)
	}

	p.do(chromedp.Click(chromedp.CSS("#sites tr .site-url")))
	p.waitFor(`document.getElementById("detail-facts").textContent.includes("From us")`)
	facts := eval[string](p, `document.getElementById("detail-facts").textContent`)
	if !strings.Contains(facts, "From eudown: HTTP 502") || !strings.Contains(facts, "From usup, ") || !strings.Contains(facts, "mean ") {
		t.Errorf("the detail's facts %q do not give each location's state and latency", facts)
	}
	p.do(chromedp.Click(chromedp.CSS("#detail-dialog .detail-head button")))

	if err := us.Stop(); err != nil {
		t.Fatal(err)
	}
	// Check now refreshes the page, which learns us is lost once the
	// scheduler has found it so.
	p.waitFor(`(() => { document.querySelector("#sites tr .check").click(); return ` + dot("us") + `.className === "location lost"; })()`)
}
