package frontend_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/oauth2-proxy/mockoidc"
	"github.com/pquerna/otp/totp"

	"uptime/internal/apptest"
	"uptime/internal/config"
)

// TestSignInToTheDashboard: on a server with users and private reads,
// the dashboard asks to sign in, shows who is signed in and their role,
// makes changes through the session (its CSRF token), keeps no key in the
// browser's storage, signs out, and shows a viewer no button they may not
// use.
func TestSignInToTheDashboard(t *testing.T) {
	const key = "browser-test-key-0123456789"
	a := apptest.Start(t, apptest.Setup{Configure: func(c *config.Config) { c.APIKey = key }})
	admin := apptest.Client{URL: a.URL, Key: key}
	srv := healthy(t)
	admin.AddSite(t, srv.URL)
	admin.Call(t, "POST", "/channel", `{"name": "hook", "url": "https://hooks.example.com/x"}`, nil)
	admin.Call(t, "POST", "/user", `{"email": "ed@example.com", "name": "Ed", "role": "editor", "password": "blue-kettle-ed-orbit"}`, nil)
	admin.Call(t, "POST", "/user", `{"email": "vi@example.com", "role": "viewer", "password": "blue-kettle-vi-orbit"}`, nil)
	admin.Call(t, "POST", "/user", `{"email": "ad@example.com", "role": "admin", "password": "blue-kettle-ad-orbit"}`, nil)

	p := &page{t: t, ctx: browser(t), app: a}
	signIn := func(email, password string) {
		t.Helper()
		p.waitFor(`!document.getElementById("sign-in").hidden`)
		p.do(
			chromedp.SetValue(chromedp.ID("sign-in-email"), email),
			chromedp.SetValue(chromedp.ID("sign-in-password"), password),
			chromedp.Click(chromedp.ID("sign-in-submit")),
		)
	}
	p.do(chromedp.Navigate(a.URL + "/frontend/"))
	p.waitFor(`!document.getElementById("sign-in").hidden`)
	if eval[bool](p, `!document.getElementById("sites-section").hidden`) {
		t.Fatal("the sites are shown before signing in")
	}
	signIn("ed@example.com", "not-the-password")
	p.waitFor(`!document.getElementById("sign-in-error").hidden`)
	if msg := eval[string](p, `document.getElementById("sign-in-error").textContent`); msg == "" {
		t.Error("a wrong password shows no message")
	}
	signIn("ed@example.com", "blue-kettle-ed-orbit")
	p.afterReload(row(srv.URL) + ` !== undefined`)
	p.waitFor(row(srv.URL) + `?.querySelector(".badge").textContent === "Up"`)
	if eval[bool](p, `document.getElementById("sign-in").offsetParent !== null`) {
		t.Error("the sign-in form is shown beside the dashboard of a signed-in user")
	}
	if who := eval[string](p, `document.getElementById("who-name").textContent`); who != "Ed · editor" {
		t.Errorf("the page says %q of who is signed in, want Ed · editor", who)
	}
	// A change goes through the session, with its CSRF token.
	p.do(chromedp.Click(chromedp.CSS("#sites tr .check")))
	p.waitFor(`document.querySelector("#sites tr .check").textContent === "Check now"`)
	if eval[bool](p, `!document.querySelector("#sites tr .row-error").hidden`) {
		t.Fatalf("Check now failed: %s", eval[string](p, `document.querySelector("#sites tr .row-error").textContent`))
	}
	if eval[bool](p, `document.getElementById("key-dialog").open`) || eval[int](p, `localStorage.length`) != 0 {
		t.Errorf("a signed-in user was asked for a key, or the browser keeps something: %d items", eval[int](p, `localStorage.length`))
	}
	if !eval[bool](p, `document.getElementById("add-toggle").offsetParent !== null`) {
		t.Error("an editor is not shown Add website")
	}

	// Ed sets up two-factor sign-in: the key shown, the app's code typed,
	// the recovery codes shown once; signing in then asks for a code.
	p.do(chromedp.Click(chromedp.ID("totp-open")))
	p.waitFor(`document.getElementById("totp-dialog").open && document.getElementById("totp-secret").textContent !== ""`)
	secret := eval[string](p, `document.getElementById("totp-secret").textContent`)
	code, err := totp.GenerateCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	p.do(chromedp.SetValue(chromedp.ID("totp-code"), code), chromedp.Click(chromedp.ID("totp-confirm")))
	p.waitFor(`!document.getElementById("totp-done").hidden`)
	if codes := strings.Fields(eval[string](p, `document.getElementById("totp-recovery").textContent`)); len(codes) != 10 {
		t.Errorf("the recovery codes shown: %q, want 10", codes)
	}
	p.do(chromedp.Click(chromedp.ID("totp-close")))
	p.afterReload(`document.getElementById("totp-open").hidden && !document.getElementById("sign-out").hidden`)
	p.do(chromedp.Click(chromedp.ID("sign-out")))
	p.afterReload(`!document.getElementById("sign-in").hidden`)
	signIn("ed@example.com", "blue-kettle-ed-orbit")
	p.waitFor(`!document.getElementById("sign-in-code-field").hidden`)
	code, _ = totp.GenerateCode(secret, time.Now())
	p.do(chromedp.SetValue(chromedp.ID("sign-in-code"), code), chromedp.Click(chromedp.ID("sign-in-submit")))
	p.afterReload(`document.getElementById("who-name")?.textContent === "Ed · editor"`)

	p.do(chromedp.Click(chromedp.ID("sign-out")))
	p.afterReload(`!document.getElementById("sign-in").hidden`)
	signIn("vi@example.com", "blue-kettle-vi-orbit")
	p.afterReload(row(srv.URL) + ` !== undefined`)
	p.waitFor(row(srv.URL) + `?.querySelector(".badge").textContent === "Up"`)
	if who := eval[string](p, `document.getElementById("who-name").textContent`); who != "vi@example.com · viewer" {
		t.Errorf("the page says %q of who is signed in, want the viewer", who)
	}
	p.waitFor(`document.querySelector("#channels tr") !== null`)
	for _, sel := range []string{"#add-toggle", "#sites tr .check", "#sites tr .delete", "#channel-form", "#audit-section",
		"#channels .needs-editor", "#window-form"} {
		if eval[bool](p, `document.querySelector("`+sel+`")?.offsetParent !== null`) {
			t.Errorf("a viewer is shown %s", sel)
		}
	}

	// An admin sees the audit log, with Ed's check among its rows.
	p.do(chromedp.Click(chromedp.ID("sign-out")))
	p.afterReload(`!document.getElementById("sign-in").hidden`)
	signIn("ad@example.com", "blue-kettle-ad-orbit")
	p.afterReload(`!document.getElementById("audit-section").hidden`)
	text := eval[string](p, `document.getElementById("audit").innerText`)
	for _, want := range []string{"ed@example.com (user) from 127.0.0.1", "POST /check/{siteID}", "sign-in refused", "api-key"} {
		if !strings.Contains(text, want) {
			t.Errorf("the audit log in the dashboard lacks %q:\n%s", want, text)
		}
	}
}

