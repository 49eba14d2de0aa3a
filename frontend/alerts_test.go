package frontend_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"uptime/internal/apptest"
)

// A channel added through the dashboard shows masked, sends a test
// message that its webhook receives, shows the delivery and can be
// deleted; a bad URL shows the server's error.
func TestChannelsInTheDashboard(t *testing.T) {
	a := apptest.Start(t, apptest.Setup{})
	var mu sync.Mutex
	var got []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, string(b))
		mu.Unlock()
	}))
	defer hook.Close()
	p := open(t, a)
	p.do(
		chromedp.SendKeys(`#channel-form input[name=name]`, "ops hook"),
		chromedp.SendKeys(`#channel-form input[name=url]`, hook.URL+"/secret-path-token"),
		chromedp.Click(chromedp.ID("channel-add")),
	)
	p.waitFor(`document.querySelectorAll("#channels tr").length === 1`)
	text := eval[string](p, `document.getElementById("channels").innerText`)
	if !strings.Contains(text, "ops hook") || !strings.Contains(text, "webhook") || strings.Contains(text, "secret-path-token") {
		t.Errorf("the channel row: %q, want its name and kind, and its URL masked", text)
	}
	p.do(chromedp.Click(`#channels button[aria-label="Send a test message to ops hook"]`))
	p.waitFor(`document.querySelector("#channels .test-result").textContent === "Test message accepted."`)
	mu.Lock()
	n := len(got)
	mu.Unlock()
	if n != 1 || !strings.Contains(got[0], `"event":"test"`) {
		t.Errorf("the webhook got %q, want the test message", got)
	}

	p.do(
		chromedp.SendKeys(`#channel-form input[name=name]`, "bad"),
		chromedp.SendKeys(`#channel-form input[name=url]`, "pager://x"),
		chromedp.Click(chromedp.ID("channel-add")),
	)
	p.waitFor(`!document.getElementById("channel-error").hidden`)
	if msg := eval[string](p, `document.getElementById("channel-error").textContent`); !strings.Contains(msg, "unknown service") {
		t.Errorf("error shown %q", msg)
	}
	p.do(chromedp.Click(`#channels button[aria-label="Delete the channel ops hook"]`))
	p.waitFor(`document.querySelectorAll("#channels tr").length === 0`)
	var list struct{ Channels []json.RawMessage }
	a.Call(t, "GET", "/channel", "", &list)
	if len(list.Channels) != 0 {
		t.Errorf("channels left: %s", list.Channels)
	}
}

// A maintenance window added through the dashboard is listed as on, and
// the sites it covers are marked in the list.
func TestMaintenanceInTheDashboard(t *testing.T) {
	a := apptest.Start(t, apptest.Setup{})
	up := healthy(t)
	a.Call(t, "POST", "/site", fmt.Sprintf(`{"url": %q, "tags": ["db"]}`, up.URL+"/db"), nil)
	a.Call(t, "POST", "/site", fmt.Sprintf(`{"url": %q}`, up.URL+"/web"), nil)
	p := open(t, a)
	p.waitFor(row(up.URL+"/db") + ` && ` + row(up.URL+"/web"))
	// Recurring, daily from the start of this minute for half an hour: on
	// now, whatever the time.
	started := time.Now().UTC().Truncate(time.Minute)
	p.do(
		chromedp.SendKeys(`#window-form input[name=title]`, "database move"),
		chromedp.SetValue(`#window-form select[name=kind]`, "recurring"),
	)
	eval[bool](p, `document.querySelector("#window-form select[name=kind]").dispatchEvent(new Event("change"))`)
	p.do(
		chromedp.SendKeys(`#window-form input[name=cron]`, fmt.Sprintf("%d %d * * *", started.Minute(), started.Hour())),
		chromedp.SendKeys(`#window-form input[name=duration]`, "30m"),
		chromedp.SetValue(`#window-form input[name=timezone]`, "UTC"),
		chromedp.SendKeys(`#window-form input[name=tags]`, "db"),
		chromedp.Click(chromedp.ID("window-add")),
	)
	p.waitFor(`document.querySelectorAll("#windows tr").length === 1`)
	if text := eval[string](p, `document.getElementById("windows").innerText`); !strings.Contains(strings.ToLower(text), "on now") || !strings.Contains(text, "tags db") {
		t.Errorf("the window row: %q", text)
	}
	p.waitFor(row(up.URL+"/db") + `?.querySelector(".badge.maintenance").hidden === false`)
	if eval[bool](p, `!`+row(up.URL+"/web")+`.querySelector(".badge.maintenance").hidden`) {
		t.Error("a site outside the window is marked as in maintenance")
	}
}
