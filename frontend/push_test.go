package frontend_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"uptime/internal/apptest"
)

// A push site through the dashboard: added with no address, its ping URL
// shown once with a crontab line to copy; its job's signal shows in its
// row and its detail (schedule in words, last signal, next due, recent
// runs with the output on hover); its edit form offers its own settings;
// a new ping URL replaces the old one.
func TestPushSiteInTheDashboard(t *testing.T) {
	a := apptest.Start(t, apptest.Setup{})
	p := open(t, a)
	p.do(
		chromedp.Click(chromedp.ID("add-toggle")),
		chromedp.WaitVisible(chromedp.ID("add-url")),
		chromedp.Click(chromedp.ID("add-push")),
	)
	shown := p.fieldShown
	if eval[bool](p, `!document.getElementById("add-url").hidden`) || eval[bool](p, `document.getElementById("add-save").disabled`) {
		t.Fatal("a push site's form asks for an address, or cannot be saved")
	}
	for id, want := range map[string]bool{"add-push_interval": true, "add-cron": true, "add-timezone": true, "add-grace": true,
		"add-interval": false, "add-timeout": false, "add-method": false, "add-locations": false} {
		if shown(id) != want {
			t.Errorf("a push site's form shows %s: %v, want %v", id, !want, want)
		}
	}
	p.do(
		chromedp.SetValue(chromedp.ID("add-name"), "nightly-backup"),
		chromedp.SetValue(chromedp.ID("add-cron"), "0 2 * * *"),
		chromedp.SetValue(chromedp.ID("add-timezone"), "Europe/Berlin"),
		chromedp.Click(chromedp.ID("add-save")),
	)
	p.waitFor(`document.getElementById("ping-dialog").open`)
	pingURL := eval[string](p, `document.getElementById("ping-url").value`)
	if !regexp.MustCompile(`^` + regexp.QuoteMeta(a.URL) + `/heartbeat/[0-9a-f]{32}$`).MatchString(pingURL) {
		t.Fatalf("the ping URL shown: %q", pingURL)
	}
	if curl := eval[string](p, `document.getElementById("ping-curl").value`); !strings.HasSuffix(curl, "&& curl -fsS -m 10 --retry 5 "+pingURL) {
		t.Errorf("the crontab line: %q", curl)
	}
	p.do(chromedp.Click(chromedp.ID("ping-copy")))
	p.waitFor(`document.getElementById("ping-copy").textContent === "Copied"`)
	p.do(chromedp.Click(chromedp.ID("ping-done")))

	// Its job reports in, with its output.
	resp, err := http.Post(pingURL+"/0", "text/plain", strings.NewReader("backed up 3 GiB"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var list struct{ Sites []struct{ URL string } }
	a.Call(t, "GET", "/site", "", &list)
	if len(list.Sites) != 1 {
		t.Fatalf("sites: %+v", list.Sites)
	}
	url := list.Sites[0].URL
	p.waitFor(row(url) + `?.querySelector(".badge").textContent === "Up"`)
	if eval[bool](p, row(url)+`.querySelector(".check").hidden === false`) {
		t.Error("a push site's row offers to check it now")
	}

	p.do(chromedp.Click(chromedp.CSS("#sites tr .site-url")))
	p.waitFor(`document.getElementById("detail-runs").tBodies[0].rows.length === 1 && !document.getElementById("detail-push").hidden`)
	facts := eval[string](p, `document.getElementById("detail-facts").innerText`)
	for _, want := range []string{"every day at 02:00 (Europe/Berlin), late by at most 1h", "Last signal", "Next due", "in "} {
		if !strings.Contains(facts, want) {
			t.Errorf("the detail's facts %q do not say %q", facts, want)
		}
	}
	run := eval[string](p, `document.getElementById("detail-runs").tBodies[0].rows[0].innerText`)
	if !strings.Contains(run, "exit code 0 (success)") ||
		eval[string](p, `document.getElementById("detail-runs").tBodies[0].rows[0].title`) != "backed up 3 GiB" {
		t.Errorf("the recent run: %q, want exit code 0 with its output on hover", run)
	}
	if got := eval[string](p, `document.getElementById("detail-ping-url").value`); !strings.HasSuffix(got, "/heartbeat/xxxxx") {
		t.Errorf("the detail shows the ping URL %q, want its token masked", got)
	}

	// A new ping URL: shown in full, the old one refused.
	p.do(chromedp.Click(chromedp.ID("detail-ping-new")))
	p.waitFor(`document.getElementById("renew-dialog").open`)
	p.do(chromedp.Click(chromedp.ID("renew-confirm")))
	p.waitFor(`/\/heartbeat\/[0-9a-f]{32}$/.test(document.getElementById("detail-ping-url").value)`)
	renewed := eval[string](p, `document.getElementById("detail-ping-url").value`)
	if renewed == pingURL || !strings.Contains(eval[string](p, `document.getElementById("detail-ping-curl").value`), renewed) {
		t.Errorf("after a new ping URL the detail shows %q", renewed)
	}
	if resp, err := http.Get(pingURL); err != nil || resp.StatusCode != 404 {
		t.Errorf("the old ping URL after a new one: %v %v", resp.Status, err)
	}
	p.do(chromedp.Click(chromedp.CSS("#detail-dialog .detail-head button")))

	// Its edit form offers a push site's settings, filled in.
	p.do(chromedp.Click(chromedp.CSS("#sites tr .edit")))
	p.waitFor(`document.getElementById("edit-dialog").open && document.getElementById("edit-cron").value === "0 2 * * *"`)
	if !shown("edit-grace") || shown("edit-timeout") || shown("edit-method") || shown("edit-interval") {
		t.Error("the edit form of a push site shows another kind's fields")
	}
	p.do(
		chromedp.SetValue(chromedp.ID("edit-grace"), "2h"),
		chromedp.Click(chromedp.ID("edit-save")),
	)
	p.waitFor(`!document.getElementById("edit-dialog").open`)
	var got struct{ Grace, Cron, Timezone string }
	a.Call(t, "GET", theSite(t, a), "", &got)
	if got.Grace != "2h" || got.Cron != "0 2 * * *" || got.Timezone != "Europe/Berlin" {
		t.Errorf("after the edit: %+v", got)
	}
}
