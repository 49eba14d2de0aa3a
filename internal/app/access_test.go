package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/oauth2-proxy/mockoidc"
	"github.com/pquerna/otp/totp"

	"uptime/account"
	"uptime/internal/api"
	"uptime/internal/app"
	"uptime/internal/apptest"
	"uptime/internal/config"
	"uptime/internal/dbutil"
	"uptime/internal/pgtest"
	"uptime/internal/wait"
)

const accessKey = "access-test-key-0123456789abcdef"

// people are a server's admin, editor and viewer, each with a token of
// their own role.
type people struct {
	admin, editor, viewer apptest.Client
	ids                   map[string]int64 // user ids by role
}

// addPeople adds a user of each role through the API with key, and a
// token for each, owned by them.
func addPeople(t *testing.T, a apptest.Client) people {
	t.Helper()
	p := people{ids: map[string]int64{}}
	for _, role := range []string{"admin", "editor", "viewer"} {
		var u struct{ ID int64 }
		a.Call(t, "POST", "/user", fmt.Sprintf(`{"email": "%s@example.com", "name": "The %s", "role": %q, "password": "blue-kettle-%s-orbit"}`,
			role, role, role, role), &u)
		p.ids[role] = u.ID
		var tok struct{ Token string }
		a.Call(t, "POST", "/token", fmt.Sprintf(`{"name": "%s's", "role": %q, "owner": %d}`, role, role, u.ID), &tok)
		if !strings.HasPrefix(tok.Token, "upt_") || len(tok.Token) != 4+52 {
			t.Fatalf("token %q: want upt_ and 32 bytes in base32", tok.Token)
		}
		c := apptest.Client{URL: a.URL, Key: tok.Token}
		switch role {
		case "admin":
			p.admin = c
		case "editor":
			p.editor = c
		case "viewer":
			p.viewer = c
		}
	}
	return p
}

// TestEveryRouteByRole calls every route the OpenAPI document lists as
// each caller: nobody, a viewer, an editor, an admin and the API key. A
// caller below the route's role is refused (401 without a credential, 403
// with one too low); one at or above it gets past the door (whatever the
// endpoint then says of ids that do not exist). The roles themselves are
// the contract: reads are a viewer's, changes an editor's, users, tokens
// and the export an admin's, and the public surfaces need nothing.
func TestEveryRouteByRole(t *testing.T) {
	a := apptest.Start(t, apptest.Setup{Configure: func(c *config.Config) { c.APIKey = accessKey }})
	key := apptest.Client{URL: a.URL, Key: accessKey}
	p := addPeople(t, key)

	var doc struct {
		Paths map[string]map[string]struct {
			Role string `json:"x-required-role"`
		}
	}
	key.Call(t, "GET", "/openapi.json", "", &doc)

	want := map[string]string{
		"POST /user": "admin", "GET /user": "admin", "GET /user/{id}": "admin", "PATCH /user/{id}": "admin",
		"DELETE /user/{id}": "admin", "POST /token": "admin", "GET /token": "admin", "DELETE /token/{id}": "admin",
		"GET /site/export": "admin",
		"GET /p/{slug}":    "public", "GET /healthz": "public", "GET /readyz": "public", "GET /frontend/": "public",
		"GET /badge/{siteID}/status.svg": "public", "GET /heartbeat/{token}": "public", "POST /heartbeat/{token}/{signal}": "public",
		"GET /site": "viewer", "GET /history/{siteID}": "viewer", "GET /channel": "viewer", "GET /metrics": "viewer",
		"POST /site": "editor", "DELETE /site/{siteID}": "editor", "POST /channel": "editor", "POST /checkall": "editor",
		"GET /ping/{url}": "editor", "POST /status-page": "editor", "POST /maintenance": "editor",
	}
	seen := map[string]bool{}
	param := regexp.MustCompile(`\{[^}]+\}`)
	callers := []struct {
		name string
		c    apptest.Client
		role int
	}{{"nobody", apptest.Client{URL: a.URL}, 0}, {"viewer", p.viewer, 1}, {"editor", p.editor, 2}, {"admin", p.admin, 3},
		{"api-key", key, 3}}
	rank := map[string]int{"public": 0, "viewer": 1, "editor": 2, "admin": 3}
	paths := make([]string, 0, len(doc.Paths))
	for path := range doc.Paths {
		paths = append(paths, path)
	}
	sort.Strings(paths)
	client := &http.Client{Timeout: 10 * time.Second}
	for _, path := range paths {
		for method, op := range doc.Paths[path] {
			route := strings.ToUpper(method) + " " + path
			if w, ok := want[route]; ok {
				seen[route] = true
				if op.Role != w {
					t.Errorf("%s needs %q, want %q", route, op.Role, w)
				}
			}
			need, ok := rank[op.Role]
			if !ok {
				t.Errorf("%s has no x-required-role (%q)", route, op.Role)
				continue
			}
			if strings.Contains(path, "{token}") {
				continue // a push site's ping URL: its token is the credential, tried below
			}
			concrete := param.ReplaceAllStringFunc(path, func(p string) string {
				switch p {
				case "{url}":
					return "http://127.0.0.1:9/"
				case "{slug}", "{name}":
					return "no-such-thing"
				}
				return "999999"
			})
			for _, caller := range callers {
				if method == "delete" && strings.HasPrefix(path, "/user") || method == "get" && path == "/stream" {
					if caller.role >= need {
						continue // admitted: not worth deleting nobody or holding a stream open
					}
				}
				req, _ := http.NewRequest(strings.ToUpper(method), a.URL+concrete, strings.NewReader("{}"))
				if caller.c.Key != "" {
					req.Header.Set("Authorization", "Bearer "+caller.c.Key)
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Fatalf("%s as %s: %v", route, caller.name, err)
				}
				var e struct{ Message string }
				json.NewDecoder(resp.Body).Decode(&e)
				resp.Body.Close()
				// The door's refusals: 401 asking for a bearer token, 403
				// naming the role (an endpoint's own 401, a wrong password
				// at /signin, is not one).
				refused := resp.StatusCode == 401 && resp.Header.Get("WWW-Authenticate") != "" ||
					resp.StatusCode == 403 && (method == "head" || strings.Contains(e.Message, "role"))
				switch {
				case caller.role >= need && refused:
					t.Errorf("%s as %s (route needs %s): %d %s, want it admitted", route, caller.name, op.Role, resp.StatusCode, e.Message)
				case caller.role < need && caller.role == 0 && (resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == ""):
					t.Errorf("%s as nobody (route needs %s): %d %s, want 401", route, op.Role, resp.StatusCode, e.Message)
				case caller.role < need && caller.role > 0 && (resp.StatusCode != 403 || method != "head" && !strings.Contains(e.Message, "needs the "+op.Role+" role")):
					t.Errorf("%s as %s (route needs %s): %d %s, want 403 naming the role", route, caller.name, op.Role, resp.StatusCode, e.Message)
				}
			}
		}
	}
	for route := range want {
		if !seen[route] {
			t.Errorf("%s is not in the OpenAPI document", route)
		}
	}
}

