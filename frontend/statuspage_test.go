package frontend_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5/pgxpool"

	"uptime/internal/apptest"
	"uptime/internal/pgtest"
	"uptime/internal/wait"
)

// A public status page, opened in Chromium: the overall line, each site's
// state and 90 bars coloured by the day's uptime, and no script. It is the
// picture of a status page in docs/api.md.
func TestStatusPageInBrowser(t *testing.T) {
	prefix := pgtest.Prefix(t)
	a := apptest.Start(t, apptest.Setup{Prefix: prefix})
	up := healthy(t)
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
	defer failing.Close()
	var ids []int
	for _, s := range []struct{ url, name string }{
		{up.URL + "/", "Website"}, {up.URL + "/api", "Public API"}, {up.URL + "/login", "Sign-in"}, {failing.URL + "/", "Payments"},
	} {
		var created struct{ ID int }
		a.Call(t, "POST", "/site", fmt.Sprintf(`{"url": %q, "name": %q}`, s.url, s.name), &created)
		ids = append(ids, created.ID)
	}
	wait.For(t, 15*time.Second, func() error {
		var st struct {
			Sites map[string]struct{ Up bool }
		}
		a.Call(t, "GET", "/status", "", &st)
		if s, ok := st.Sites[fmt.Sprint(ids[3])]; ok && !s.Up && len(st.Sites) == 4 {
			return nil
		}
		return errors.New("the sites were not checked within 15s")
	})

	// The 89 days before today, as the daily rollups of a site checked
	// every 5 minutes would hold them: a bad day for the API, two for
	// payments.
	ctx := context.Background()
	db, err := pgxpool.New(ctx, pgtest.Cluster(t).URL(prefix+"monitor"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now().UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	for i, id := range ids {
		if _, err := db.Exec(ctx, `INSERT INTO rollup_day (site_id, day, checks, up, degraded, maintenance_checks, maintenance_up,
				latency_count, latency_sum)
			SELECT $1, d, 288, CASE WHEN $2 = 1 AND d = $4::timestamptz - interval '20 days' THEN 280
				WHEN $2 = 3 AND d IN ($4::timestamptz - interval '45 days', $4::timestamptz - interval '6 days') THEN 200 ELSE 288 END, 0, 0, 0, 288, 288 * 85.0
			FROM generate_series($3::timestamptz, $4::timestamptz - interval '1 day', interval '1 day') d`,
			id, i, today.AddDate(0, 0, -89), today); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(ctx, "UPDATE rollup_done SET hours_until = $1, days_until = $2, recent_until = NULL",
		now.Add(-2*time.Minute).Truncate(time.Hour), today); err != nil {
		t.Fatal(err)
	}
	a.Call(t, "POST", "/status-page", fmt.Sprintf(`{"slug": "acme", "title": "Acme status",
		"description": "Live status of Acme's services. Each bar is a day; hover for its uptime.",
		"groups": [{"name": "Customer-facing", "sites": [%d, %d, %d]}, {"name": "Checkout", "sites": [%d]}]}`,
		ids[0], ids[2], ids[1], ids[3]), nil)

	ctxB := browser(t)
	if err := chromedp.Do(ctxB, chromedp.EmulateViewport(1000, 900)); err != nil {
		t.Fatal(err)
	}
	p := &page{t: t, ctx: ctxB, app: a}
	p.do(chromedp.Navigate(a.URL + "/p/acme"))
	p.waitFor(`document.getElementById("overall") !== null`)
	if got := eval[string](p, `document.getElementById("overall").textContent`); got != "1 site down: Payments" {
		t.Errorf("the overall line says %q", got)
	}
	if n := eval[int](p, `document.querySelectorAll(".site").length`); n != 4 {
		t.Errorf("%d sites shown, want 4", n)
	}
	if n := eval[int](p, `document.querySelectorAll(".bars span").length`); n != 4*90 {
		t.Errorf("%d bars, want 90 for each of 4 sites", n)
	}
	// Bad days: the API's one (97%: amber), payments' two (69%: red) and
	// today, down.
	if n := eval[int](p, `document.querySelectorAll(".bars .partial").length`); n != 1 {
		t.Errorf("%d amber bars, want the API's bad day", n)
	}
	if n := eval[int](p, `document.querySelectorAll(".bars .down").length`); n != 3 {
		t.Errorf("%d red bars, want payments' two bad days and today", n)
	}
	if n := eval[int](p, `document.querySelectorAll(".bars .up").length`); n != 4*90-4 {
		t.Errorf("%d green bars, want the other %d", n, 4*90-4)
	}
	day := today.AddDate(0, 0, -20).Format(time.DateOnly)
	if title := eval[string](p, `document.querySelector(".bars .partial").title`); title != day+": 97.22% (288 checks)" {
		t.Errorf("the amber bar says %q, want %s: 97.22%% (288 checks)", title, day)
	}
	if n := eval[int](p, `document.scripts.length`); n != 0 {
		t.Errorf("the page has %d scripts, want none", n)
	}

	// An incident written with two updates shows at the top, above the
	// groups, newest update first, its Markdown rendered.
	var in struct{ ID int }
	a.Call(t, "POST", "/status-page/acme/incident", fmt.Sprintf(`{"title": "Payments failing", "status": "investigating",
		"message": "Card payments **fail** for some customers.", "sites": [%d], "impact": "major"}`, ids[3]), &in)
	a.Call(t, "POST", fmt.Sprintf("/status-page/acme/incident/%d/update", in.ID),
		`{"status": "identified", "message": "The card processor is down; we are *switching* to the backup."}`, nil)
	// (Another address: the browser may keep the page it has for its 5 s.)
	p.do(chromedp.Navigate(a.URL + "/p/acme?incident"))
	p.waitFor(`document.querySelector(".written") !== null`)
	if got := eval[string](p, `document.querySelector(".written .title").textContent + " / " + document.querySelector(".written .state").textContent`); got != "Payments failing / Identified" {
		t.Errorf("the written incident's heading says %q", got)
	}
	if got := eval[string](p, `[...document.querySelectorAll(".written .update > strong")].map((e) => e.textContent).join(",")`); got != "Identified,Investigating" {
		t.Errorf("the updates shown, in order: %q, want the newest first", got)
	}
	if got := eval[string](p, `document.querySelector(".written .update em").textContent + "|" + document.querySelectorAll(".written .update")[1].querySelector(".message strong").textContent`); got != "switching|fail" {
		t.Errorf("the Markdown rendered as %q", got)
	}
	if !eval[bool](p, `document.querySelector(".written").getBoundingClientRect().bottom <= document.querySelector(".site").getBoundingClientRect().top`) {
		t.Errorf("the written incident is not above the sites")
	}
	if !eval[bool](p, `document.querySelector(".written").offsetHeight > 40 && getComputedStyle(document.querySelector(".written")).display !== "none"`) {
		t.Errorf("the written incident is not shown")
	}

	// The dashboard links to it.
	p.do(chromedp.Navigate(a.URL + "/frontend/"))
	p.waitFor(`[...document.querySelectorAll("#status-pages a")].some((l) => l.textContent === "Acme status" && l.pathname === "/p/acme")`)
	p.do(chromedp.Navigate(a.URL + "/p/acme?incident"))
	p.waitFor(`document.querySelector(".written") !== null`)

	shot, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(bytes.NewReader(shot)); err != nil {
		t.Fatalf("the screenshot is not a PNG: %v", err)
	}
	path := t.TempDir() + "/status-page.png"
	if os.Getenv("UPTIME_UPDATE_SCREENSHOT") != "" {
		path = "../docs/status-page.png"
	}
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("saved %s", path)
}
