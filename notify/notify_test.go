package notify_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"uptime/internal/app"
	"uptime/internal/apptest"
	"uptime/internal/config"
	"uptime/internal/pgtest"
	"uptime/internal/wait"
	"uptime/notify"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// syncBuffer is a log that tests read while the app writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type env struct {
	*apptest.App
	log *syncBuffer
}

// setup starts the app with no confirmations (the first failing check is
// down) and quick retries.
func setup(t *testing.T) *env {
	t.Helper()
	log := &syncBuffer{}
	a := apptest.Start(t, apptest.Setup{
		Configure: func(c *config.Config) { c.ConfirmChecks = 0 },
		Options:   app.Options{RetryBackoff: 200 * time.Millisecond},
		Log:       log,
	})
	return &env{App: a, log: log}
}

// site is a site whose answers the test switches.
type site struct {
	*httptest.Server
	status atomic.Int32
	id     int64
}

func (e *env) addSite(t *testing.T, body string) *site {
	t.Helper()
	s := &site{}
	s.status.Store(200)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(int(s.status.Load()))
	}))
	t.Cleanup(s.Close)
	var got struct{ ID int64 }
	if body == "" {
		body = "{}"
	}
	var fields map[string]any
	json.Unmarshal([]byte(body), &fields)
	fields["url"] = s.URL
	b, _ := json.Marshal(fields)
	e.Call(t, "POST", "/site", string(b), &got)
	s.id = got.ID
	return s
}

// goDown and comeUp make the site fail or pass, and check it.
func (e *env) goDown(t *testing.T, s *site) {
	t.Helper()
	s.status.Store(503)
	e.Call(t, "POST", fmt.Sprintf("/check/%d", s.id), "", nil)
}

func (e *env) comeUp(t *testing.T, s *site) {
	t.Helper()
	s.status.Store(200)
	e.Call(t, "POST", fmt.Sprintf("/check/%d", s.id), "", nil)
}

// hook is a webhook receiver; it answers 500 to its first fail requests.
type hook struct {
	*httptest.Server
	mu       sync.Mutex
	requests []hookRequest
	fail     atomic.Int32
	attempts atomic.Int32
}

type hookRequest struct {
	header http.Header
	body   []byte
	event  notify.Event
}

func newHook(t *testing.T) *hook {
	h := &hook{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.attempts.Add(1)
		if h.fail.Load() > 0 {
			h.fail.Add(-1)
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		body, _ := io.ReadAll(r.Body)
		var ev notify.Event
		json.Unmarshal(body, &ev)
		h.mu.Lock()
		h.requests = append(h.requests, hookRequest{header: r.Header.Clone(), body: body, event: ev})
		h.mu.Unlock()
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hook) received() []hookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookRequest(nil), h.requests...)
}

// wait waits until the hook has n requests, and returns them.
func (h *hook) wait(t *testing.T, n int, within time.Duration) []hookRequest {
	t.Helper()
	wait.For(t, within, func() error {
		if got := h.received(); len(got) < n {
			return fmt.Errorf("the webhook got %d requests, want %d: %+v", len(got), n, got)
		}
		return nil
	})
	return h.received()
}

func (e *env) addChannel(t *testing.T, body string) notify.Channel {
	t.Helper()
	var c notify.Channel
	e.Call(t, "POST", "/channel", body, &c)
	return c
}

func validSignature(secret string, r hookRequest) bool {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(r.body)
	return r.header.Get("X-Uptime-Signature") == "sha256="+hex.EncodeToString(m.Sum(nil))
}

