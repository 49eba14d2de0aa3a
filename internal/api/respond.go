package api

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"uptime/internal/errs"
	"uptime/internal/text"
)

// MaxBodyBytes is the largest request body any endpoint accepts. Every
// request in this API is a small JSON object.
const MaxBodyBytes = 64 << 10

// Stream is a response too large to build in memory first: its function
// writes the JSON to w as it is read. Its errors come after the status
// line, so the connection is cut instead of a truncated body being taken
// for a whole one.
type Stream func(w io.Writer) error

// StreamTimeout bounds the time a Stream response may take to be written.
const StreamTimeout = 30 * time.Second

// Raw is a response that is not JSON (an image, a page), written as it
// is, with its status (200 when zero) and headers.
type Raw struct {
	Status int
	Header http.Header
	Body   []byte
}

// withCookie is a response that sets cookies: see WithCookie.
type withCookie struct {
	v       any
	cookies []*http.Cookie
}

// WithCookie is the response v (nil for an empty one) with a Set-Cookie
// header for each cookie: the session cookie of a sign-in, or its removal.
func WithCookie(v any, cookies ...*http.Cookie) any { return withCookie{v: v, cookies: cookies} }

// Throttled is err, answered with Retry-After: after (rounded up to a
// second).
func Throttled(err *errs.Error, after time.Duration) error {
	return &httpError{err: err, header: http.Header{"Retry-After": {strconv.Itoa(int((after + time.Second - 1) / time.Second))}}}
}

// Respond writes v as the JSON response with status 200. A nil v writes an
// empty body, as Encore does for endpoints without a response.
func Respond(w http.ResponseWriter, v any) {
	if c, ok := v.(withCookie); ok {
		for _, cookie := range c.cookies {
			http.SetCookie(w, cookie)
		}
		w.Header().Set("Cache-Control", "no-store")
		v = c.v
	}
	if v == nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	if raw, ok := v.(*Raw); ok {
		for k, vs := range raw.Header {
			w.Header()[k] = vs
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(cmp.Or(raw.Status, http.StatusOK))
		w.Write(raw.Body)
		return
	}
	if stream, ok := v.(Stream); ok {
		// A client that reads slowly must not hold what the stream holds
		// (a database connection) for long.
		http.NewResponseController(w).SetWriteDeadline(time.Now().Add(StreamTimeout))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		if err := stream(w); err != nil {
			panic(http.ErrAbortHandler)
		}
		return
	}
	body, err := json.Marshal(v)
	if err != nil {
		// Every response type is plain data; failing here is a bug.
		panic(fmt.Sprintf("encode response: %v", err))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(append(body, '\n'))
}

// RespondError is the one place an error becomes an HTTP response. Errors the
// caller caused are answered as they are; anything else is logged with its
// cause and answered with a generic message, so internals never leak.
func RespondError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var h *httpError
	if errors.As(err, &h) {
		writeError(w, h.err, h.header, h.status)
		return
	}
	e, expected := toError(err)
	if !expected {
		log.ErrorContext(r.Context(), "request failed",
			"method", r.Method, "path", logPath(r), "code", e.Code, "err", text.Redact(err.Error()))
	}
	writeError(w, e, nil, 0)
}

// writeError writes e as the response, with the headers, and with the
// status unless it is 0, the code's.
func writeError(w http.ResponseWriter, e *errs.Error, header http.Header, code int) {
	body, _ := json.Marshal(e)
	for k, v := range header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if code == 0 {
		code = status(e.Code)
	}
	w.WriteHeader(code)
	w.Write(append(body, '\n'))
}

// Decode reads the request body as JSON into a value of type T. An empty
// body, malformed JSON, text that is not UTF-8 or holds an unpaired
// surrogate, a field given twice, a field of the wrong type, trailing data
// and a body over the Server's limit are each an invalid_argument error
// that says which.
func Decode[T any](r *http.Request) (T, error) {
	body, err := ReadBody(r)
	if err != nil {
		var v T
		return v, err
	}
	return DecodeBytes[T](body)
}

// DecodeBytes reads a request body already read, as Decode does.
func DecodeBytes[T any](body []byte) (T, error) {
	var v T
	if len(strings.TrimSpace(string(body))) == 0 {
		return v, errs.Errorf(errs.InvalidArgument, "request body is empty; expected a JSON object")
	}
	if err := checkText(body); err != nil {
		return v, err
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	if err := dec.Decode(&v); err != nil {
		return v, decodeError(err)
	}
	if dec.More() {
		return v, errs.Errorf(errs.InvalidArgument, "malformed JSON: unexpected data after the JSON object")
	}
	return v, nil
}

// DecodeFields reads a request's JSON object into a value of type T, as
// Decode does, refusing a field not among known (so that a misspelt one is
// not silently ignored) and null for a field not among nullable. It
// returns the nullable fields that were given as null. what names the
// object in messages, as "a channel".
func DecodeFields[T any](r *http.Request, what string, known []string, nullable ...string) (T, map[string]bool, error) {
	var v T
	body, err := ReadBody(r)
	if err != nil {
		return v, nil, err
	}
	fields, err := DecodeBytes[map[string]json.RawMessage](body)
	if err != nil {
		return v, nil, err
	}
	nulls := map[string]bool{}
	for k, raw := range fields {
		if !slices.Contains(known, k) {
			return v, nil, errs.Errorf(errs.InvalidArgument, "unknown field %s; %s has %s", text.Quote(k), what, strings.Join(known, ", "))
		}
		if string(raw) == "null" {
			if !slices.Contains(nullable, k) {
				return v, nil, errs.Errorf(errs.InvalidArgument, "%s cannot be null", k)
			}
			nulls[k] = true
		}
	}
	v, err = DecodeBytes[T](body)
	return v, nulls, err
}

// ReadBody reads a request's body, whose size the server limits, with an
// Encore-shaped error when it cannot.
func ReadBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, errs.Errorf(errs.InvalidArgument, "request body is larger than %d bytes", tooBig.Limit)
		}
		return nil, errs.Errorf(errs.InvalidArgument, "read request body: %s", text.Clip(err.Error()))
	}
	return body, nil
}