// TestTokensAndUsers covers what the users and tokens API refuses, and a
// token's life: its role at most its owner's, its owner disabled, demoted
// or deleted, its expiry, and its revocation seen by a second instance
// within a second.
func TestTokensAndUsers(t *testing.T) {
	prefix := pgtest.Prefix(t)
	withKey := func(c *config.Config) { c.APIKey = accessKey }
	a := apptest.Start(t, apptest.Setup{Prefix: prefix, Configure: withKey})
	b := apptest.Start(t, apptest.Setup{Prefix: prefix, Configure: withKey})
	key := apptest.Client{URL: a.URL, Key: accessKey}
	p := addPeople(t, key)

	for _, tt := range []struct {
		name, method, path, body string
		status                   int
		says                     string
	}{
		{"unknown role", "POST", "/user", `{"email": "x@example.com", "role": "owner", "password": "blue-kettle-x-orbit"}`, 400, "unknown role"},
		{"short password", "POST", "/user", `{"email": "x@example.com", "role": "viewer", "password": "Abc123!x"}`, 400, "at least 12"},
		{"common password", "POST", "/user", `{"email": "x@example.com", "role": "viewer", "password": "password1234"}`, 400, "too easy to guess"},
		{"own name as password", "POST", "/user", `{"email": "margaret.hamilton@example.com", "role": "viewer", "password": "margarethamilton"}`, 400, "too easy to guess"},
		{"bad email", "POST", "/user", `{"email": "Alice <a@example.com>", "role": "viewer"}`, 400, "email"},
		{"no role", "POST", "/user", `{"email": "x@example.com"}`, 400, "role is required"},
		{"duplicate email", "POST", "/user", `{"email": "Viewer@Example.com", "role": "viewer"}`, 409, "already has the email"},
		{"unknown field", "POST", "/user", `{"email": "x@example.com", "role": "viewer", "admin": true}`, 400, "unknown field"},
		{"token above its owner", "POST", "/token", fmt.Sprintf(`{"name": "x", "role": "admin", "owner": %d}`, p.ids["editor"]), 400, "at most its owner's"},
		{"token of nobody", "POST", "/token", `{"name": "x", "role": "viewer", "owner": 999999}`, 400, "no user has the id"},
		{"token's unknown role", "POST", "/token", `{"name": "x", "role": "root"}`, 400, "unknown role"},
		{"token's bad expiry", "POST", "/token", `{"name": "x", "role": "viewer", "expires_in": "soon"}`, 400, "expires_in"},
		{"token without a name", "POST", "/token", `{"role": "viewer"}`, 400, "name is required"},
		{"last admin demoted", "PATCH", fmt.Sprintf("/user/%d", p.ids["admin"]), `{"role": "editor"}`, 400, "last admin"},
		{"last admin disabled", "PATCH", fmt.Sprintf("/user/%d", p.ids["admin"]), `{"disabled": true}`, 400, "last admin"},
		{"last admin deleted", "DELETE", fmt.Sprintf("/user/%d", p.ids["admin"]), ``, 400, "last admin"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var before []json.RawMessage
			var users struct{ Users []json.RawMessage }
			key.Call(t, "GET", "/user", "", &users)
			before = users.Users
			status, msg := key.Refusal(t, tt.method, tt.path, tt.body)
			if status != tt.status || !strings.Contains(msg, tt.says) {
				t.Errorf("%d %q, want %d saying %q", status, msg, tt.status, tt.says)
			}
			key.Call(t, "GET", "/user", "", &users)
			if fmt.Sprint(users.Users) != fmt.Sprint(before) {
				t.Errorf("the users changed:\n%s\nwant\n%s", users.Users, before)
			}
		})
	}

	// A listing never holds a secret.
	status, body := key.Do(t, "GET", "/token", "")
	if status != 200 || strings.Contains(body, p.viewer.Key) || strings.Contains(body, "upt_") || !strings.Contains(body, `"owner":"viewer@example.com"`) {
		t.Errorf("GET /token = %d %s, want the tokens with their owners and no secret", status, body)
	}
	status, body = key.Do(t, "GET", "/user", "")
	if status != 200 || strings.Contains(body, "argon2") || strings.Contains(body, "blue-kettle") {
		t.Errorf("GET /user = %d %s, want no password or hash", status, body)
	}

	// The token works on both instances; demoting its owner lowers it.
	onB := func(c apptest.Client) apptest.Client { c.URL = b.URL; return c }
	if status, _ := onB(p.editor).Do(t, "POST", "/site", `{"url": "https://example.com"}`); status != 200 {
		t.Fatalf("an editor's token on the second instance: %d", status)
	}
	key.Call(t, "PATCH", fmt.Sprintf("/user/%d", p.ids["editor"]), `{"role": "viewer"}`, nil)
	wait.Until(t, 2*time.Second, "the demoted editor's token to be refused changes", func() bool {
		status, _ := onB(p.editor).Do(t, "POST", "/site", `{"url": "https://example.org"}`)
		return status == 403
	})

	// Revoked on one instance, refused by the other within a second.
	var tokens struct {
		Tokens []struct {
			ID   int64
			Name string
		}
	}
	key.Call(t, "GET", "/token", "", &tokens)
	var viewerToken int64
	for _, tok := range tokens.Tokens {
		if tok.Name == "viewer's" {
			viewerToken = tok.ID
		}
	}
	if status, _ := onB(p.viewer).Do(t, "GET", "/site", ""); status != 200 {
		t.Fatalf("the viewer's token on the second instance: %d", status)
	}
	key.Call(t, "DELETE", fmt.Sprintf("/token/%d", viewerToken), "", nil)
	revoked := time.Now()
	if status, _ := p.viewer.Do(t, "GET", "/site", ""); status != 401 {
		t.Errorf("a revoked token on the instance that revoked it: %d, want 401 at once", status)
	}
	wait.Until(t, 5*time.Second, "the second instance to refuse the revoked token", func() bool {
		status, _ := onB(p.viewer).Do(t, "GET", "/site", "")
		return status == 401
	})
	if took := time.Since(revoked); took > time.Second {
		t.Errorf("the second instance refused the revoked token after %s, want within a second", took)
	}

	// A disabled user's tokens stop; enabled again, they work.
	key.Call(t, "PATCH", fmt.Sprintf("/user/%d", p.ids["admin"]), `{"disabled": false}`, nil)
	var second struct{ ID int64 }
	key.Call(t, "POST", "/user", `{"email": "ada@example.com", "role": "admin"}`, &second)
	key.Call(t, "PATCH", fmt.Sprintf("/user/%d", p.ids["admin"]), `{"disabled": true}`, nil)
	if status, _ := p.admin.Do(t, "GET", "/user", ""); status != 401 {
		t.Errorf("a disabled admin's token: %d, want 401", status)
	}
	key.Call(t, "PATCH", fmt.Sprintf("/user/%d", p.ids["admin"]), `{"disabled": false}`, nil)
	if status, _ := p.admin.Do(t, "GET", "/user", ""); status != 200 {
		t.Errorf("an enabled admin's token: %d, want 200", status)
	}

	// An expired token is refused.
	var short struct{ Token string }
	key.Call(t, "POST", "/token", `{"name": "brief", "role": "viewer", "expires_in": "1s"}`, &short)
	brief := apptest.Client{URL: a.URL, Key: short.Token}
	if status, _ := brief.Do(t, "GET", "/site", ""); status != 200 {
		t.Fatalf("a fresh token: %d", status)
	}
	wait.Until(t, 5*time.Second, "the token to expire", func() bool {
		status, _ := brief.Do(t, "GET", "/site", "")
		return status == 401
	})

	// Deleting a user ends their tokens; their last use was noted.
	key.Call(t, "GET", "/token", "", &tokens)
	var u struct {
		LastSeenAt *time.Time `json:"last_seen_at"`
	}
	key.Call(t, "GET", fmt.Sprintf("/user/%d", p.ids["editor"]), "", &u)
	if u.LastSeenAt == nil {
		t.Errorf("the editor used a token, but was never seen")
	}
	key.Call(t, "DELETE", fmt.Sprintf("/user/%d", p.ids["editor"]), "", nil)
	if status, _ := p.editor.Do(t, "GET", "/site", ""); status != 401 {
		t.Errorf("a deleted user's token: %d, want 401", status)
	}
	if status, _ := key.Do(t, "GET", fmt.Sprintf("/user/%d", p.ids["editor"]), ""); status != 404 {
		t.Errorf("a deleted user: %d, want 404", status)
	}
}

