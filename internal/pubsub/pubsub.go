// Package pubsub gives Encore's topics and subscriptions on River: a
// published event becomes one job per subscription, inserted in the
// publisher's transaction, and each job is worked at least once with
// Encore's retry policy.
package pubsub

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"uptime/internal/queue"
	"uptime/internal/text"
)

// Encore's delivery defaults.
const (
	// MaxAttempts is how many times an event is offered to a subscription.
	MaxAttempts = 100
	// MinBackoff is the wait before the first retry; it doubles each time.
	MinBackoff = 10 * time.Second
	// MaxBackoff caps the wait between retries.
	MaxBackoff = 10 * time.Minute
	// AckDeadline bounds one delivery.
	AckDeadline = 30 * time.Second
)

// Topic is a named stream of events of type T.
type Topic[T any] struct {
	name string
	q    *queue.Queue
	log  *slog.Logger
	subs []string
	// MinBackoff is the wait before the first retry of a failed delivery;
	// it doubles up to MaxBackoff. Set it before Subscribe. Defaults to
	// Encore's 10 seconds.
	MinBackoff time.Duration
}

// NewTopic returns a topic whose deliveries run on q.
func NewTopic[T any](q *queue.Queue, name string, log *slog.Logger) *Topic[T] {
	return &Topic[T]{name: name, q: q, log: log, MinBackoff: MinBackoff}
}

// Name is the topic's name.
func (t *Topic[T]) Name() string { return t.name }

// Subscribe adds a subscription, before the queue starts. handle is called
// at least once for every event published after that; an error means "try
// again later".
func (t *Topic[T]) Subscribe(name string, handle func(ctx context.Context, event T) error) {
	kind := t.name + "." + name
	t.subs = append(t.subs, kind)
	river.AddWorkerArgs(t.q.Workers(), delivery{kind: kind}, &subscriber[T]{
		topic: t.name, name: name, handle: handle, log: t.log, minBackoff: t.MinBackoff,
	})
}

// Elsewhere declares subscriptions that other processes work: events
// published here are delivered to them too. A process that publishes but
// delivers nothing (a probe) declares the subscriptions the others make.
func (t *Topic[T]) Elsewhere(names ...string) {
	for _, name := range names {
		t.subs = append(t.subs, t.name+"."+name)
	}
}

// PublishTx publishes the event inside tx: it is delivered if and only if
// tx commits.
func (t *Topic[T]) PublishTx(ctx context.Context, tx pgx.Tx, event T) error {
	body, err := json.Marshal(event)
	if err != nil {
		return fmt.Errorf("encode %s event: %w", t.name, err)
	}
	for _, kind := range t.subs {
		if err := t.q.InsertTx(ctx, tx, delivery{kind: kind, Event: body}, &river.InsertOpts{MaxAttempts: MaxAttempts}); err != nil {
			return fmt.Errorf("publish to %s: %w", kind, err)
		}
	}
	return nil
}

// delivery is one event on its way to one subscription; the job's kind
// names the topic and the subscription.
type delivery struct {
	kind string
	// Event is the event as published.
	Event json.RawMessage `json:"event"`
}

func (d delivery) Kind() string { return d.kind }

type subscriber[T any] struct {
	river.WorkerDefaults[delivery]
	topic, name string
	handle      func(context.Context, T) error
	log         *slog.Logger
	minBackoff  time.Duration

	// Failed deliveries are logged at most once a minute per
	// subscription, with how many were not.
	mu         sync.Mutex
	lastWarn   time.Time
	unreported int
}

// warnFailed logs a failed delivery that will be tried again, unless one
// was logged less than a minute ago.
func (s *subscriber[T]) warnFailed(job *river.Job[delivery], err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Since(s.lastWarn) < time.Minute {
		s.unreported++
		return
	}
	s.log.Warn("delivery failed; it will be tried again", "topic", s.topic, "subscription", s.name,
		"attempt", job.Attempt, "next_try_in", Backoff(s.minBackoff, job.Attempt), "err", text.Redact(err.Error()),
		"failures_not_logged", s.unreported)
	s.lastWarn, s.unreported = time.Now(), 0
}

func (s *subscriber[T]) Work(ctx context.Context, job *river.Job[delivery]) error {
	var event T
	if err := json.Unmarshal(job.Args.Event, &event); err != nil {
		s.log.Error("event cannot be decoded; dropping it", "topic", s.topic, "subscription", s.name,
			"event", text.Redact(string(job.Args.Event)), "err", err)
		return river.JobCancel(err)
	}
	err := s.handle(ctx, event)
	if err != nil && job.Attempt < job.MaxAttempts {
		s.warnFailed(job, err)
	}
	if err != nil && job.Attempt >= job.MaxAttempts {
		s.log.Error("event discarded after its last delivery attempt failed", "topic", s.topic,
			"subscription", s.name, "attempts", job.Attempt, "event", text.Redact(string(job.Args.Event)),
			"err", text.Redact(err.Error()))
	}
	return err
}

// NextRetry is Encore's backoff: 10 seconds, doubling, at most 10 minutes.
func (s *subscriber[T]) NextRetry(job *river.Job[delivery]) time.Time {
	return time.Now().Add(Backoff(s.minBackoff, job.Attempt))
}

// Timeout is Encore's deadline for one delivery.
func (s *subscriber[T]) Timeout(*river.Job[delivery]) time.Duration { return AckDeadline }

// Backoff is the wait after the given failed attempt (1 for the first):
// first, doubling each time, at most MaxBackoff.
func Backoff(first time.Duration, attempt int) time.Duration {
	d := first
	for i := 1; i < attempt && d < MaxBackoff; i++ {
		d *= 2
	}
	return min(d, MaxBackoff)
}
