package statuspage_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"uptime/internal/apptest"
	"uptime/internal/config"
)

// A page of visibility password shows a visitor its title and a form,
// nothing of its sites, and its feed, history and its sites' badges
// nothing either, until the right password sets its cookie; a page of
// visibility token shows itself for ?token= (and sets the cookie). The
// password and token are never shown; a new password voids the cookies
// given before. Bad input is refused, naming the field.
func TestPrivatePages(t *testing.T) {
	const key = "the-key"
	a := apptest.Start(t, apptest.Setup{Configure: func(c *config.Config) { c.APIKey, c.Reads = key, "private" }})
	a.Key = key
	anon := apptest.Client{URL: a.URL}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	var shop, wall struct{ ID int64 }
	a.Call(t, "POST", "/site", fmt.Sprintf(`{"url": %q, "name": "Shopfront"}`, srv.URL+"/shop"), &shop)
	a.Call(t, "POST", "/site", fmt.Sprintf(`{"url": %q, "name": "Wallboard"}`, srv.URL+"/wall"), &wall)
	a.Call(t, "POST", fmt.Sprintf("/check/%d", shop.ID), "", nil)
	var created map[string]any
	a.Call(t, "POST", "/status-page", fmt.Sprintf(`{"slug": "inside", "title": "Inside status", "visibility": "password",
		"password": "correct horse", "groups": [{"name": "Internal", "sites": [%d]}]}`, shop.ID), &created)
	if created["visibility"] != "password" || created["password"] != nil {
		t.Errorf("created %v: want visibility password and no password shown", created)
	}
	_, _, got := a.DoWithHeaders(t, "GET", "/status-page/inside", "")
	if strings.Contains(got, "correct horse") || strings.Contains(got, "argon2") {
		t.Errorf("the page's settings show its password: %s", got)
	}

	status, h, body := anon.DoWithHeaders(t, "GET", "/p/inside", "")
	if status != http.StatusUnauthorized || !strings.Contains(body, "<h1>Inside status</h1>") || !strings.Contains(body, `name="password"`) ||
		strings.Contains(body, "Shopfront") || strings.Contains(body, "Internal") {
		t.Errorf("GET /p/inside without the password: %d, want 401 with the title and the form and nothing else:\n%s", status, body)
	}
	if h.Get("Cache-Control") != "no-store" {
		t.Errorf("the form's Cache-Control: %q", h.Get("Cache-Control"))
	}
	for _, path := range []string{"/p/inside/feed.atom", "/p/inside/history"} {
		if status, _, body := anon.DoWithHeaders(t, "GET", path, ""); status != http.StatusUnauthorized || strings.Contains(body, "Shopfront") {
			t.Errorf("GET %s without the password: %d, want 401 and nothing of the sites", path, status)
		}
	}
	badge := fmt.Sprintf("/badge/%d/status.svg", shop.ID)
	if status, _, _ := anon.DoWithHeaders(t, "GET", badge, ""); status != http.StatusNotFound {
		t.Errorf("the badge of a site on a private page only, without the password: %d, want 404", status)
	}

	// As a browser posts the form, seeing the redirect rather than following it.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	login := func(password string) (int, http.Header, string) {
		t.Helper()
		resp, err := noRedirect.PostForm(a.URL+"/p/inside/login", url.Values{"password": {password}, "next": {"/p/inside"}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	if status, h, body := login("wrong horse"); status != http.StatusUnauthorized || h.Get("Set-Cookie") != "" || !strings.Contains(body, `id="wrong"`) {
		t.Errorf("a wrong password: %d, cookie %q, want 401 saying so and no cookie", status, h.Get("Set-Cookie"))
	}
	status, h, _ = login("correct horse")
	cookie := strings.Split(h.Get("Set-Cookie"), ";")[0]
	if status != http.StatusSeeOther || h.Get("Location") != "/p/inside" || !strings.HasPrefix(cookie, "uptime_page_inside=") ||
		!strings.Contains(h.Get("Set-Cookie"), "HttpOnly") {
		t.Fatalf("the right password: %d, Location %q, cookie %q", status, h.Get("Location"), h.Get("Set-Cookie"))
	}
	status, h, body = anon.DoWithHeaders(t, "GET", "/p/inside", "", "Cookie", cookie)
	if status != http.StatusOK || !strings.Contains(body, "Shopfront") || !strings.HasPrefix(h.Get("Cache-Control"), "private") {
		t.Errorf("GET /p/inside with the cookie: %d, Cache-Control %q, want 200 with the sites, kept private", status, h.Get("Cache-Control"))
	}
	for _, path := range []string{"/p/inside/feed.atom", "/p/inside/history", badge} {
		if status, _, _ := anon.DoWithHeaders(t, "GET", path, "", "Cookie", cookie); status != http.StatusOK {
			t.Errorf("GET %s with the cookie: %d, want 200", path, status)
		}
	}
	if status, _, _ := anon.DoWithHeaders(t, "GET", "/p/inside", "", "Cookie", cookie+"x"); status != http.StatusUnauthorized {
		t.Errorf("a forged cookie: %d, want 401", status)
	}
	// A new password voids the cookie.
	a.Call(t, "PATCH", "/status-page/inside", `{"password": "battery staple"}`, nil)
	if status, _, _ := anon.DoWithHeaders(t, "GET", "/p/inside", "", "Cookie", cookie); status != http.StatusUnauthorized {
		t.Errorf("the cookie of the old password: %d, want 401", status)
	}

	// A wall screen's token.
	const token = "wall-screen-token-0123456789"
	a.Call(t, "POST", "/status-page", fmt.Sprintf(`{"slug": "wall", "title": "Wall", "visibility": "token", "token": %q,
		"groups": [{"name": "All", "sites": [%d]}]}`, token, wall.ID), nil)
	if status, _, body := anon.DoWithHeaders(t, "GET", "/p/wall", ""); status != http.StatusUnauthorized || strings.Contains(body, "Wallboard") {
		t.Errorf("GET /p/wall without the token: %d", status)
	}
	if status, _, _ := anon.DoWithHeaders(t, "GET", "/p/wall?token=wall-screen-token-wrong00000", ""); status != http.StatusUnauthorized {
		t.Errorf("GET /p/wall with a wrong token: %d, want 401", status)
	}
	status, h, body = anon.DoWithHeaders(t, "GET", "/p/wall?token="+token, "")
	if status != http.StatusOK || !strings.Contains(body, "Wallboard") || !strings.HasPrefix(h.Get("Set-Cookie"), "uptime_page_wall=") {
		t.Errorf("GET /p/wall with the token: %d, cookie %q, want 200 and the cookie", status, h.Get("Set-Cookie"))
	}
	for _, path := range []string{"/p/wall/feed.rss?token=" + token, fmt.Sprintf("/badge/%d/status.svg?token=%s", wall.ID, token)} {
		if status, _, _ := anon.DoWithHeaders(t, "GET", path, ""); status != http.StatusOK {
			t.Errorf("GET %s: %d, want 200", path, status)
		}
	}
	if status, _, _ := anon.DoWithHeaders(t, "GET", "/p/wall/feed.rss", ""); status != http.StatusUnauthorized {
		t.Errorf("the wall's feed without the token: %d, want 401", status)
	}

	// Bad input: nothing stored.
	for _, c := range []struct{ body, want string }{
		{`{"slug": "x", "title": "X", "visibility": "secret"}`, "visibility must be one of public, password, token"},
		{`{"slug": "x", "title": "X", "visibility": "password"}`, "password is required"},
		{`{"slug": "x", "title": "X", "visibility": "password", "password": "short"}`, "password must have 8 to 1024 characters"},
		{`{"slug": "x", "title": "X", "visibility": "token"}`, "token is required"},
		{`{"slug": "x", "title": "X", "visibility": "token", "token": "too short"}`, "token must be 20 to 200"},
	} {
		status, _, body := a.DoWithHeaders(t, "POST", "/status-page", c.body)
		if status != http.StatusBadRequest || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d %s, want a 400 saying %q", c.body, status, body, c.want)
		}
	}
	if status, _, _ := a.DoWithHeaders(t, "GET", "/status-page/x", ""); status != http.StatusNotFound {
		t.Errorf("a page was stored from a refused request: %d", status)
	}
	// Made public again, the page is anyone's.
	a.Call(t, "PATCH", "/status-page/inside", `{"visibility": "public"}`, nil)
	if status, _, body := anon.DoWithHeaders(t, "GET", "/p/inside", ""); status != http.StatusOK || !strings.Contains(body, "Shopfront") {
		t.Errorf("GET /p/inside once public: %d", status)
	}
}
