// Package slack is the service that sends notifications to Slack through
// an incoming webhook, and the subscription that turns uptime transitions
// into messages.
package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"uptime/internal/api"
	"uptime/internal/errs"
	"uptime/internal/metrics"
	"uptime/internal/text"
)

// SecretName is the secret that holds the webhook URL.
const SecretName = "SlackWebhookURL"

// Secrets is where the webhook URL comes from. It is read at each
// notification, so setting it takes effect without a restart.
type Secrets interface {
	Get(name string) (string, error)
}

// Service posts messages to the Slack webhook.
type Service struct {
	secrets  Secrets
	client   *http.Client
	log      *slog.Logger
	warnOnce sync.Once
}

// New returns the service. Its HTTP client has its own time limit.
func New(secrets Secrets, log *slog.Logger) *Service {
	// Both results are served from the start, at zero.
	metrics.Deliveries.WithLabelValues("slack", "ok")
	metrics.Deliveries.WithLabelValues("slack", "error")
	return &Service{secrets: secrets, log: log, client: &http.Client{Timeout: 20 * time.Second}}
}

// NotifyParams is a message to send.
type NotifyParams struct {
	// Text is the Slack message, in Slack's mrkdwn.
	Text string `json:"text"`
}

// maxRetryAfter is the longest a 429's Retry-After is waited out inside
// one delivery; a longer one is left to the delivery's retries.
const maxRetryAfter = 20 * time.Second

// Notify sends a message to Slack. Without a webhook configured it does
// nothing but warn, once. A response of 400 or more is an error with
// Slack's status and body; a 429 is waited out as Retry-After says.
func (s *Service) Notify(ctx context.Context, p NotifyParams) error {
	if strings.TrimSpace(p.Text) == "" {
		return errs.Errorf(errs.InvalidArgument, `text is required, as in {"text": "Hello"}`)
	}
	webhook, err := s.secrets.Get(SecretName)
	if err != nil {
		return fmt.Errorf("read the %s secret: %w", SecretName, err)
	}
	if webhook == "" {
		s.warnOnce.Do(func() {
			s.log.Warn("no Slack webhook configured: notifications are skipped; set one with " +
				"`uptime secret set SlackWebhookURL` or SLACK_WEBHOOK_URL")
		})
		return nil
	}
	body, _ := json.Marshal(p)
	for {
		wait, err := s.post(ctx, webhook, body)
		if wait == 0 || err == nil {
			result := "ok"
			if err != nil {
				result = "error"
			}
			metrics.Deliveries.WithLabelValues("slack", result).Inc()
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

// post sends one request. On a 429 it returns how long to wait before the
// next, when that is short enough to wait.
func (s *Service) post(ctx context.Context, webhook string, body []byte) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, webhook, bytes.NewReader(body))
	if err != nil {
		return 0, errors.New("the Slack webhook URL is not a valid URL")
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		// The URL is the secret: keep it out of the error.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return 0, fmt.Errorf("post to Slack: %w", err)
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode < 400 {
		return 0, nil
	}
	err = fmt.Errorf("slack answered %d: %s", resp.StatusCode, strings.TrimSpace(string(reply)))
	if resp.StatusCode == http.StatusTooManyRequests {
		wait := retryAfter(resp.Header.Get("Retry-After"))
		if deadline, ok := ctx.Deadline(); (!ok || time.Until(deadline) > wait) && wait <= maxRetryAfter {
			return wait, err
		}
	}
	return 0, err
}

// retryAfter reads a Retry-After header, in seconds or as a date, with one
// second when it says nothing usable.
func retryAfter(h string) time.Duration {
	if n, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && n >= 0 {
		return max(time.Duration(n)*time.Second, 100*time.Millisecond)
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(time.Until(t), 100*time.Millisecond)
	}
	return time.Second
}

// Register adds the private endpoint POST /slack.Notify, as the tutorial
// calls it: {"text": string} → empty.
func (s *Service) Register(srv *api.Server) {
	notify := func(r *http.Request) (any, error) {
		p, err := api.Decode[NotifyParams](r)
		if err != nil {
			return nil, err
		}
		if err := s.Notify(r.Context(), p); err != nil {
			if errs.Is(err, errs.InvalidArgument) {
				return nil, err
			}
			return nil, errs.Errorf(errs.Unavailable, "%s", text.Clip(text.Redact(err.Error())))
		}
		return nil, nil
	}
	// The Go tutorial's endpoint is slack.Notify; the TypeScript one's,
	// slack.notify.
	doc := api.Doc{Summary: "Send a message to Slack", Request: NotifyParams{}}
	srv.Handle("POST /slack.Notify", notify, doc)
	srv.Handle("POST /slack.notify", notify, doc)
}
