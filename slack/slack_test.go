package slack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"uptime/internal/api"
	"uptime/internal/fakeslack"
	"uptime/internal/metrics"
	"uptime/monitor/event"
	"uptime/site"
	"uptime/slack"
)

// secrets is a fixed set of secrets.
type secrets map[string]string

func (s secrets) Get(name string) (string, error) { return s[name], nil }

func setup(t *testing.T) (*slack.Service, *fakeslack.Server, *bytes.Buffer) {
	t.Helper()
	fake := fakeslack.New(t)
	var logs bytes.Buffer
	svc := slack.New(secrets{slack.SecretName: fake.URL + "/services/T0/B0/secret-token"}, slog.New(slog.NewTextHandler(&logs, nil)))
	return svc, fake, &logs
}

func TestNotifyPostsTheText(t *testing.T) {
	svc, fake, _ := setup(t)
	if err := svc.Notify(context.Background(), slack.NotifyParams{Text: "Testing Slack webhook"}); err != nil {
		t.Fatal(err)
	}
	got := fake.Bodies()
	if len(got) != 1 || got[0] != `{"text":"Testing Slack webhook"}` {
		t.Fatalf("webhook got %q, want exactly {\"text\":\"Testing Slack webhook\"}", got)
	}
}

func TestNotifyErrorsSaySlacksAnswerButNotTheSecret(t *testing.T) {
	svc, fake, logs := setup(t)
	fake.Fail(500)
	err := svc.Notify(context.Background(), slack.NotifyParams{Text: "hi"})
	if err == nil || !strings.Contains(err.Error(), "500") || !strings.Contains(err.Error(), "service_unavailable") {
		t.Fatalf("err = %v, want one with Slack's status and body", err)
	}
	fake.Close()
	err = svc.Notify(context.Background(), slack.NotifyParams{Text: "hi"})
	if err == nil {
		t.Fatal("no error with Slack unreachable")
	}
	for _, s := range []string{err.Error(), logs.String()} {
		if strings.Contains(s, "secret-token") {
			t.Fatalf("the webhook URL leaked: %s", s)
		}
	}
}