// TestReadsOpenAndPrivate: on loopback with no user, reads and changes are
// open as in the tutorial; the first user makes reads private, leaving
// open only what is public on purpose; --reads open and --metrics-public
// open them again.
func TestReadsOpenAndPrivate(t *testing.T) {
	prefix := pgtest.Prefix(t)
	a := apptest.Start(t, apptest.Setup{Prefix: prefix})
	nobody := a.Client
	open := nobody.AddSite(t, "https://open.example.com")
	listed := nobody.AddSite(t, "https://listed.example.com")
	nobody.Call(t, "POST", "/status-page", fmt.Sprintf(`{"slug": "acme", "title": "Acme", "groups": [{"name": "All", "sites": [%d]}]}`, listed), nil)
	if status, _ := nobody.Do(t, "GET", "/site", ""); status != 200 {
		t.Fatalf("a read with no users: %d", status)
	}
	// A key a browser kept from another server is not in the way where
	// nothing needs one.
	stale := apptest.Client{URL: a.URL, Key: "a-key-kept-from-another-server"}
	if status, _ := stale.Do(t, "GET", "/site", ""); status != 200 {
		t.Errorf("a read with a stale key, reads open: %d, want 200", status)
	}
	if status, body := stale.Do(t, "POST", "/site", `{"url": "https://stale.example.com"}`); status != 200 {
		t.Errorf("a change with a stale key, no key and no user: %d %s, want 200", status, body)
	}

	// The first user, made with nothing (as anyone on loopback could
	// change anything), closes the door behind them.
	var u struct{ ID int64 }
	nobody.Call(t, "POST", "/user", `{"email": "root@example.com", "role": "admin", "password": "blue-kettle-root-orbit"}`, &u)
	var tok struct{ Token string }
	if status, msg := nobody.Refusal(t, "POST", "/token", fmt.Sprintf(`{"name": "ops", "role": "admin", "owner": %d}`, u.ID)); status != 401 {
		t.Fatalf("a token made by nobody once a user exists: %d %s, want 401", status, msg)
	}
	status, msg := nobody.Refusal(t, "GET", "/site", "")
	if status != 401 || !strings.Contains(msg, "private") {
		t.Errorf("a read without a token once a user exists: %d %q, want 401 saying reads are private", status, msg)
	}
	for _, path := range []string{"/p/acme", "/healthz", "/readyz", "/frontend/", fmt.Sprintf("/badge/%d/status.svg", listed)} {
		if status, body := nobody.Do(t, "GET", path, ""); status != 200 {
			t.Errorf("GET %s without a token: %d %.200s, want 200: it is public on purpose", path, status, body)
		}
	}
	if status, body := nobody.Do(t, "GET", fmt.Sprintf("/badge/%d/status.svg", open), ""); status != 404 || strings.Contains(body, "up") {
		t.Errorf("the badge of a site on no public page: %d %s, want 404 site not found", status, body)
	}
	if status, _ := nobody.Do(t, "GET", "/metrics", ""); status != 401 {
		t.Errorf("/metrics without a token: %d, want 401", status)
	}
	status, header, _ := nobody.DoWithHeaders(t, "GET", "/p/acme", "", "Origin", "https://elsewhere.example")
	if status != 200 || header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("CORS of a public page: %d %q, want *", status, header.Get("Access-Control-Allow-Origin"))
	}
	_, header, _ = nobody.DoWithHeaders(t, "GET", "/site", "", "Origin", "https://elsewhere.example")
	if got := header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("CORS of a private read: %q, want none", got)
	}

	// A viewer's token reads, and the badge of any site. The admin's
	// token is made as `uptime token add` makes one, on the database.
	admin := apptest.Client{URL: a.URL, Key: addToken(t, prefix, u.ID, "ops", "admin")}
	admin.Call(t, "POST", "/token", `{"name": "grafana", "role": "viewer"}`, &tok)
	viewer := apptest.Client{URL: a.URL, Key: tok.Token}
	for _, path := range []string{"/site", "/metrics", fmt.Sprintf("/badge/%d/status.svg", open), fmt.Sprintf("/history/%d", open)} {
		if status, _ := viewer.Do(t, "GET", path, ""); status != 200 {
			t.Errorf("GET %s as a viewer: %d, want 200", path, status)
		}
	}
	if status, _ := viewer.Do(t, "POST", "/site", `{"url": "https://x.example.com"}`); status != 403 {
		t.Errorf("a change as a viewer: %d, want 403", status)
	}

	// --reads open and --metrics-public, on the same databases.
	b := apptest.Start(t, apptest.Setup{Prefix: prefix, Configure: func(c *config.Config) {
		c.Reads, c.MetricsPublic = "open", true
	}})
	for _, path := range []string{"/site", "/metrics", fmt.Sprintf("/badge/%d/status.svg", open)} {
		if status, _ := b.Do(t, "GET", path, ""); status != 200 {
			t.Errorf("GET %s without a token, reads open: %d, want 200", path, status)
		}
	}
	if status, _ := b.Do(t, "POST", "/site", `{"url": "https://y.example.com"}`); status != 401 {
		t.Errorf("a change without a token, reads open, users: %d, want 401", status)
	}
	c := apptest.Start(t, apptest.Setup{Prefix: prefix, Configure: func(c *config.Config) { c.Reads = "private" }})
	if status, _ := c.Do(t, "GET", "/metrics", ""); status != 401 {
		t.Errorf("/metrics, reads private: %d, want 401", status)
	}
	if status, _ := (apptest.Client{URL: c.URL, Key: tok.Token}).Do(t, "GET", "/metrics", ""); status != 200 {
		t.Errorf("/metrics as a viewer, reads private: %d, want 200", status)
	}
}

