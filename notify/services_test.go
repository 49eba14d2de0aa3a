package notify_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"uptime/internal/smtptest"
	"uptime/internal/wait"
)

// recorder is a loopback server that speaks enough of a service's API:
// it notes each request and answers with reply(path).
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []string // "METHOD path?query body"
}

func newRecorder(t *testing.T, reply func(w http.ResponseWriter, r *http.Request)) *recorder {
	rec := &recorder{}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, r.Method+" "+r.URL.RequestURI()+" "+string(body))
		rec.mu.Unlock()
		reply(w, r)
	}))
	t.Cleanup(rec.Close)
	return rec
}

func (rec *recorder) all() string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return strings.Join(rec.reqs, "\n")
}

// Channels of shoutrrr's services whose URL names their server reach
// loopback servers speaking those services' APIs (ntfy, Gotify, Matrix,
// the generic service) and a loopback SMTP server, with the test message
// and then the site's down alert.
func TestServiceChannels(t *testing.T) {
	e := setup(t)
	s := e.addSite(t, `{"name": "Shop"}`)

	ntfy := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"id":"x1","time":1700000000,"event":"message","topic":"uptime-alerts","message":"ok"}`)
	})
	gotify := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"id":1,"appid":1,"message":"ok","title":"t","priority":0,"date":"2026-11-22T10:00:00Z"}`)
	})
	generic := newRecorder(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	matrix := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.Contains(r.URL.Path, "/join/"):
			fmt.Fprint(w, `{"room_id":"!ops:example.org"}`)
		case strings.Contains(r.URL.Path, "/send/"):
			fmt.Fprint(w, `{"event_id":"$1"}`)
		default:
			http.Error(w, `{"errcode":"M_UNRECOGNIZED","error":"unknown"}`, http.StatusNotFound)
		}
	})
	mail := smtptest.Start(t)

	host := func(u string) string { return strings.TrimPrefix(u, "http://") }
	channels := map[string]string{
		"ntfy":    fmt.Sprintf("ntfy://%s/uptime-alerts?scheme=http", host(ntfy.URL)),
		"gotify":  fmt.Sprintf("gotify://%s/AbCdEfGhIjKlMnO?disabletls=yes", host(gotify.URL)),
		"generic": fmt.Sprintf("generic://%s/alerts?disabletls=yes", host(generic.URL)),
		"matrix":  fmt.Sprintf("matrix://:matrix-token@%s/?rooms=!ops:example.org&disableTLS=yes", host(matrix.URL)),
		"smtp": fmt.Sprintf("smtp://%s/?from=uptime@example.com&to=ops@example.com&auth=None&encryption=None&usestarttls=no",
			mail.Addr),
	}
	seen := map[string]func() string{"ntfy": ntfy.all, "gotify": gotify.all, "generic": generic.all, "matrix": matrix.all, "smtp": func() string { return allMail(mail) }}
	ids := map[string]int64{}
	for name, u := range channels {
		c := e.addChannel(t, fmt.Sprintf(`{"name": %q, "url": %q}`, name, u))
		if c.Kind != name {
			t.Errorf("%s: kind %q", name, c.Kind)
		}
		ids[name] = c.ID
	}
	for name, id := range ids {
		status, body := e.Do(t, "POST", fmt.Sprintf("/channel/%d/test", id), "")
		if status != 200 {
			t.Errorf("%s: test message: %d %s", name, status, body)
			continue
		}
		if got := seen[name](); !strings.Contains(got, "test message from Uptime") {
			t.Errorf("%s: the server got %q, want the test message", name, got)
		}
	}

	e.goDown(t, s)
	for name, all := range seen {
		if err := wait.Poll(15*time.Second, func() error {
			if got := all(); !strings.Contains(got, "Shop is down") {
				return fmt.Errorf("%s: no down alert in 15s; the server got:\n%s", name, got)
			}
			return nil
		}); err != nil {
			t.Error(err)
		}
	}
	if m := allMail(mail); !strings.Contains(m, "To: ops@example.com") || !strings.Contains(m, "HTTP 503") {
		t.Errorf("the mail: %s", m)
	}
	if m := matrix.all(); !strings.Contains(m, "access_token=matrix-token") || !strings.Contains(m, "/rooms/%21ops:example.org/send/m.room.message") {
		t.Errorf("Matrix: the requests do not send to the room with the token:\n%s", m)
	}
	if n := strings.Count(gotify.all(), "/message?token=AbCdEfGhIjKlMnO"); n != 2 {
		t.Errorf("Gotify: %d messages with the token, want 2:\n%s", n, gotify.all())
	}
	if n := strings.Count(ntfy.all(), "uptime-alerts"); n < 2 {
		t.Errorf("ntfy: %d messages to the topic, want 2:\n%s", n, ntfy.all())
	}
}

