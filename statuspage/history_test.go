package statuspage_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"uptime/internal/apptest"
	"uptime/internal/pgtest"
)

// A page's history shows a month's written incidents, with their updates,
// and its sites' outages: this month by default, an earlier one by
// ?month=, each in its own month only, with links between months. A bad
// or future month is a 400; no page, a 404.
func TestStatusPageHistory(t *testing.T) {
	prefix := pgtest.Prefix(t)
	a := apptest.Start(t, apptest.Setup{Prefix: prefix})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/down") {
			w.WriteHeader(503)
		}
	}))
	defer srv.Close()
	var shop struct{ ID int64 }
	a.Call(t, "POST", "/site", fmt.Sprintf(`{"url": %q, "name": "Shop", "confirmations": 0}`, srv.URL+"/down"), &shop)
	a.Call(t, "POST", "/status-page", fmt.Sprintf(`{"slug": "acme", "title": "Acme", "groups": [{"name": "All", "sites": [%d]}]}`, shop.ID), nil)
	var now, old struct{ ID int64 }
	a.Call(t, "POST", "/status-page/acme/incident", `{"title": "Slow checkout", "status": "investigating", "message": "Looking **now**."}`, &now)
	a.Call(t, "POST", "/status-page/acme/incident", `{"title": "Old outage", "status": "resolved", "message": "Long fixed."}`, &old)
	a.Call(t, "POST", fmt.Sprintf("/check/%d", shop.ID), "", nil) // down: an outage this month

	// The old incident began and ended in the month before this one.
	thisMonth := time.Date(time.Now().UTC().Year(), time.Now().UTC().Month(), 1, 0, 0, 0, 0, time.UTC)
	lastMonth := thisMonth.AddDate(0, -1, 0)
	db, err := pgxpool.New(context.Background(), pgtest.Cluster(t).URL(prefix+"statuspage"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	at := lastMonth.Add(36 * time.Hour)
	if _, err := db.Exec(context.Background(), `UPDATE page_incident SET created_at = $2, updated_at = $2, resolved_at = $2 WHERE id = $1`, old.ID, at); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(context.Background(), `UPDATE page_incident_update SET created_at = $2 WHERE incident_id = $1`, old.ID, at); err != nil {
		t.Fatal(err)
	}

	status, _, body := call(t, a, "GET", "/p/acme/history", "")
	if status != http.StatusOK {
		t.Fatalf("GET history = %d", status)
	}
	for _, want := range []string{thisMonth.Format("January 2006"), "Slow checkout", "<strong>now</strong>",
		`<span class="name">Shop</span>`, `href="?month=` + lastMonth.Format("2006-01") + `"`, `href="/p/acme"`} {
		if !strings.Contains(body, want) {
			t.Errorf("this month's history lacks %q", want)
		}
	}
	if strings.Contains(body, "Old outage") || strings.Contains(body, "Later →") {
		t.Errorf("this month's history shows last month's incident, or a later month")
	}

	status, _, body = call(t, a, "GET", "/p/acme/history?month="+lastMonth.Format("2006-01"), "")
	if status != http.StatusOK {
		t.Fatalf("GET last month's history = %d", status)
	}
	for _, want := range []string{lastMonth.Format("January 2006"), "Old outage", "Long fixed.", "No outages in",
		`href="?month=` + thisMonth.Format("2006-01") + `"`} {
		if !strings.Contains(body, want) {
			t.Errorf("last month's history lacks %q", want)
		}
	}
	if strings.Contains(body, "Slow checkout") || strings.Contains(body, `<span class="name">Shop</span>`) {
		t.Errorf("last month's history shows this month's incident or outage")
	}

	for _, bad := range []string{"2026-13", "nov", thisMonth.AddDate(0, 1, 0).Format("2006-01")} {
		if status, _, body := call(t, a, "GET", "/p/acme/history?month="+bad, ""); status != http.StatusBadRequest || !strings.Contains(body, "month") {
			t.Errorf("month %s: %d %s, want a 400 naming it", bad, status, body)
		}
	}
	if status, _, _ := call(t, a, "GET", "/p/nope/history", ""); status != http.StatusNotFound {
		t.Errorf("the history of no page: %d, want 404", status)
	}
	_, _, page := call(t, a, "GET", "/p/acme", "")
	if !strings.Contains(page, `<a href="/p/acme/history">History</a>`) {
		t.Errorf("the page does not link to its history")
	}
}