// addToken makes a token for a user on the account database of the apps
// with the prefix, as the command line does.
func addToken(t *testing.T, prefix string, userID int64, name, role string) string {
	t.Helper()
	ctx := context.Background()
	u, err := dbutil.DatabaseURL(pgtest.ServerURL(t), prefix+app.AccountDatabase)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	tok, err := account.New(pool, slog.New(slog.DiscardHandler)).AddToken(ctx, api.Principal{Role: api.Admin, Name: "test"},
		account.TokenParams{Name: name, Role: role, Owner: &userID})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Token
}

// session is a browser's session: its cookie, and its CSRF token.
type session struct {
	url, cookie, csrf string
}

// signIn signs in on the server at url and returns the session.
func signIn(t *testing.T, url, email, password string) session {
	t.Helper()
	status, header, body := apptest.Client{URL: url}.DoWithHeaders(t, "POST", "/signin",
		fmt.Sprintf(`{"email": %q, "password": %q}`, email, password))
	if status != 200 {
		t.Fatalf("sign in as %s: %d %s", email, status, body)
	}
	var me struct{ CSRF string }
	json.Unmarshal([]byte(body), &me)
	cookie := header.Get("Set-Cookie")
	for _, want := range []string{"uptime_session=", "HttpOnly", "SameSite=Lax", "Path=/"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("the session cookie %q lacks %s", cookie, want)
		}
	}
	if strings.Contains(cookie, "Secure") {
		t.Errorf("the session cookie %q is Secure on a server reached over http", cookie)
	}
	value, _, _ := strings.Cut(cookie, ";")
	return session{url: url, cookie: value, csrf: me.CSRF}
}

// do sends a request as the session: with its cookie, and its CSRF token
// when csrf is set.
func (s session) do(t *testing.T, method, path, body string, csrf bool) (int, string) {
	t.Helper()
	header := []string{"Cookie", s.cookie}
	if csrf {
		header = append(header, "X-CSRF-Token", s.csrf)
	}
	return apptest.Client{URL: s.url}.Do(t, method, path, body, header...)
}