// fakeInternet answers, in place of the internet, the requests made
// through http.DefaultTransport to the hosts given, noting them; others go
// on as usual.
type fakeInternet struct {
	hosts []string
	next  http.RoundTripper
	mu    sync.Mutex
	seen  []*http.Request
	body  []string
}

func (f *fakeInternet) RoundTrip(r *http.Request) (*http.Response, error) {
	for _, h := range f.hosts {
		if r.URL.Hostname() == h {
			var b []byte
			if r.Body != nil {
				b, _ = io.ReadAll(r.Body)
			}
			f.mu.Lock()
			f.seen = append(f.seen, r)
			f.body = append(f.body, string(b))
			f.mu.Unlock()
			return &http.Response{StatusCode: 204, Body: io.NopCloser(strings.NewReader("")), Header: http.Header{}, Request: r}, nil
		}
	}
	return f.next.RoundTrip(r)
}

// Discord and Slack channels, which name no server of their own, are
// read and rendered to the request they would send.
func TestDiscordAndSlackRequests(t *testing.T) {
	e := setup(t)
	s := e.addSite(t, `{"name": "Shop"}`)
	fake := &fakeInternet{hosts: []string{"discord.com", "hooks.slack.com"}, next: http.DefaultTransport}
	http.DefaultTransport = fake
	t.Cleanup(func() { http.DefaultTransport = fake.next })

	discord := e.addChannel(t, `{"name": "discord", "url": "discord://d1sc0rd-t0ken@123456789"}`)
	slack := e.addChannel(t, `{"name": "slack", "url": "slack://hook:T0AAAAAAA-B0BBBBBBB-sl4ckt0kenXXXXXXXXXXXXXX@webhook"}`)
	if discord.URL != "discord://•••@123456789" || slack.Kind != "slack" {
		t.Errorf("channels as shown: %+v, %+v", discord, slack)
	}
	e.goDown(t, s)
	wait.For(t, 15*time.Second, func() error {
		fake.mu.Lock()
		n := len(fake.seen)
		fake.mu.Unlock()
		if n < 2 {
			return fmt.Errorf("%d requests to Discord and Slack, want 2", n)
		}
		return nil
	})
	fake.mu.Lock()
	defer fake.mu.Unlock()
	for i, r := range fake.seen {
		body := fake.body[i]
		switch r.URL.Hostname() {
		case "discord.com":
			if r.Method != "POST" || r.URL.Path != "/api/webhooks/123456789/d1sc0rd-t0ken" || !strings.Contains(body, "Shop is down") {
				t.Errorf("Discord: %s %s %s", r.Method, r.URL, body)
			}
		case "hooks.slack.com":
			if r.Method != "POST" || r.URL.Path != "/services/T0AAAAAAA/B0BBBBBBB/sl4ckt0kenXXXXXXXXXXXXXX" || !strings.Contains(body, "Shop is down") {
				t.Errorf("Slack: %s %s %s", r.Method, r.URL, body)
			}
		}
	}
}

// allMail is every message the server took, with its envelope, one after
// another.
func allMail(s *smtptest.Server) string {
	var out []string
	for _, m := range s.Messages() {
		out = append(out, "From: "+m.From+"\nTo: "+m.To+"\n"+string(m.Data))
	}
	return strings.Join(out, "\n---\n")
}
