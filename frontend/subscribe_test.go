package frontend_test

import (
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"uptime/internal/apptest"
	"uptime/internal/config"
	"uptime/internal/smtptest"
	"uptime/internal/wait"
)

// A visitor subscribes through a status page's form in Chromium, which
// the page's Content-Security-Policy lets post to the page alone, then
// confirms through the button the emailed link opens.
func TestSubscribeInBrowser(t *testing.T) {
	mail := smtptest.Start(t)
	a := apptest.Start(t, apptest.Setup{Configure: func(c *config.Config) {
		c.SMTPURL = "smtp://" + mail.Addr + "/?from=status@acme.test&tls=none"
	}})
	a.Call(t, "POST", "/status-page", `{"slug": "acme", "title": "Acme status", "subscriptions": true}`, nil)

	p := &page{t: t, ctx: browser(t), app: a}
	p.do(chromedp.Navigate(a.URL + "/p/acme"))
	p.waitFor(`document.querySelector(".subscribe") !== null`)
	p.do(chromedp.SendKeys(`.subscribe input[name=email]`, "ann@example.com"), chromedp.Click(`.subscribe button`))
	p.waitThroughLoad(`document.getElementById("heading")?.textContent === "Check your inbox"`)

	var token string
	wait.For(t, 30*time.Second, func() error {
		for _, msg := range mail.Messages() {
			m := strings.ReplaceAll(string(msg.Data), "=\r\n", "") // quoted-printable's soft line breaks
			if match := regexp.MustCompile(`/p/acme/confirm\?token=(?:3D)?([A-Za-z0-9_-]+)`).FindStringSubmatch(m); match != nil {
				token = match[1]
				return nil
			}
		}
		return io.EOF
	})
	p.do(chromedp.Navigate(a.URL + "/p/acme/confirm?token=" + token))
	p.waitThroughLoad(`document.querySelector("form button") !== null`)
	p.do(chromedp.Click(`form button`))
	p.waitThroughLoad(`document.getElementById("heading")?.textContent === "Subscribed"`)
	var subs struct{ Subscribers []struct{ Confirmed bool } }
	a.Call(t, "GET", "/status-page/acme/subscriber", "", &subs)
	if len(subs.Subscribers) != 1 || !subs.Subscribers[0].Confirmed {
		t.Errorf("subscribers after confirming in the browser: %+v", subs.Subscribers)
	}
}

// waitThroughLoad waits until the JavaScript expression is truthy on a
// page that is loading (after a form is sent, or a link followed): asked
// while the page changes, the browser may fail to answer.
func (p *page) waitThroughLoad(js string) {
	p.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if ok, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](js)); err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("waiting for %s ; page text:\n%s", js, eval[string](p, "document.body.innerText"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
