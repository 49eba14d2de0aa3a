package account

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"uptime/internal/api"
	"uptime/internal/errs"
)

// DefaultAuditRetention is how long audit rows are kept unless
// --audit-retention says otherwise.
const DefaultAuditRetention = 400 * 24 * time.Hour

// AuditEntry is a row of the audit log, as GET /audit shows it.
type AuditEntry struct {
	// ID orders the rows: ?before=ID pages back.
	ID int64 `json:"id"`
	// At is when it happened.
	At time.Time `json:"at"`
	// Kind is change, export, sign-in, sign-in refused, sign-out or
	// credential refused.
	Kind string `json:"kind"`
	// Actor is who: a user's email, a token's name, "api-key" or
	// "anonymous".
	Actor string `json:"actor"`
	// ActorKind is user (a session), token, api-key or anonymous.
	ActorKind string `json:"actor_kind"`
	// UserID is the user who acted, or owns the token.
	UserID *int64 `json:"user_id"`
	// Client is the address the request came from.
	Client string `json:"client"`
	// Method and Route are the request's.
	Method string `json:"method"`
	Route  string `json:"route"`
	// Object is what it was about, as "site/5".
	Object string `json:"object"`
	// Status is the answer's status; null when the process stopped before
	// it answered, so the outcome is unknown.
	Status *int `json:"status"`
	// Before and After are the object as reads show it, secrets masked.
	Before json.RawMessage `json:"before"`
	After  json.RawMessage `json:"after"`
	// Message says more of a refusal.
	Message string `json:"message"`
}

// AuditPage is the answer of GET /audit.
type AuditPage struct {
	// Entries are the rows, newest first.
	Entries []AuditEntry `json:"entries"`
	// Next is the ?before= of the next page; null on the last.
	Next *int64 `json:"next"`
}

// AuditRetention sets how long audit rows are kept. It is meant for
// start-up wiring.
func (s *Service) AuditRetention(d time.Duration) { s.auditRetention = d }

func actorKind(p api.Principal) string {
	switch {
	case p.Session:
		return "user"
	case p.TokenID != 0:
		return "token"
	case p.Name == "api-key":
		return "api-key"
	}
	return "anonymous"
}

func nullID(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
}

// Begin writes a change's row before the change runs.
func (s *Service) Begin(ctx context.Context, e api.AuditEntry) (int64, error) {
	var id int64
	err := s.db.QueryRow(ctx, `INSERT INTO audit (kind, actor, actor_kind, user_id, token_id, client, method, route, object, before, message)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`,
		e.Kind, e.Caller.Name, actorKind(e.Caller), nullID(e.Caller.UserID), nullID(e.Caller.TokenID), e.Client, e.Method,
		e.Route, e.Object, jsonOrNull(e.Before), e.Message).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("begin an audit row: %w", err)
	}
	s.forgetOldAudit(ctx)
	return id, nil
}

// Finish completes a change's row with its answer.
func (s *Service) Finish(ctx context.Context, id int64, status int, object string, after json.RawMessage) error {
	_, err := s.db.Exec(ctx, "UPDATE audit SET status = $2, object = $3, after = $4 WHERE id = $1", id, status, object, jsonOrNull(after))
	if err != nil {
		return fmt.Errorf("finish audit row %d: %w", id, err)
	}
	return nil
}

// Record writes a row that is whole at once.
func (s *Service) Record(ctx context.Context, e api.AuditEntry, status int) error {
	_, err := s.db.Exec(ctx, `INSERT INTO audit (kind, actor, actor_kind, user_id, token_id, client, method, route, object, status, message)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		e.Kind, e.Caller.Name, actorKind(e.Caller), nullID(e.Caller.UserID), nullID(e.Caller.TokenID), e.Client, e.Method,
		e.Route, e.Object, status, e.Message)
	if err != nil {
		return fmt.Errorf("write an audit row: %w", err)
	}
	return nil
}

// forgetOldAudit deletes the rows older than the retention, at most once
// an hour per instance.
func (s *Service) forgetOldAudit(ctx context.Context) {
	s.users.Lock()
	due := s.now().Sub(s.auditPrunedAt) >= time.Hour
	if due {
		s.auditPrunedAt = s.now()
	}
	s.users.Unlock()
	if !due {
		return
	}
	retention := s.auditRetention
	if retention <= 0 {
		retention = DefaultAuditRetention
	}
	if _, err := s.db.Exec(ctx, "DELETE FROM audit WHERE at < $1", s.now().Add(-retention)); err != nil {
		s.log.Warn("could not delete old audit rows; trying again within the hour", "err", err)
	}
}

func jsonOrNull(b json.RawMessage) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

func (s *Service) handleAudit(r *http.Request) (any, error) {
	q := r.URL.Query()
	limit, err := api.QueryLimit(r, "limit", 100, 1000)
	if err != nil {
		return nil, err
	}
	before := int64(1<<63 - 1)
	if v := q.Get("before"); v != "" {
		if before, err = strconv.ParseInt(v, 10, 64); err != nil || before < 1 {
			return nil, errs.Errorf(errs.InvalidArgument, "before must be an audit row's id, got %q", v)
		}
	}
	return s.Audit(r.Context(), q.Get("actor"), q.Get("object"), before, limit)
}

// Audit returns the rows before the id, newest first, of the actor and
// the object when they are given.
func (s *Service) Audit(ctx context.Context, actor, object string, before int64, limit int) (*AuditPage, error) {
	rows, err := s.db.Query(ctx, `SELECT id, at, kind, actor, actor_kind, user_id, client, method, route, object, status,
		before, after, message FROM audit WHERE id < $1 AND ($2 = '' OR actor = $2) AND ($3 = '' OR object = $3)
		ORDER BY id DESC LIMIT $4`, before, actor, object, limit+1)
	if err != nil {
		return nil, fmt.Errorf("read the audit log: %w", err)
	}
	entries, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (AuditEntry, error) {
		var e AuditEntry
		var b, a []byte
		err := row.Scan(&e.ID, &e.At, &e.Kind, &e.Actor, &e.ActorKind, &e.UserID, &e.Client, &e.Method, &e.Route, &e.Object,
			&e.Status, &b, &a, &e.Message)
		if len(b) > 0 {
			e.Before = b
		}
		if len(a) > 0 {
			e.After = a
		}
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("read the audit log: %w", err)
	}
	page := &AuditPage{Entries: entries}
	if len(entries) > limit {
		page.Entries = entries[:limit]
		page.Next = &entries[limit-1].ID
	}
	return page, nil
}
