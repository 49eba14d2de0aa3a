package frontend_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"uptime/internal/apptest"
	"uptime/internal/wait"
)

// The detail view shows the last 90 days from GET /history/:id?days=90,
// today last, with the day's figures on hover.
func TestDetailShowsNinetyDays(t *testing.T) {
	a := apptest.Start(t, apptest.Setup{})
	srv := healthy(t)
	id := a.AddSite(t, srv.URL)
	// The first check of a new site comes in the background.
	wait.For(t, 15*time.Second, func() error {
		var st struct{ Sites map[string]any }
		a.Call(t, "GET", fmt.Sprintf("/status?ids=%d", id), "", &st)
		if len(st.Sites) == 1 {
			return nil
		}
		return errors.New("the new site was not checked within 15s")
	})
	p := open(t, a)
	p.waitFor(row(srv.URL) + ` !== undefined && document.querySelector("#sites tr .site-url") !== null`)
	p.do(chromedp.Click(chromedp.CSS("#sites tr .site-url")))
	p.waitFor(`document.querySelectorAll("#detail-days .tick").length === 90`)
	if cls := eval[string](p, `document.querySelector("#detail-days .tick:last-child").className`); cls != "tick up" {
		t.Errorf("today's tick is %q, want up", cls)
	}
	title := eval[string](p, `document.querySelector("#detail-days .tick:last-child").title`)
	today := time.Now().UTC().Format(time.DateOnly)
	if !strings.HasPrefix(title, today+": 100") || !strings.Contains(title, "checks") {
		t.Errorf("today's tick says %q, want %s at 100%% with its checks", title, today)
	}
	if n := eval[int](p, `document.querySelectorAll("#detail-days .tick.none").length`); n != 89 {
		t.Errorf("%d days without checks, want the 89 before today", n)
	}
	facts := eval[string](p, `document.getElementById("detail-facts").textContent`)
	if !strings.Contains(facts, "(90d)") || !strings.Contains(facts, "(365d)") {
		t.Errorf("the facts %q leave out the 90 and 365 day uptime", facts)
	}
	if got := eval[string](p, `document.getElementById("detail-incidents").textContent`); got != "No incidents." {
		t.Errorf("a site always up lists incidents: %q", got)
	}
	// The site's badges, shown as images, and the Markdown to paste.
	p.waitFor(`[...document.querySelectorAll("#detail-badges img")].filter((i) => i.complete && i.naturalWidth > 40).length === 3`)
	md := eval[string](p, `document.getElementById("detail-badge-markdown").value`)
	for _, file := range []string{"status.svg", "uptime.svg?window=30d", "latency.svg"} {
		if want := fmt.Sprintf("](%s/badge/%d/%s)", a.URL, id, file); !strings.Contains(md, want) {
			t.Errorf("the badges' Markdown %q has no %s", md, want)
		}
	}
}