func TestNotifyWaitsOutRetryAfter(t *testing.T) {
	svc, fake, _ := setup(t)
	fake.Fail(429, "Retry-After", "1")
	go func() {
		time.Sleep(300 * time.Millisecond)
		fake.Fail(0)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	if err := svc.Notify(ctx, slack.NotifyParams{Text: "after the wait"}); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < time.Second {
		t.Errorf("retried after %s, before Retry-After's 1s", waited)
	}
	if got := fake.Bodies(); len(got) != 1 {
		t.Fatalf("webhook got %q", got)
	}
}

func TestWithoutWebhookNotificationsAreSkippedWithOneWarning(t *testing.T) {
	var logs bytes.Buffer
	svc := slack.New(secrets{}, slog.New(slog.NewTextHandler(&logs, nil)))
	for range 3 {
		if err := svc.Notify(context.Background(), slack.NotifyParams{Text: "x"}); err != nil {
			t.Fatalf("Notify without a webhook = %v, want nil (skipped, not retried)", err)
		}
	}
	if n := strings.Count(logs.String(), "no Slack webhook configured"); n != 1 {
		t.Fatalf("%d warnings, want one:\n%s", n, logs.String())
	}
}

func TestNotifyEndpoint(t *testing.T) {
	svc, fake, _ := setup(t)
	srv := api.NewServer(slog.New(slog.DiscardHandler), "")
	svc.Register(srv)
	ts := httptest.NewServer(srv)
	defer ts.Close()
	tests := []struct {
		name, path, body string
		status           int
		code             string
	}{
		{"tutorial's curl", "/slack.Notify", `{"Text": "Testing Slack webhook"}`, 200, ""},
		{"the TypeScript tutorial's path", "/slack.notify", `{"text": "Testing Slack webhook"}`, 200, ""},
		{"no text", "/slack.Notify", `{}`, 400, "invalid_argument"},
		{"bad JSON", "/slack.notify", `{"text":`, 400, "invalid_argument"},
	}
	for _, tt := range tests {
		resp, err := http.Post(ts.URL+tt.path, "application/json", strings.NewReader(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		var e struct{ Code string }
		json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != tt.status || e.Code != tt.code {
			t.Errorf("%s: %d %q, want %d %q", tt.name, resp.StatusCode, e.Code, tt.status, tt.code)
		}
	}
	if got := fake.Bodies(); len(got) != 2 || got[0] != `{"text":"Testing Slack webhook"}` || got[1] != got[0] {
		t.Fatalf("webhook got %q", got)
	}
}

func TestMessage(t *testing.T) {
	since := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		ev   event.Transition
		want string
	}{
		{"down", event.Transition{Site: site.Site{ID: 1, URL: "https://encore.dev"}, Up: false},
			"*https://encore.dev is down!*"},
		{"down with reason", event.Transition{Site: site.Site{ID: 1, URL: "https://encore.dev"}, Reason: "HTTP 503"},
			"*https://encore.dev is down!*\nHTTP 503"},
		{"up", event.Transition{Site: site.Site{ID: 1, URL: "https://encore.dev"}, Up: true},
			"*https://encore.dev is back up.*"},
		{"a push site, its reason on one line", event.Transition{Site: site.Site{ID: 1, URL: "push://0123456789abcdef"}, Name: "nightly-backup",
			Reason: `exit code 2: "pg_dump: connection refused"`},
			`*nightly-backup is down!* exit code 2: "pg_dump: connection refused"`},
		{"a push site back up", event.Transition{Site: site.Site{ID: 1, URL: "push://0123456789abcdef"}, Name: "nightly-backup", Up: true,
			Since: &since, At: since.Add(25 * time.Hour)},
			"*nightly-backup is back up.* It was down for 1 day 1 hour."},
		{"up after a while", event.Transition{Site: site.Site{URL: "https://encore.dev"}, Up: true,
			Since: &since, At: since.Add(2*time.Hour + 5*time.Minute)},
			"*https://encore.dev is back up.*\nIt was down for 2 hours 5 minutes."},
		{"password hidden", event.Transition{Site: site.Site{URL: "https://ops:hunter2@a.example/health"}},
			"*https://ops:xxxxx@a.example/health is down!*"},
		{"markup escaped", event.Transition{Site: site.Site{URL: "https://a.example/?x=<b>&y=1"}},
			"*https://a.example/?x=&lt;b&gt;&amp;y=1 is down!*"},
		{"reminder", event.Transition{Event: "reminder", Site: site.Site{URL: "https://encore.dev"}, Reason: "HTTP 503",
			Since: &since, At: since.Add(3 * time.Hour)},
			"*https://encore.dev is still down.*\nIt has been down for 3 hours: HTTP 503"},
		{"degraded", event.Transition{Event: "degraded", Site: site.Site{URL: "https://encore.dev"}, Up: true,
			Reason: "slow: 900ms, above max_latency 500ms"},
			"*https://encore.dev is slow.*\nslow: 900ms, above max_latency 500ms"},
		{"degraded end", event.Transition{Event: "degraded_end", Site: site.Site{URL: "https://encore.dev"}, Up: true,
			Since: &since, At: since.Add(10 * time.Minute)},
			"*https://encore.dev is fast again.*\nIt was slow for 10 minutes."},
		{"certificate", event.Transition{Event: "cert_expiring", Site: site.Site{URL: "https://encore.dev"}, Up: true,
			Reason: "its certificate expires in 6 days"},
			"*https://encore.dev's certificate expires soon.*\nits certificate expires in 6 days"},
		{"flapping", event.Transition{Event: "flapping", Site: site.Site{URL: "https://encore.dev"}, Reason: "it changed state 5 times"},
			"*https://encore.dev is flapping.*\nit changed state 5 times"},
		{"unstable", event.Transition{Event: "unstable", Site: site.Site{URL: "https://encore.dev"}, Up: true, Reason: "6 of its last 20 checks failed"},
			"*https://encore.dev is unstable.*\n6 of its last 20 checks failed"},
		{"named", event.Transition{Site: site.Site{URL: "https://ops:hunter2@shop.example/health"}, Name: "Shop <front>", Reason: "HTTP 503"},
			"*Shop &lt;front&gt; is down!* https://ops:xxxxx@shop.example/health\nHTTP 503"},
		{"named, back", event.Transition{Site: site.Site{URL: "https://shop.example/"}, Name: "Shop", Up: true},
			"*Shop is back up.* https://shop.example/"},
	}
	for _, tt := range tests {
		if got := slack.Message(tt.ev); got != tt.want {
			t.Errorf("%s: Message = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// Each delivery is counted for /metrics by its result.
func TestDeliveriesAreCounted(t *testing.T) {
	svc, fake, _ := setup(t)
	ok, failed := metrics.Deliveries.WithLabelValues("slack", "ok"), metrics.Deliveries.WithLabelValues("slack", "error")
	ok0, failed0 := testutil.ToFloat64(ok), testutil.ToFloat64(failed)
	if err := svc.Notify(context.Background(), slack.NotifyParams{Text: "one"}); err != nil {
		t.Fatal(err)
	}
	fake.Fail(500)
	if err := svc.Notify(context.Background(), slack.NotifyParams{Text: "two"}); err == nil {
		t.Fatal("no error from a failing Slack")
	}
	if d := testutil.ToFloat64(ok) - ok0; d != 1 {
		t.Errorf("%v deliveries counted ok, want 1", d)
	}
	if d := testutil.ToFloat64(failed) - failed0; d != 1 {
		t.Errorf("%v deliveries counted failed, want 1", d)
	}
}