// A webhook channel gets each transition once, as Uptime's JSON, signed
// with its secret; a channel answering 500 for a while gets it once it
// recovers, while another got it at once; a channel for other events or
// another site's tag hears nothing.
func TestWebhookDelivery(t *testing.T) {
	e := setup(t)
	s := e.addSite(t, `{"name": "Shop", "tags": ["prod"]}`)
	e.addSite(t, `{"tags": ["staging"]}`)

	good, flaky, quiet, tagged := newHook(t), newHook(t), newHook(t), newHook(t)
	const secret = "s3cret-signing-key"
	e.addChannel(t, fmt.Sprintf(`{"name": "good", "url": %q, "secret": %q}`, good.URL+"/hook", secret))
	flakyCh := e.addChannel(t, fmt.Sprintf(`{"name": "flaky", "url": %q}`, flaky.URL))
	e.addChannel(t, fmt.Sprintf(`{"name": "ups only", "url": %q, "events": ["up"]}`, quiet.URL))
	e.addChannel(t, fmt.Sprintf(`{"name": "staging", "url": %q, "tags": ["staging"]}`, tagged.URL))
	flaky.fail.Store(3)

	before := time.Now()
	e.goDown(t, s)
	got := good.wait(t, 1, 10*time.Second)
	if time.Since(before) > 5*time.Second {
		t.Errorf("the good channel waited %s for the failing one", time.Since(before))
	}
	down := got[0]
	if !validSignature(secret, down) {
		t.Errorf("X-Uptime-Signature %q does not sign the body with the secret", down.header.Get("X-Uptime-Signature"))
	}
	if down.event.Event != "down" || down.event.Site.ID != s.id || down.event.Site.URL != s.URL ||
		down.event.Site.Name != "Shop" || down.event.Reason != "HTTP 503" || down.event.At.IsZero() {
		t.Errorf("the down event: %s", down.body)
	}
	if down.header.Get("X-Uptime-Event") != "down" || !strings.HasPrefix(down.header.Get("User-Agent"), "Uptime/") {
		t.Errorf("headers: %v", down.header)
	}
	var raw map[string]any
	json.Unmarshal(down.body, &raw)
	for _, k := range []string{"event", "site", "reason", "at", "since"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("the webhook body has no %q: %s", k, down.body)
		}
	}

	flakyGot := flaky.wait(t, 1, 20*time.Second)
	if flakyGot[0].event.Event != "down" || flaky.attempts.Load() != 4 {
		t.Errorf("the flaky channel got %+v after %d attempts, want the down event on the 4th", flakyGot[0].event, flaky.attempts.Load())
	}
	if flakyGot[0].header.Get("X-Uptime-Signature") != "" {
		t.Error("a channel without a secret got a signature")
	}

	e.comeUp(t, s)
	got = good.wait(t, 2, 10*time.Second)
	up := got[1].event
	if up.Event != "up" || up.Since == nil || !up.Since.Before(up.At) || !validSignature(secret, got[1]) {
		t.Errorf("the up event: %s", got[1].body)
	}
	quiet.wait(t, 1, 10*time.Second)
	flaky.wait(t, 2, 10*time.Second)

	time.Sleep(time.Second) // nothing more may come
	if n := len(good.received()); n != 2 {
		t.Errorf("the good channel got %d requests, want 2 (down, up)", n)
	}
	if n := len(quiet.received()); n != 1 || quiet.received()[0].event.Event != "up" {
		t.Errorf("the channel for ups got %d requests, want the up only", n)
	}
	if n := len(tagged.received()); n != 0 {
		t.Errorf("the channel for another tag got %d requests", n)
	}
	var c notify.Channel
	e.Call(t, "GET", fmt.Sprintf("/channel/%d", flakyCh.ID), "", &c)
	if c.LastDelivery == nil || !c.LastDelivery.OK || c.LastDelivery.Event != "up" {
		t.Errorf("the flaky channel's last delivery: %+v", c.LastDelivery)
	}
}

// A channel deleted while its delivery waits for a retry drops it, saying
// so in the log.
func TestDeletedChannelDropsItsDeliveries(t *testing.T) {
	e := setup(t)
	s := e.addSite(t, "")
	h := newHook(t)
	h.fail.Store(1000)
	c := e.addChannel(t, fmt.Sprintf(`{"name": "doomed", "url": %q}`, h.URL))
	e.goDown(t, s)
	wait.For(t, 10*time.Second, func() error {
		if h.attempts.Load() == 0 {
			return errors.New("no delivery was tried")
		}
		return nil
	})
	e.Call(t, "DELETE", fmt.Sprintf("/channel/%d", c.ID), "", nil)
	wait.For(t, 10*time.Second, func() error {
		if !strings.Contains(e.log.String(), "channel deleted: its pending delivery is dropped") {
			return fmt.Errorf("no log line says the delivery was dropped:\n%s", e.log.String())
		}
		return nil
	})
	n := h.attempts.Load()
	time.Sleep(time.Second) // a delivery that went on would come meanwhile
	if h.attempts.Load() != n {
		t.Errorf("deliveries went on after the channel was deleted")
	}
}

