package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"uptime/internal/text"
)

// AuditEntry is a row of the audit log, as the server hands it over.
type AuditEntry struct {
	// Kind is "change", "export", "sign-in", "sign-in refused",
	// "sign-out" or "credential refused".
	Kind string
	// Caller is who made the request.
	Caller Principal
	// Client is the address it came from.
	Client string
	// Method and Route are the request's method and route pattern.
	Method, Route string
	// Object is what it changes, as "site/5"; empty when unknown.
	Object string
	// Before is the object as a read showed it before the change, secrets
	// masked; nil when there was none.
	Before json.RawMessage
	// Message says more, for a refusal.
	Message string
}

// An Auditor keeps the audit log. Begin writes a change's row before the
// change runs: a change whose row cannot be written is not made. Finish
// completes it with the answer.
type Auditor interface {
	Begin(ctx context.Context, e AuditEntry) (id int64, err error)
	Finish(ctx context.Context, id int64, status int, object string, after json.RawMessage) error
	// Record writes a row that is whole at once: a refusal, a sign-in.
	Record(ctx context.Context, e AuditEntry, status int) error
}

// Audit sets the audit log every change is written to. It is meant for
// start-up wiring.
func (s *Server) Audit(a Auditor) { s.auditor = a }

// maxAudited is the most of an answer kept as a change's "after".
const maxAudited = 64 << 10

// audited reports whether a request is written to the audit log: every
// change by a caller who needed a role for it, and the export of
// credentials.
func audited(r *http.Request, need Role) bool {
	if need == Public {
		return false
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return r.URL.Path == "/site/export"
	}
	return r.Method != http.MethodOptions
}

// serveAudited serves a change between its audit row's beginning and its
// end: the row names the caller, the route and the object as a read showed
// it before; its end, the answer's status and the object after, as the
// answer shows it, with what looks like a secret masked.
func (s *Server) serveAudited(w *recorder, r *http.Request, route string, serve func(http.ResponseWriter, *http.Request)) {
	kind := "change"
	if r.Method == http.MethodGet {
		kind = "export"
	}
	object := objectOf(r)
	var before json.RawMessage
	if r.Method == http.MethodPatch || r.Method == http.MethodPut || r.Method == http.MethodDelete {
		before = s.read(r)
	}
	id, err := s.auditor.Begin(r.Context(), AuditEntry{Kind: kind, Caller: Caller(r.Context()), Client: ClientAddr(r),
		Method: r.Method, Route: route, Object: object, Before: before})
	if err != nil {
		s.unavailable(w, r, fmt.Errorf("write the audit log: %w", err))
		return
	}
	capture := &capturer{recorder: w}
	serve(capture, r)
	var after json.RawMessage
	if kind == "change" && capture.status() < 400 && !capture.cut && json.Valid(capture.body.Bytes()) && capture.body.Len() > 0 {
		after = MaskJSON(capture.body.Bytes())
		if object == "" || !strings.Contains(object, "/") {
			var v struct {
				ID any `json:"id"`
			}
			if json.Unmarshal(after, &v) == nil && v.ID != nil {
				object = strings.TrimSuffix(object, "/") + "/" + fmt.Sprint(v.ID)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
	defer cancel()
	if err := s.auditor.Finish(ctx, id, capture.status(), object, after); err != nil {
		s.log.Warn("could not finish an audit row: it says the change's outcome is unknown", "audit_id", id, "err", err)
	}
}

// read returns what a GET of the request's path answers, masked, or nil:
// an object as it is before a change.
func (s *Server) read(r *http.Request) json.RawMessage {
	get := r.Clone(r.Context())
	get.Method, get.Body, get.ContentLength = http.MethodGet, http.NoBody, 0
	if _, pattern := s.mux.Handler(get); pattern == "" || !strings.HasPrefix(pattern, "GET ") {
		return nil
	}
	buf := &bufferWriter{header: http.Header{}}
	s.mux.ServeHTTP(buf, get) // routed, so that the handler has its path values
	if buf.status != 0 && buf.status != http.StatusOK || !json.Valid(buf.body.Bytes()) || buf.body.Len() == 0 {
		return nil
	}
	return MaskJSON(buf.body.Bytes())
}

// objectOf names what a request is about from its path: its first part
// and its id, as "site/5", or its first part alone ("site" for POST /site).
func objectOf(r *http.Request) string {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) == 0 || parts[0] == "" {
		return ""
	}
	if len(parts) > 1 {
		return parts[0] + "/" + parts[1]
	}
	return parts[0]
}

// MaskJSON returns the JSON with what looks like a secret masked: the
// string values of keys named like one (token, password, secret, key...,
// and maskedKeys), and credentials inside every string.
func MaskJSON(b []byte) json.RawMessage {
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil
	}
	out, err := json.Marshal(mask(v, ""))
	if err != nil {
		return nil
	}
	return out
}

// maskedKeys hold secrets beside those named like one: a push site's ping
// URL (its token), recovery codes, a TOTP secret's QR code.
var maskedKeys = map[string]bool{"ping_url": true, "recovery_codes": true, "qr": true}

func mask(v any, key string) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			t[k] = mask(x, k)
		}
		return t
	case []any:
		for i, x := range t {
			t[i] = mask(x, key)
		}
		return t
	case string:
		if t != "" && (text.SecretName(key) || maskedKeys[key]) {
			return text.Mask
		}
		return text.Redact(t)
	}
	return v
}

// capturer keeps the first maxAudited bytes of an answer, for its audit
// row.
type capturer struct {
	*recorder
	body bytes.Buffer
	cut  bool
}

func (c *capturer) Write(b []byte) (int, error) {
	if c.body.Len()+len(b) <= maxAudited {
		c.body.Write(b)
	} else {
		c.cut = true
	}
	return c.recorder.Write(b)
}

func (c *capturer) status() int {
	if !c.recorder.wrote {
		return http.StatusOK
	}
	return c.recorder.status
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (c *capturer) Unwrap() http.ResponseWriter { return c.recorder }

// bufferWriter is a ResponseWriter that keeps the answer in memory.
type bufferWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferWriter) Header() http.Header { return b.header }
func (b *bufferWriter) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}
func (b *bufferWriter) Write(p []byte) (int, error) {
	if b.body.Len()+len(p) > maxAudited {
		return len(p), nil
	}
	return b.body.Write(p)
}
