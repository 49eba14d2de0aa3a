package frontend_test

import (
	"io"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/emersion/go-smtp"

	"uptime/internal/apptest"
	"uptime/internal/config"
	"uptime/internal/wait"
)

// A visitor subscribes through a status page's form in Chromium, which
// the page's Content-Security-Policy lets post to the page alone, then
// confirms through the button the emailed link opens.
func TestSubscribeInBrowser(t *testing.T) {
	var (
		mu    sync.Mutex
		mails []string
	)
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &keepSession{keep: func(m string) { mu.Lock(); mails = append(mails, m); mu.Unlock() }}, nil
	}))
	srv.Domain = "localhost"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Close()
	a := apptest.Start(t, apptest.Setup{Configure: func(c *config.Config) {
		c.SMTPURL = "smtp://" + l.Addr().String() + "/?from=status@acme.test&tls=none"
	}})
	a.Call(t, "POST", "/status-page", `{"slug": "acme", "title": "Acme status", "subscriptions": true}`, nil)

	p := &page{t: t, ctx: browser(t), app: a}
	p.do(chromedp.Navigate(a.URL + "/p/acme"))
	p.waitFor(`document.querySelector(".subscribe") !== null`)
	p.do(chromedp.SendKeys(`.subscribe input[name=email]`, "ann@example.com"), chromedp.Click(`.subscribe button`))
	p.waitThroughLoad(`document.getElementById("heading")?.textContent === "Check your inbox"`)

	var token string
	wait.For(t, 30*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range mails {
			m = strings.ReplaceAll(m, "=\r\n", "") // quoted-printable's soft line breaks
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

// keepSession hands each message it is given, whole, to keep.
type keepSession struct{ keep func(string) }

func (s *keepSession) Reset()                               {}
func (s *keepSession) Logout() error                        { return nil }
func (s *keepSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *keepSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *keepSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	s.keep(string(b))
	return err
}