// POST /channel/:id/test sends at once: 200 when the service took it, else
// the service's answer.
func TestTestMessage(t *testing.T) {
	e := setup(t)
	h := newHook(t)
	c := e.addChannel(t, fmt.Sprintf(`{"name": "hook", "url": %q, "secret": "k"}`, h.URL))
	e.Call(t, "POST", fmt.Sprintf("/channel/%d/test", c.ID), "", nil)
	got := h.received()
	if len(got) != 1 || got[0].event.Event != "test" || !validSignature("k", got[0]) {
		t.Fatalf("the test message: %+v", got)
	}
	h.fail.Store(1)
	status, body := e.Do(t, "POST", fmt.Sprintf("/channel/%d/test", c.ID), "")
	if status != 503 || !strings.Contains(body, "answered 500 Internal Server Error") || strings.Contains(body, "boom") {
		t.Errorf("a test message the service refused: %d %s, want 503 with the service's status and not the body of its answer", status, body)
	}
	var list struct{ Channels []map[string]any }
	e.Call(t, "GET", "/channel", "", &list)
	if b, _ := json.Marshal(list); strings.Contains(string(b), "boom") {
		t.Errorf("the channels show the body of a refusal: %s", b)
	}
	if status, _ := e.Do(t, "POST", "/channel/99999/test", ""); status != 404 {
		t.Errorf("test of no channel: %d, want 404", status)
	}
}

// Bad input for every field is a 400 naming it, and changes nothing.
func TestChannelValidation(t *testing.T) {
	e := setup(t)
	s := e.addSite(t, `{"tags": ["prod"]}`)
	ok := e.addChannel(t, `{"name": "ok", "url": "https://hooks.example.com/x"}`)
	for _, tc := range []struct{ name, body, want string }{
		{"not JSON", `{"name": `, "JSON"},
		{"unknown field", `{"name": "a", "url": "https://x.example", "colour": "red"}`, `unknown field "colour"`},
		{"no name", `{"url": "https://x.example"}`, "name is required"},
		{"blank name", `{"name": "  ", "url": "https://x.example"}`, "name is required"},
		{"no url", `{"name": "a"}`, "url is required"},
		{"not a URL", `{"name": "a", "url": "hooks.example.com"}`, "url is not a URL"},
		{"webhook without host", `{"name": "a", "url": "https:///x"}`, "needs a host"},
		{"unknown scheme", `{"name": "a", "url": "pager://x"}`, `unknown service "pager://"`},
		{"logger is no channel", `{"name": "a", "url": "logger://"}`, `unknown service "logger://"`},
		{"bad discord URL", `{"name": "a", "url": "discord://"}`, "discord cannot read it"},
		{"bad smtp URL", `{"name": "a", "url": "smtp://mail.example.com/?to=x"}`, "smtp cannot read it"},
		{"secret on a service", `{"name": "a", "url": "ntfy://ntfy.sh/topic", "secret": "x"}`, "secret signs webhook requests"},
		{"unknown event", `{"name": "a", "url": "https://x.example", "events": ["down", "exploded"]}`, `events[1]: unknown event "exploded"`},
		{"unknown tag", `{"name": "a", "url": "https://x.example", "tags": ["nope"]}`, `tags[0]: no site has the tag "nope"`},
		{"bad tag", `{"name": "a", "url": "https://x.example", "tags": ["a b"]}`, "tags[0]"},
		{"unknown site", fmt.Sprintf(`{"name": "a", "url": "https://x.example", "sites": [%d, 99999]}`, s.id), "sites[1]: no site has the id 99999"},
		{"null tags", `{"name": "a", "url": "https://x.example", "tags": null}`, "tags cannot be null"},
		{"name taken", `{"name": "ok", "url": "https://x.example"}`, "exists already"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, msg := e.Refusal(t, "POST", "/channel", tc.body)
			want := 400
			if tc.name == "name taken" {
				want = 409
			}
			if status != want || !strings.Contains(msg, tc.want) {
				t.Errorf("POST /channel %s = %d %q, want %d saying %q", tc.body, status, msg, want, tc.want)
			}
		})
	}
	status, body := e.Do(t, "PATCH", fmt.Sprintf("/channel/%d", ok.ID), `{"url": "pager://x", "name": "changed"}`)
	if status != 400 {
		t.Errorf("PATCH with a bad URL: %d %s", status, body)
	}
	var list notify.ListResponse
	e.Call(t, "GET", "/channel", "", &list)
	if len(list.Channels) != 1 || list.Channels[0].Name != "ok" || list.Channels[0].URL != "https://hooks.example.com/•••" {
		t.Errorf("after bad requests the channels are %+v, want the one made", list.Channels)
	}
	for _, path := range []string{"/channel/x", "/channel/0"} {
		if status, _ := e.Do(t, "GET", path, ""); status != 400 {
			t.Errorf("GET %s: %d, want 400", path, status)
		}
	}
	if status, _ := e.Do(t, "GET", "/channel/12345", ""); status != 404 {
		t.Errorf("GET of no channel: %d, want 404", status)
	}
}