// afterReload waits until the JavaScript expression is truthy on a page
// that reloads meanwhile (as signing in and out do), where a poll of
// chromedp's own would end with the page it watched.
func (p *page) afterReload(js string) {
	p.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(p.ctx, time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("waiting for %s after a reload: %v", js, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestSignInWithOIDCInTheBrowser: Chromium clicks "Sign in with Corp
// ID", the provider (mockoidc, on loopback) signs the user in, and the
// dashboard shows them with the role their group maps to.
func TestSignInWithOIDCInTheBrowser(t *testing.T) {
	m, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Shutdown() })
	a := apptest.Start(t, apptest.Setup{Configure: func(c *config.Config) {
		c.APIKey = "browser-test-key-0123456789"
		c.OIDCIssuer, c.OIDCClientID, c.OIDCClientSecret = m.Issuer(), m.ClientID, m.ClientSecret
		c.OIDCName, c.OIDCRoleClaim, c.OIDCRoles = "Corp ID", "groups", "ops=admin"
	}})
	admin := apptest.Client{URL: a.URL, Key: "browser-test-key-0123456789"}
	admin.Call(t, "POST", "/user", `{"email": "first@corp.example", "role": "admin"}`, nil) // reads are private from now
	m.QueueUser(&mockoidc.MockUser{Subject: "7", Email: "ops@corp.example", EmailVerified: true, PreferredUsername: "Olga",
		Groups: []string{"ops"}})

	p := &page{t: t, ctx: browser(t), app: a}
	p.do(chromedp.Navigate(a.URL + "/frontend/"))
	p.waitFor(`!document.getElementById("sign-in-oidc").hidden`)
	if text := eval[string](p, `document.getElementById("sign-in-oidc").textContent`); text != "Sign in with Corp ID" {
		t.Errorf("the provider's button says %q", text)
	}
	p.do(chromedp.Click(chromedp.ID("sign-in-oidc")))
	p.afterReload(`document.getElementById("who-name")?.textContent === "Olga · admin"`)
	p.afterReload(`!document.getElementById("audit-section").hidden`)
}
