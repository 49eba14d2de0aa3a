package monitor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"uptime/monitor"
	"uptime/monitor/event"
)

// sitesOf lists the sites of the transitions, as "kind:id", sorted.
func sitesOf(evs []event.Transition) string {
	var out []string
	for _, ev := range evs {
		out = append(out, fmt.Sprintf("%s:%d", ev.Kind(), ev.Site.ID))
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

// An outage of a site that others depend on is alerted once, as its own:
// the sites depending on it, found down, first have it checked, see it
// down, and record their own down as "dependency down: <name>" without
// an alert. Down after it is back, they are alerted then.
func TestADependencysOutageIsAlertedOnce(t *testing.T) {
	e := setup(t, setupOpts{opts: monitor.Options{Confirmations: 1}})
	dbSw, dbSrv := newSwitchable(t, 200)
	webSw, webSrv := newSwitchable(t, 200)
	apiSw, apiSrv := newSwitchable(t, 200)
	db := e.addWithSettings(t, dbSrv.URL+"/db", `"name": "Database"`)
	web := e.addWithSettings(t, webSrv.URL+"/web", fmt.Sprintf(`"name": "Web", "depends_on": [%d]`, db))
	api := e.addWithSettings(t, apiSrv.URL+"/api", fmt.Sprintf(`"name": "API", "depends_on": [%d]`, db))

	dbSw.set(503)
	webSw.set(503)
	apiSw.set(503)
	// Web is found down first: the database is checked at once, before
	// Web's down is decided.
	e.check(t, web)
	e.checkAll(t)
	e.checkAll(t)
	if got, want := sitesOf(e.waitTransitions(t, 1)), fmt.Sprintf("down:%d", db); got != want {
		t.Fatalf("alerts %s, want the database's down alone: %s", got, want)
	}
	st := e.status(t)
	for _, id := range []int64{web, api} {
		s := st[fmt.Sprint(id)]
		if s.Up || s.Reason != "dependency down: Database" {
			t.Errorf("site %d: up %v, reason %q; want down, dependency down: Database", id, s.Up, s.Reason)
		}
	}
	var cause string
	if err := e.db.QueryRow(context.Background(), `SELECT cause FROM incident WHERE site_id = $1`, web).Scan(&cause); err != nil {
		t.Fatal(err)
	}
	if cause != "dependency down: Database" {
		t.Errorf("Web's incident's cause: %q", cause)
	}

	// The database is back, Web and API are not: their own downs now.
	dbSw.set(200)
	e.check(t, db)
	e.checkAll(t)
	want := fmt.Sprintf("down:%d,down:%d,down:%d,up:%d", db, web, api, db)
	if got := sitesOf(e.waitTransitions(t, 4)); got != want {
		t.Fatalf("alerts %s, want %s", got, want)
	}
	if s := e.status(t)[fmt.Sprint(web)]; s.Reason != "HTTP 503" {
		t.Errorf("Web's reason once the database is back: %q", s.Reason)
	}
	webSw.set(200)
	apiSw.set(200)
	e.checkAll(t)
	if got := len(e.waitTransitions(t, 6)); got != 6 {
		t.Errorf("%d alerts, want 6 after Web and API are back", got)
	}
}

// A site depending on itself, on a site that is not there, or through
// others on itself is refused, and nothing is stored.
func TestDependenciesRefused(t *testing.T) {
	e := setup(t, setupOpts{})
	_, srv := newSwitchable(t, 200)
	a := e.addWithSettings(t, srv.URL+"/a", `"paused": true`)
	b := e.addWithSettings(t, srv.URL+"/b", fmt.Sprintf(`"paused": true, "depends_on": [%d]`, a))
	c := e.addWithSettings(t, srv.URL+"/c", fmt.Sprintf(`"paused": true, "depends_on": [%d]`, b))
	for _, r := range []struct{ method, path, body, want string }{
		{"PATCH", fmt.Sprintf("/site/%d", a), fmt.Sprintf(`{"depends_on": [%d]}`, a), "cannot depend on itself"},
		{"PATCH", fmt.Sprintf("/site/%d", a), `{"depends_on": [999999]}`, "no site has the id 999999"},
		{"PATCH", fmt.Sprintf("/site/%d", a), fmt.Sprintf(`{"depends_on": [%d]}`, c), fmt.Sprintf("a cycle: site %d depends on %d depends on %d depends on %d", a, c, b, a)},
		{"PATCH", fmt.Sprintf("/site/%d", a), fmt.Sprintf(`{"depends_on": [%d, %d]}`, b, b), "listed twice"},
		{"PATCH", fmt.Sprintf("/site/%d", a), `{"depends_on": [0]}`, "not a site id"},
		{"PATCH", fmt.Sprintf("/site/%d", a), `{"depends_on": [1,2,3,4,5,6,7,8,9,10,11]}`, "at most 10"},
		{"POST", "/site", fmt.Sprintf(`{"url": %q, "depends_on": [999999]}`, srv.URL+"/d"), "no site has the id 999999"},
		{"POST", "/site/import", fmt.Sprintf(`{"sites": [{"url": %q, "paused": true, "depends_on": [%d]}]}`, srv.URL+"/a", c),
			fmt.Sprintf("a cycle: site %d depends on %d depends on %d depends on %d", a, c, b, a)},
	} {
		status, msg := e.Refusal(t, r.method, r.path, r.body)
		if status != http.StatusBadRequest || !strings.Contains(msg, "depends_on") || !strings.Contains(msg, r.want) {
			t.Errorf("%s %s %s: %d %q, want 400 saying %q", r.method, r.path, r.body, status, msg, r.want)
		}
	}
	var got struct {
		DependsOn []int64 `json:"depends_on"`
	}
	e.Call(t, "GET", fmt.Sprintf("/site/%d", a), "", &got)
	if len(got.DependsOn) != 0 {
		t.Errorf("site a depends on %v after refusals, want nothing", got.DependsOn)
	}
	e.Call(t, "GET", fmt.Sprintf("/site/%d", c), "", &got)
	if !slices.Equal(got.DependsOn, []int64{b}) {
		t.Errorf("site c depends on %v, want [%d]", got.DependsOn, b)
	}
	var list struct{ Sites []struct{ ID int64 } }
	e.Call(t, "GET", "/site", "", &list)
	if len(list.Sites) != 3 {
		t.Errorf("%d sites after a refused add, want 3", len(list.Sites))
	}

	// A site deleted leaves the depends_on of the others: deleting b, and
	// pruning a by an import whose row for c names it, leave c depending
	// on nothing, and its export imports again.
	e.Call(t, "DELETE", fmt.Sprintf("/site/%d", b), "", nil)
	e.Call(t, "GET", fmt.Sprintf("/site/%d", c), "", &got)
	if len(got.DependsOn) != 0 {
		t.Errorf("site c depends on %v once b is deleted, want nothing", got.DependsOn)
	}
	var imported struct{ Deleted, Updated int }
	e.Call(t, "POST", "/site/import?prune=true", fmt.Sprintf(`{"sites": [{"url": %q, "paused": true, "depends_on": [%d]}]}`,
		srv.URL+"/c", a), &imported)
	e.Call(t, "GET", fmt.Sprintf("/site/%d", c), "", &got)
	if imported.Deleted != 1 || len(got.DependsOn) != 0 {
		t.Errorf("the prune deleted %d sites and left c depending on %v; want a deleted and nothing", imported.Deleted, got.DependsOn)
	}
	var export struct{ Sites []json.RawMessage }
	e.Call(t, "GET", "/site/export", "", &export)
	body, _ := json.Marshal(export)
	e.Call(t, "POST", "/site/import", string(body), nil)
}