// No channel secret (a token in its URL, a password, the signing secret)
// appears in a response, a log line or an error.
func TestSecretsStayHidden(t *testing.T) {
	e := setup(t)
	s := e.addSite(t, "")
	failing := newHook(t)
	failing.fail.Store(1000)
	secrets := []string{"tok3n-in-the-path", "p4ssw0rd-of-smtp", "signing-s3cret", "query-t0ken"}
	var responses []string
	record := func(status int, body string) { responses = append(responses, body) }
	record(e.Do(t, "POST", "/channel", fmt.Sprintf(`{"name": "hook", "url": %q, "secret": "signing-s3cret"}`,
		failing.URL+"/tok3n-in-the-path?key=query-t0ken")))
	record(e.Do(t, "POST", "/channel", `{"name": "mail", "url": "smtp://ops:p4ssw0rd-of-smtp@127.0.0.1:1/?from=a@example.com&to=b@example.com&auth=Plain&encryption=None&usestarttls=no&timeout=1s"}`))
	record(e.Do(t, "GET", "/channel", ""))
	record(e.Do(t, "GET", "/channel/1", ""))
	record(e.Do(t, "PATCH", "/channel/1", `{"name": "hook 2"}`))
	record(e.Do(t, "POST", "/channel/1/test", ""))
	record(e.Do(t, "POST", "/channel/2/test", ""))
	// A bad URL's error does not quote it either.
	record(e.Do(t, "POST", "/channel", `{"name": "bad", "url": "smtp://ops:p4ssw0rd-of-smtp@:99999999/?to=query-t0ken"}`))
	e.goDown(t, s)
	wait.For(t, 10*time.Second, func() error {
		if failing.attempts.Load() < 3 {
			return errors.New("the failing channel was not retried")
		}
		return nil
	})
	record(e.Do(t, "GET", "/channel", ""))
	if !strings.Contains(responses[5], "answered 500") || !strings.Contains(responses[6], "refused the test message") {
		t.Fatalf("the failed tests do not say why: %q, %q", responses[5], responses[6])
	}
	all := strings.Join(responses, "\n") + "\n" + e.log.String()
	for _, secret := range secrets {
		if strings.Contains(all, secret) {
			i := strings.Index(all, secret)
			t.Errorf("%q shows in a response or the log: ...%s...", secret, all[max(0, i-200):min(len(all), i+100)])
		}
	}
	if !strings.Contains(e.log.String(), "delivery to a channel failed") {
		t.Error("the failed delivery was not logged, so the log test proves nothing")
	}
}
