package api

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
)

// Mask stands in for a hidden password, as url.URL.Redacted writes it.
const Mask = "xxxxx"

// Redact hides the password of every URL in s, so that a site checked with
// basic auth does not leak it into a response, a log line or a message.
// It works on any text, with or without a scheme, because passwords turn
// up in paths (/ping/user:pw@host), error messages and JSON alike.
//
// The text is read as runs between delimiters (/ ? # & white space,
// quotes, brackets...). In a run with an "@", what comes before the last
// "@" is user information, and everything in it after the first ":" is
// the password: a user name cannot hold a ":" but a password may hold an
// "@", so http://me@corp:pw@host hides "pw" and user:p@ss@host hides
// "p@ss". mailto: addresses are left alone.
func Redact(s string) string {
	if !strings.Contains(s, "@") {
		return s
	}
	var b strings.Builder
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && !isDelimiter(s[i]) {
			continue
		}
		b.WriteString(redactRun(s[start:i]))
		if i < len(s) {
			b.WriteByte(s[i])
		}
		start = i + 1
	}
	return b.String()
}

// redactRun hides the password in one run of text without delimiters.
func redactRun(run string) string {
	at := strings.LastIndexByte(run, '@')
	if at < 0 {
		return run
	}
	colon := strings.IndexByte(run[:at], ':')
	if colon < 0 || strings.EqualFold(run[:colon], "mailto") {
		return run
	}
	return run[:colon+1] + Mask + run[at:]
}

func isDelimiter(c byte) bool {
	switch c {
	case '/', '?', '#', '&', ' ', '\t', '\n', '\r', '"', '\'', '`', '<', '>', '(', ')', '[', ']', '{', '}', ',', ';', '|', '\\':
		return true
	}
	return false
}

// RedactHandler hides URL passwords in every message and string attribute
// of the records it passes on, so that no log line leaks one, whoever
// wrote it (this program, River, net/http).
func RedactHandler(h slog.Handler) slog.Handler { return redactHandler{h} }

type redactHandler struct{ slog.Handler }

func (h redactHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, Redact(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(a))
		return true
	})
	return h.Handler.Handle(ctx, out)
}

func (h redactHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		red[i] = redactAttr(a)
	}
	return redactHandler{h.Handler.WithAttrs(red)}
}

func (h redactHandler) WithGroup(name string) slog.Handler {
	return redactHandler{h.Handler.WithGroup(name)}
}

func redactAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, Redact(v.String()))
	case slog.KindGroup:
		g := v.Group()
		red := make([]any, len(g))
		for i, ga := range g {
			red[i] = redactAttr(ga)
		}
		return slog.Group(a.Key, red...)
	case slog.KindAny:
		if rv := reflect.ValueOf(v.Any()); rv.Kind() == reflect.Pointer && rv.IsNil() {
			break // a nil *time.Time, say: its methods would panic, and it holds nothing to hide
		}
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, Redact(err.Error()))
		}
		if s, ok := v.Any().(fmt.Stringer); ok {
			return slog.String(a.Key, Redact(s.String()))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