// decodeError turns encoding/json's errors into messages for people.
func decodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return errs.Errorf(errs.InvalidArgument, "field %s must be %s, not %s", text.Quote(typeErr.Field), jsonKind(typeErr.Type.Kind().String()), text.Clip(typeErr.Value))
	case errors.As(err, &typeErr):
		return errs.Errorf(errs.InvalidArgument, "request body must be a JSON object, not %s", text.Clip(typeErr.Value))
	case errors.As(err, &syntaxErr):
		return errs.Errorf(errs.InvalidArgument, "malformed JSON at byte %d: %s", syntaxErr.Offset, text.Clip(syntaxErr.Error()))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errs.Errorf(errs.InvalidArgument, "malformed JSON: the body ends too soon")
	}
	return errs.Errorf(errs.InvalidArgument, "malformed JSON: %s", text.Clip(err.Error()))
}

// jsonKind names a Go kind the way a JSON client thinks of it.
func jsonKind(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "struct", "map":
		return "an object"
	case "slice", "array":
		return "an array"
	}
	if strings.HasPrefix(kind, "int") || strings.HasPrefix(kind, "uint") || strings.HasPrefix(kind, "float") {
		return "a number"
	}
	return kind
}

// PathID parses the named path parameter as a positive integer id.
func PathID(r *http.Request, name string) (int64, error) {
	raw := r.PathValue(name)
	id, err := strconv.ParseInt(raw, 10, 64)
	// One spelling per id: "+1" and "01" are not site 1.
	if err != nil || id < 1 || strconv.FormatInt(id, 10) != raw {
		return 0, errs.Errorf(errs.InvalidArgument, "%s must be a positive integer, got %s", name, text.Quote(raw))
	}
	return id, nil
}

// CheckText checks a text field of a request: its length in characters,
// at least minLen once trimmed and at most maxLen, and no control
// characters (line breaks and tabs allowed where multiline).
func CheckText(name, v string, minLen, maxLen int, multiline bool) error {
	if utf8.RuneCountInString(strings.TrimSpace(v)) < minLen {
		return errs.Errorf(errs.InvalidArgument, "%s is required", name)
	}
	if n := utf8.RuneCountInString(v); n > maxLen {
		return errs.Errorf(errs.InvalidArgument, "%s is at most %d characters, got %d", name, maxLen, n)
	}
	for _, r := range v {
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\r' || r == '\t')) {
			return errs.Errorf(errs.InvalidArgument, "%s contains a control character", name)
		}
	}
	return nil
}

// OrEmpty is a list field of a request: the list given, or an empty one
// when it was left out.
func OrEmpty[T any](p *[]T) []T {
	if p == nil || *p == nil {
		return []T{}
	}
	return *p
}

// QueryLimit reads the query parameter name as a count from 1 to max; when
// it is absent or empty, the count is def.
func QueryLimit(r *http.Request, name string, def, max int) (int, error) {
	raw := r.URL.Query().Get(name)
	if raw == "" {
		return def, nil
	}
	return parseCount(name, raw, max)
}

// QueryCount reads the query parameter name, which asks for something
// more, as a count from 1 to max: false when it is absent; given, even
// empty, it must be a count.
func QueryCount(r *http.Request, name string, max int) (int, bool, error) {
	if !r.URL.Query().Has(name) {
		return 0, false, nil
	}
	n, err := parseCount(name, r.URL.Query().Get(name), max)
	return n, true, err
}

func parseCount(name, raw string, max int) (int, error) {
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > max {
		return 0, errs.Errorf(errs.InvalidArgument, "%s must be a number from 1 to %d, got %s", name, max, text.Quote(raw))
	}
	return n, nil
}

// QueryBool reads an optional true/false query parameter; absent is false.
func QueryBool(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, errs.Errorf(errs.InvalidArgument, "%s must be true or false, got %s", name, text.Quote(v))
	}
	return b, nil
}