// TestSessions signs in as a browser would: a session honoured by every
// instance, changes refused without its CSRF token, a viewer refused
// changes, signing out everywhere ending every session on every instance,
// and ten wrong passwords in a minute locking the address out.
func TestSessions(t *testing.T) {
	prefix := pgtest.Prefix(t)
	a := apptest.Start(t, apptest.Setup{Prefix: prefix})
	b := apptest.Start(t, apptest.Setup{Prefix: prefix})
	var root, vid struct{ ID int64 }
	a.Call(t, "POST", "/user", `{"email": "root@example.com", "role": "admin"}`, &root)
	admin := apptest.Client{URL: a.URL, Key: addToken(t, prefix, root.ID, "ops", "admin")}
	admin.Call(t, "POST", "/user", `{"email": "ed@example.com", "name": "Ed", "role": "editor", "password": "blue-kettle-ed-orbit"}`, nil)
	admin.Call(t, "POST", "/user", `{"email": "vi@example.com", "role": "viewer", "password": "blue-kettle-vi-orbit"}`, &vid)
	var me struct {
		SignedIn  bool   `json:"signed_in"`
		Role      string `json:"role"`
		HasUsers  bool   `json:"has_users"`
		ReadsOpen bool   `json:"reads_open"`
		User      struct{ Email string }
	}
	a.Call(t, "GET", "/me", "", &me)
	if me.SignedIn || me.Role != "public" || !me.HasUsers || me.ReadsOpen {
		t.Errorf("GET /me of nobody: %+v, want not signed in, users, reads private", me)
	}

	ed := signIn(t, a.URL, "ED@example.com", "blue-kettle-ed-orbit")
	status, body := ed.do(t, "GET", "/me", "", false)
	json.Unmarshal([]byte(body), &me)
	if status != 200 || !me.SignedIn || me.Role != "editor" || me.User.Email != "ed@example.com" {
		t.Errorf("GET /me signed in: %d %s", status, body)
	}
	if status, _ := ed.do(t, "GET", "/site", "", false); status != 200 {
		t.Errorf("a read as a session: %d", status)
	}
	status, body = ed.do(t, "POST", "/site", `{"url": "https://a.example.com"}`, false)
	if status != 403 || !strings.Contains(body, "X-CSRF-Token") {
		t.Errorf("a change without the CSRF token: %d %s, want 403", status, body)
	}
	if status, body := ed.do(t, "POST", "/site", `{"url": "https://a.example.com"}`, true); status != 200 {
		t.Errorf("a change with the CSRF token: %d %s", status, body)
	}
	onB := ed
	onB.url = b.URL
	if status, body := onB.do(t, "POST", "/site", `{"url": "https://b.example.com"}`, true); status != 200 {
		t.Errorf("the session on the second instance: %d %s", status, body)
	}
	if status, _ := ed.do(t, "GET", "/user", "", false); status != 403 {
		t.Errorf("an editor's session on the users: %d, want 403", status)
	}
	vi := signIn(t, b.URL, "vi@example.com", "blue-kettle-vi-orbit")
	if status, _ := vi.do(t, "POST", "/site", `{"url": "https://c.example.com"}`, true); status != 403 {
		t.Errorf("a viewer's session changing a site: %d, want 403", status)
	}

	// Signing out everywhere ends both of Ed's sessions, on both instances.
	ed2 := signIn(t, b.URL, "ed@example.com", "blue-kettle-ed-orbit")
	if status, header, _ := (apptest.Client{URL: a.URL}).DoWithHeaders(t, "POST", "/signout?everywhere=true", "",
		"Cookie", ed.cookie, "X-CSRF-Token", ed.csrf); status != 200 || !strings.Contains(header.Get("Set-Cookie"), "Max-Age=0") {
		t.Fatalf("sign out everywhere: %d %q", status, header.Get("Set-Cookie"))
	}
	wait.Until(t, 2*time.Second, "every session of Ed to end on every instance", func() bool {
		s1, _ := ed.do(t, "GET", "/site", "", false)
		s2, _ := ed2.do(t, "GET", "/site", "", false)
		return s1 == 401 && s2 == 401
	})
	if status, _ := vi.do(t, "GET", "/site", "", false); status != 200 {
		t.Errorf("another user's session after Ed signed out everywhere: %d, want 200", status)
	}

	// A disabled user's session ends, and they cannot sign in.
	admin.Call(t, "PATCH", fmt.Sprintf("/user/%d", vid.ID), `{"disabled": true}`, nil)
	wait.Until(t, 2*time.Second, "the disabled viewer's session to end", func() bool {
		status, _ := vi.do(t, "GET", "/site", "", false)
		return status == 401
	})
	if status, msg := b.Refusal(t, "POST", "/signin", `{"email": "vi@example.com", "password": "blue-kettle-vi-orbit"}`); status != 403 ||
		!strings.Contains(msg, "disabled") {
		t.Errorf("a disabled user signing in: %d %q, want 403", status, msg)
	}

	// Wrong passwords: one answer for a wrong address and a wrong password.
	_, wrongUser := a.Refusal(t, "POST", "/signin", `{"email": "nobody@example.com", "password": "blue-kettle-ed-orbit"}`)
	_, wrongPassword := a.Refusal(t, "POST", "/signin", `{"email": "ed@example.com", "password": "blue-kettle-ed-orbiT"}`)
	if wrongUser != wrongPassword {
		t.Errorf("a wrong address says %q, a wrong password %q: they must not be told apart", wrongUser, wrongPassword)
	}
	for range 8 {
		a.Do(t, "POST", "/signin", `{"email": "ed@example.com", "password": "guess-guess-guess"}`)
	}
	status, header, body := a.DoWithHeaders(t, "POST", "/signin", `{"email": "ed@example.com", "password": "blue-kettle-ed-orbit"}`)
	if status != 429 || header.Get("Retry-After") == "" {
		t.Errorf("the right password after ten wrong ones in a minute: %d %s, want 429 with Retry-After", status, body)
	}
}

