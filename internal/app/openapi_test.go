package app_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"uptime/internal/apptest"
	"uptime/internal/wait"
)

// GET /openapi.json is a valid OpenAPI 3.1 document; it has every route
// the server registered, each documented; and real answers of the
// endpoints match its schemas.
func TestOpenAPI(t *testing.T) {
	a := apptest.Start(t, apptest.Setup{})
	status, body := a.Do(t, "GET", "/openapi.json", "")
	if status != 200 {
		t.Fatalf("GET /openapi.json = %d %s", status, body)
	}
	ctx := context.Background()
	doc, err := openapi3.NewLoader().LoadFromData([]byte(body))
	if err != nil {
		t.Fatalf("the document does not load: %v", err)
	}
	if doc.OpenAPIMajorMinor() != "3.1" {
		t.Errorf("openapi %q, want 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(ctx); err != nil {
		t.Fatalf("the document is not valid: %v", err)
	}

	// Every route the server registered is in it, documented.
	var ops []string
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			ops = append(ops, method+" "+path)
			if _, undocumented := op.Extensions["x-undocumented"]; undocumented || op.Summary == "" {
				t.Errorf("%s %s is registered without its documentation", method, path)
			}
		}
	}
	for _, want := range []string{
		"POST /site", "GET /site/{siteID}", "PATCH /site/{siteID}", "DELETE /site/{siteID}", "GET /site",
		"POST /site/import", "GET /site/export", "GET /ping/{url}", "POST /ping/{url}", "POST /check/{siteID}",
		"POST /checkall", "POST /check-all", "GET /status", "GET /history/{siteID}", "GET /scheduler",
		"POST /slack.Notify", "GET /badge/{siteID}/status.svg", "GET /badge/{siteID}/uptime.svg",
		"GET /badge/{siteID}/latency.svg", "GET /metrics", "GET /openapi.json", "GET /healthz", "GET /readyz",
	} {
		if !contains(ops, want) {
			t.Errorf("%s is not in the document", want)
		}
	}
	// The role is given exactly where the server asks for it, and a
	// credential wherever one is needed (TestEveryRouteByRole calls them).
	for op, wantRole := range map[string]string{
		"GET /site": "viewer", "POST /site": "editor", "GET /site/export": "admin", "GET /ping/{url}": "editor",
		"DELETE /status-page/{slug}": "editor", "GET /p/{slug}": "public", "GET /badge/{siteID}/status.svg": "public",
		"POST /user": "admin", "DELETE /token/{id}": "admin", "GET /healthz": "public",
	} {
		method, path, _ := strings.Cut(op, " ")
		o := doc.Paths.Find(path).GetOperation(method)
		if o == nil {
			t.Errorf("%s is not in the document", op)
			continue
		}
		gotKey := o.Security != nil && len(*o.Security) > 0
		if role := o.Extensions["x-required-role"]; role != wantRole || gotKey != (wantRole != "public") {
			t.Errorf("%s: role %v, security %v in the document; want %s", op, role, gotKey, wantRole)
		}
	}
	if s := doc.Components.Schemas["Error"]; s == nil || s.Value.Properties["code"] == nil || s.Value.Properties["message"] == nil {
		t.Errorf("the error schema is not Encore's shape: %v", s)
	}
	// Each path of the document reaches an endpoint of the server: none is
	// answered "no endpoint".
	for _, op := range ops {
		method, path, _ := strings.Cut(op, " ")
		path = strings.NewReplacer("{siteID}", "999999", "{url}", "127.0.0.1:9").Replace(path)
		if status, body := a.Do(t, method, path, ""); status == 405 || strings.Contains(body, "no endpoint for") {
			t.Errorf("%s %s, from the document, reaches no endpoint: %d %s", method, path, status, body)
		}
	}

	// Answers of the endpoints, checked against the document's schemas.
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer up.Close()
	add := fmt.Sprintf(`{"url": %q, "name": "Shop", "interval": "1m", "headers": {"X-A": "b"}}`, up.URL)
	_, created := a.Do(t, "POST", "/site", add)
	id := strings.TrimSpace(strings.Split(strings.Split(created, `"id":`)[1], ",")[0])
	wait.For(t, 15*time.Second, func() error {
		if _, body := a.Do(t, "GET", "/status?ids="+id, ""); strings.Contains(body, `"up":true`) {
			return nil
		}
		return errors.New("the site was not checked within 15s")
	})
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/site", fmt.Sprintf(`{"url": %q}`, up.URL+"/other")},
		{"POST", "/site", `{"url": "nope"}`},
		{"GET", "/site/" + id, ""},
		{"PATCH", "/site/" + id, `{"name": "Shop 2", "timeout": null}`},
		{"GET", "/site", ""},
		{"GET", "/site?limit=1", ""},
		{"GET", "/site/export", ""},
		{"POST", "/site/import?dry_run=true", fmt.Sprintf(`{"sites": [{"url": %q}, {"url": "bad"}]}`, up.URL+"/third")},
		{"GET", "/ping/" + strings.TrimPrefix(up.URL, "http://"), ""},
		{"POST", "/check/" + id, ""},
		{"GET", "/status", ""},
		{"GET", "/history/" + id, ""},
		{"GET", "/history/" + id + "?days=3", ""},
		{"GET", "/history/999999", ""},
		{"GET", "/scheduler", ""},
		{"GET", "/healthz", ""},
		{"GET", "/readyz", ""},
		{"GET", "/badge/" + id + "/status.svg", ""},
	} {
		req, err := http.NewRequest(c.method, a.URL+c.path, strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		route, params, err := router.FindRoute(req)
		if err != nil {
			t.Errorf("%s %s: not found in the document: %v", c.method, c.path, err)
			continue
		}
		in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{IncludeResponseStatus: true}}
		if err := openapi3filter.ValidateResponse(ctx, &openapi3filter.ResponseValidationInput{
			RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header, Body: io.NopCloser(bytes.NewReader(got)),
			Options: &openapi3filter.Options{IncludeResponseStatus: true},
		}); err != nil {
			t.Errorf("%s %s = %d %s\ndoes not match the document: %v", c.method, c.path, resp.StatusCode, got, err)
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