// TestAuditLog runs a scripted session (users, tokens, a site changed and
// deleted, a channel with a secret, a sign-in, a refused token) and finds
// each change in the audit log with its actor, route, object and the
// object before and after; no secret sent appears anywhere in it.
func TestAuditLog(t *testing.T) {
	prefix := pgtest.Prefix(t)
	a := apptest.Start(t, apptest.Setup{Prefix: prefix, Configure: func(c *config.Config) { c.APIKey = accessKey }})
	key := apptest.Client{URL: a.URL, Key: accessKey}
	p := addPeople(t, key)

	secrets := []string{accessKey, p.admin.Key, p.editor.Key, p.viewer.Key, "blue-kettle-admin-orbit", "hunter2-site-password",
		"T0ken-in-query", "channel-hmac-secret-42"}
	var site struct{ ID int64 }
	p.editor.Call(t, "POST", "/site", `{"url": "https://ops:hunter2-site-password@shop.example.com/?api_key=T0ken-in-query", "name": "Shop"}`, &site)
	p.editor.Call(t, "PATCH", fmt.Sprintf("/site/%d", site.ID), `{"name": "The shop"}`, nil)
	p.editor.Call(t, "POST", "/channel", `{"name": "hook", "url": "https://hooks.example.com/x", "secret": "channel-hmac-secret-42"}`, nil)
	var tok struct {
		ID    int64
		Token string
	}
	p.admin.Call(t, "POST", "/token", `{"name": "ci", "role": "editor"}`, &tok)
	secrets = append(secrets, tok.Token)
	p.admin.Call(t, "PATCH", fmt.Sprintf("/user/%d", p.ids["viewer"]), `{"role": "editor"}`, nil)
	p.editor.Call(t, "DELETE", fmt.Sprintf("/site/%d", site.ID), "", nil)
	if status, _ := p.viewer.Do(t, "GET", "/site/export", ""); status != 403 {
		t.Fatalf("a viewer's export: %d", status)
	}
	(apptest.Client{URL: a.URL, Key: "upt_wrong"}).Do(t, "GET", "/site", "")
	signIn(t, a.URL, "admin@example.com", "blue-kettle-admin-orbit")
	a.Do(t, "POST", "/signin", `{"email": "admin@example.com", "password": "blue-kettle-admin-orbiT"}`)

	if status, _ := p.editor.Do(t, "GET", "/audit", ""); status != 403 {
		t.Errorf("an editor reading the audit log: %d, want 403", status)
	}
	status, body := p.admin.Do(t, "GET", "/audit?limit=1000", "")
	if status != 200 {
		t.Fatalf("GET /audit = %d %s", status, body)
	}
	for _, secret := range secrets {
		if strings.Contains(body, secret) {
			t.Errorf("the audit log holds the secret %q", secret)
		}
	}
	var log struct {
		Entries []struct {
			Kind, Actor, Route, Object, Method, Client string
			ActorKind                                  string `json:"actor_kind"`
			Status                                     *int
			Before, After                              json.RawMessage
		}
	}
	json.Unmarshal([]byte(body), &log)
	find := func(kind, actor, route, object string) (before, after string, ok bool) {
		for _, e := range log.Entries {
			if e.Kind == kind && e.Actor == actor && e.Route == route && (object == "" || e.Object == object) {
				if e.Status == nil || e.Client != "127.0.0.1" {
					t.Errorf("%s %s by %s: status %v, client %q", kind, route, actor, e.Status, e.Client)
				}
				return string(e.Before), string(e.After), true
			}
		}
		t.Errorf("no %s of %s by %s on %q in the audit log", kind, route, actor, object)
		return "", "", false
	}
	siteObj := fmt.Sprintf("site/%d", site.ID)
	if _, after, ok := find("change", "editor's", "POST /site", siteObj); ok && !strings.Contains(after, `"Shop"`) {
		t.Errorf("the site's creation: after %s", after)
	}
	if before, after, ok := find("change", "editor's", "PATCH /site/{siteID}", siteObj); ok &&
		(!strings.Contains(before, `"Shop"`) || !strings.Contains(after, `"The shop"`)) {
		t.Errorf("the site's change: before %s, after %s", before, after)
	}
	if before, after, ok := find("change", "editor's", "DELETE /site/{siteID}", siteObj); ok && (!strings.Contains(before, "The shop") || after != "null") {
		t.Errorf("the site's deletion: before %s, after %s", before, after)
	}
	if before, after, ok := find("change", "admin's", "PATCH /user/{id}", fmt.Sprintf("user/%d", p.ids["viewer"])); ok &&
		(!strings.Contains(before, `"role":"viewer"`) || !strings.Contains(after, `"role":"editor"`)) {
		t.Errorf("the role change: before %s, after %s", before, after)
	}
	find("change", "admin's", "POST /token", fmt.Sprintf("token/%d", tok.ID))
	find("change", "editor's", "POST /channel", "")
	find("change", "api-key", "POST /user", "")
	find("credential refused", "anonymous", "GET /site", "")
	find("sign-in", "admin@example.com", "POST /signin", fmt.Sprintf("user/%d", p.ids["admin"]))
	find("sign-in refused", "admin@example.com", "POST /signin", "")
	for _, e := range log.Entries {
		if e.Route == "GET /site/export" || e.Kind == "change" && e.ActorKind != "token" && e.ActorKind != "api-key" {
			t.Errorf("unexpected row: %+v", e)
		}
	}

	// Paging and filters.
	var page struct {
		Entries []struct{ ID int64 }
		Next    *int64
	}
	p.admin.Call(t, "GET", "/audit?limit=2", "", &page)
	if len(page.Entries) != 2 || page.Next == nil {
		t.Fatalf("a page of 2: %+v", page)
	}
	p.admin.Call(t, "GET", fmt.Sprintf("/audit?before=%d&limit=1000", *page.Next), "", &page)
	if len(page.Entries) != len(log.Entries)+1-2 && len(page.Entries) != len(log.Entries)-2 {
		t.Errorf("the rest: %d rows of %d", len(page.Entries), len(log.Entries))
	}
	p.admin.Call(t, "GET", "/audit?object="+siteObj, "", &page)
	if len(page.Entries) != 3 {
		t.Errorf("rows about %s: %d, want its creation, change and deletion", siteObj, len(page.Entries))
	}
}

// TestTwoFactorSignIn enrols a user in TOTP through their session, signs
// in with the app's code and with a recovery code (once), and has an
// admin turn it off for a user who lost their phone. The secret is sealed
// at rest.
func TestTwoFactorSignIn(t *testing.T) {
	prefix := pgtest.Prefix(t)
	a := apptest.Start(t, apptest.Setup{Prefix: prefix, Configure: func(c *config.Config) { c.APIKey = accessKey }})
	key := apptest.Client{URL: a.URL, Key: accessKey}
	var u struct{ ID int64 }
	key.Call(t, "POST", "/user", `{"email": "to@example.com", "role": "editor", "password": "blue-kettle-to-orbit"}`, &u)
	s := signIn(t, a.URL, "to@example.com", "blue-kettle-to-orbit")

	status, body := s.do(t, "POST", "/me/totp", "", true)
	var setup struct {
		Secret string
		URL    string `json:"otpauth_url"`
		QR     string
	}
	json.Unmarshal([]byte(body), &setup)
	if status != 200 || !strings.HasPrefix(setup.URL, "otpauth://totp/Uptime:to@example.com?") || !strings.HasPrefix(setup.QR, "data:image/png;base64,") {
		t.Fatalf("POST /me/totp = %d %.300s", status, body)
	}
	if status, _ := key.Do(t, "POST", "/me/totp", ""); status != 403 {
		t.Errorf("the API key setting up TOTP: %d, want 403: it is a user's own", status)
	}
	if status, body := s.do(t, "POST", "/me/totp/confirm", `{"code": "000000"}`, true); status != 400 {
		t.Errorf("a wrong code confirming: %d %s, want 400", status, body)
	}
	code, err := totp.GenerateCode(setup.Secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	status, body = s.do(t, "POST", "/me/totp/confirm", fmt.Sprintf(`{"code": %q}`, code), true)
	var rec struct {
		Codes []string `json:"recovery_codes"`
	}
	json.Unmarshal([]byte(body), &rec)
	if status != 200 || len(rec.Codes) != 10 || len(rec.Codes[0]) != 11 {
		t.Fatalf("confirming: %d %s, want 10 recovery codes", status, body)
	}
	var user struct{ TOTP bool }
	key.Call(t, "GET", fmt.Sprintf("/user/%d", u.ID), "", &user)
	if !user.TOTP {
		t.Errorf("the user after confirming: totp false")
	}
	if dump := dumpDatabases(t, prefix); strings.Contains(dump, setup.Secret) || strings.Contains(dump, rec.Codes[0]) {
		t.Errorf("a dump of the databases holds the TOTP secret or a recovery code")
	}

	signInWith := func(code string) (int, string) {
		return a.Do(t, "POST", "/signin", fmt.Sprintf(`{"email": "to@example.com", "password": "blue-kettle-to-orbit", "code": %q}`, code))
	}
	status, body = signInWith("")
	if status != 401 || !strings.Contains(body, `"totp_required":true`) {
		t.Errorf("signing in without a code: %d %s, want 401 asking for one", status, body)
	}
	if status, _ := signInWith("123456"); status != 401 {
		t.Errorf("signing in with a wrong code: %d, want 401", status)
	}
	code, _ = totp.GenerateCode(setup.Secret, time.Now())
	if status, body := signInWith(code); status != 200 {
		t.Errorf("signing in with the app's code: %d %s", status, body)
	}
	recovery := strings.ToUpper(strings.ReplaceAll(rec.Codes[3], "-", " "))
	if status, body := signInWith(recovery); status != 200 {
		t.Errorf("signing in with a recovery code typed %q: %d %s", recovery, status, body)
	}
	if status, _ := signInWith(rec.Codes[3]); status != 401 {
		t.Errorf("a recovery code used twice: %d, want 401", status)
	}

	key.Call(t, "PATCH", fmt.Sprintf("/user/%d", u.ID), `{"totp": false}`, nil)
	if status, body := signInWith(""); status != 200 {
		t.Errorf("signing in after an admin turned TOTP off: %d %s", status, body)
	}
	if status, _ := key.Do(t, "PATCH", fmt.Sprintf("/user/%d", u.ID), `{"totp": true}`); status != 400 {
		t.Errorf("an admin turning TOTP on: %d, want 400", status)
	}
}

// TestFirstAdminFromTheEnvironment: --admin-email with the password in
// the environment makes the first admin at start-up, once, and leaves
// them alone afterwards; without the password the start fails, saying so.
func TestFirstAdminFromTheEnvironment(t *testing.T) {
	prefix := pgtest.Prefix(t)
	env := map[string]string{"UPTIME_ADMIN_PASSWORD": "violet-harbour-sky-ops"}
	withAdmin := func(c *config.Config) { c.AdminEmail = "ops@example.com" }
	a := apptest.Start(t, apptest.Setup{Prefix: prefix, Env: env, Configure: withAdmin})
	s := signIn(t, a.URL, "ops@example.com", "violet-harbour-sky-ops")
	if status, body := s.do(t, "PATCH", "/user/1", `{"password": "a-new-password-of-ops"}`, true); status != 200 {
		t.Fatalf("the admin changing their password: %d %s", status, body)
	}
	if status, _ := a.Do(t, "GET", "/site", ""); status != 401 {
		t.Errorf("a read without a token once the admin exists: %d, want 401", status)
	}
	a.Stop()
	b := apptest.Start(t, apptest.Setup{Prefix: prefix, Env: env, Configure: withAdmin})
	signIn(t, b.URL, "ops@example.com", "a-new-password-of-ops")

	cfg := config.Default()
	cfg.Addr, cfg.DatabaseURL, cfg.DatabasePrefix, cfg.StateDir = "127.0.0.1:0", pgtest.ServerURL(t), pgtest.Prefix(t), t.TempDir()
	cfg.AdminEmail = "ops@example.com"
	err := app.NewWithOptions(cfg, app.Options{Getenv: func(string) string { return "" }}, slog.New(slog.DiscardHandler)).Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "UPTIME_ADMIN_PASSWORD") {
		t.Errorf("starting with --admin-email and no password: %v, want a refusal naming UPTIME_ADMIN_PASSWORD", err)
	}
}

// oidcBrowser follows a sign-in through the identity provider as a
// browser does: redirects, with cookies.
func oidcBrowser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 20 * time.Second}
}

// TestSignInThroughOIDC signs in through a real OpenID Connect provider
// (mockoidc, on loopback): a user made at their first sign-in with the
// role their groups map to, a session started; a domain not allowed, a
// disabled user and a state the browser did not start are refused, each
// back at the sign-in form saying why.
func TestSignInThroughOIDC(t *testing.T) {
	m, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Shutdown() })
	prefix := pgtest.Prefix(t)
	a := apptest.Start(t, apptest.Setup{Prefix: prefix, Configure: func(c *config.Config) {
		c.APIKey = accessKey
		c.OIDCIssuer, c.OIDCClientID, c.OIDCClientSecret = m.Issuer(), m.ClientID, m.ClientSecret
		c.OIDCName, c.OIDCRoleClaim, c.OIDCRoles = "Corp ID", "groups", "ops=admin,dev=editor"
		c.OIDCAllowedDomains = "corp.example"
	}})
	key := apptest.Client{URL: a.URL, Key: accessKey}
	signInAs := func(u *mockoidc.MockUser) (*http.Client, string) {
		t.Helper()
		m.QueueUser(u)
		b := oidcBrowser(t)
		resp, err := b.Get(a.URL + "/oidc/login")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return b, resp.Request.URL.String()
	}
	me := func(b *http.Client) (signedIn bool, role, email string) {
		t.Helper()
		resp, err := b.Get(a.URL + "/me")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v struct {
			SignedIn bool `json:"signed_in"`
			Role     string
			User     struct{ Email string }
		}
		json.NewDecoder(resp.Body).Decode(&v)
		return v.SignedIn, v.Role, v.User.Email
	}
	var anon struct{ OIDC string }
	a.Call(t, "GET", "/me", "", &anon)
	if anon.OIDC != "Corp ID" {
		t.Errorf("GET /me names the provider %q, want Corp ID", anon.OIDC)
	}

	b, landed := signInAs(&mockoidc.MockUser{Subject: "1", Email: "dev@corp.example", EmailVerified: true, Groups: []string{"dev", "web"}})
	if landed != a.URL+"/frontend/" {
		t.Fatalf("the sign-in ended at %s, want the dashboard", landed)
	}
	if in, role, email := me(b); !in || role != "editor" || email != "dev@corp.example" {
		t.Errorf("after signing in: signed in %v as %s with %s; want dev, an editor by their group", in, email, role)
	}
	b, _ = signInAs(&mockoidc.MockUser{Subject: "2", Email: "ann@corp.example", EmailVerified: true})
	if _, role, _ := me(b); role != "viewer" {
		t.Errorf("a user of no mapped group: %s, want viewer", role)
	}

	var users struct {
		Users []struct {
			ID    int64
			Email string
		}
	}
	key.Call(t, "GET", "/user", "", &users)
	for _, u := range users.Users {
		if u.Email == "ann@corp.example" {
			key.Call(t, "PATCH", fmt.Sprintf("/user/%d", u.ID), `{"disabled": true}`, nil)
		}
	}
	for _, tt := range []struct {
		name string
		user *mockoidc.MockUser
		says string
	}{
		{"another domain", &mockoidc.MockUser{Subject: "3", Email: "eve@elsewhere.example", EmailVerified: true}, "may not sign in here"},
		{"disabled here", &mockoidc.MockUser{Subject: "2", Email: "ann@corp.example", EmailVerified: true, Groups: []string{"ops"}}, "disabled"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b, landed := signInAs(tt.user)
			u, _ := url.Parse(landed)
			frag, _ := url.ParseQuery(u.Fragment)
			if u.Path != "/frontend/" || !strings.Contains(frag.Get("signin-error"), tt.says) {
				t.Errorf("refused sign-in ended at %s, want the sign-in form saying %q", landed, tt.says)
			}
			if in, _, _ := me(b); in {
				t.Errorf("signed in anyway")
			}
		})
	}
	key.Call(t, "GET", "/user", "", &users)
	if len(users.Users) != 2 {
		t.Errorf("users after the refusals: %+v, want dev and ann alone", users.Users)
	}

	// A callback whose state this browser did not start is refused.
	stranger := oidcBrowser(t)
	resp, err := stranger.Get(a.URL + "/oidc/callback?state=forged&code=x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if frag, _ := url.ParseQuery(resp.Request.URL.Fragment); !strings.Contains(frag.Get("signin-error"), "did not start in this browser") {
		t.Errorf("a forged state ended at %s", resp.Request.URL)
	}
	var log struct {
		Entries []struct{ Kind, Actor, Message string }
	}
	key.Call(t, "GET", "/audit?limit=1000", "", &log)
	var kinds []string
	for _, e := range log.Entries {
		if strings.HasPrefix(e.Kind, "sign-in") {
			kinds = append(kinds, e.Kind+" "+e.Actor)
		}
	}
	for _, want := range []string{"sign-in dev@corp.example", "sign-in refused eve@elsewhere.example", "sign-in refused ann@corp.example"} {
		if !slices.Contains(kinds, want) {
			t.Errorf("the audit log's sign-ins %q lack %q", kinds, want)
		}
	}
}

// TestAuditBehindAProxy: behind a trusted proxy, the audit log names the
// client it forwarded for; a sender it does not trust is named itself.
func TestAuditBehindAProxy(t *testing.T) {
	a := apptest.Start(t, apptest.Setup{Configure: func(c *config.Config) {
		c.APIKey, c.TrustedProxies = accessKey, "127.0.0.0/8"
	}})
	key := apptest.Client{URL: a.URL, Key: accessKey}
	if status, body := key.Do(t, "POST", "/site", `{"url": "https://proxied.example.com"}`, "X-Forwarded-For", "192.0.2.66, 198.51.100.7"); status != 200 {
		t.Fatalf("add through the proxy: %d %s", status, body)
	}
	var log struct {
		Entries []struct{ Route, Client string }
	}
	key.Call(t, "GET", "/audit", "", &log)
	if len(log.Entries) == 0 || log.Entries[0].Route != "POST /site" || log.Entries[0].Client != "198.51.100.7" {
		t.Errorf("the audit log behind a proxy: %+v, want the add from 198.51.100.7", log.Entries)
	}
}

// TestChangesWaitForTheAuditLog: while the account database refuses
// connections, no change is made without its audit row (503, nothing
// changed); once it is back, changes go through again.
func TestChangesWaitForTheAuditLog(t *testing.T) {
	prefix := pgtest.Prefix(t)
	a := apptest.Start(t, apptest.Setup{Prefix: prefix, Configure: func(c *config.Config) { c.APIKey = accessKey }})
	key := apptest.Client{URL: a.URL, Key: accessKey}
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, pgtest.ServerURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	db := pgx.Identifier{prefix + app.AccountDatabase}.Sanitize()
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := admin.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	exec("ALTER DATABASE " + db + " ALLOW_CONNECTIONS false")
	exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", prefix+app.AccountDatabase)
	t.Cleanup(func() { admin.Exec(ctx, "ALTER DATABASE "+db+" ALLOW_CONNECTIONS true") })

	status, body := key.Do(t, "POST", "/site", `{"url": "https://unaudited.example.com"}`)
	if status != 503 {
		t.Errorf("a change while the audit log cannot be written: %d %s, want 503", status, body)
	}
	var sites struct{ Sites []struct{ URL string } }
	key.Call(t, "GET", "/site", "", &sites)
	if len(sites.Sites) != 0 {
		t.Errorf("the change was made without its audit row: %+v", sites.Sites)
	}
	exec("ALTER DATABASE " + db + " ALLOW_CONNECTIONS true")
	wait.Until(t, 10*time.Second, "changes to go through again", func() bool {
		status, _ := key.Do(t, "POST", "/site", `{"url": "https://audited.example.com"}`)
		return status == 200
	})
	var log struct {
		Entries []struct{ Route, Object string }
	}
	key.Call(t, "GET", "/audit", "", &log)
	if len(log.Entries) == 0 || log.Entries[0].Route != "POST /site" {
		t.Errorf("the audit log after the outage: %+v", log.Entries)
	}
}
