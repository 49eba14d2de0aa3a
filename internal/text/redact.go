// Package text holds the helpers that make text safe to show: passwords and
// tokens hidden in URLs and logs (Redact, LogURL, LogError, RedactHandler),
// and text from a request quoted and clipped for a message (Quote, Clip).
// It imports no HTTP package, so every package may use it.
package text

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"reflect"
	"regexp"
	"strings"
)

// Mask stands in for a hidden password, as url.URL.Redacted writes it.
const Mask = "xxxxx"

// Redact hides the credentials of every URL in s, so that a site checked
// with basic auth or a token does not leak it into a response, a log line
// or a message. It works on any text, with or without a scheme, because
// URLs turn up in paths (/ping/user:pw@host), error messages and JSON alike.
//
// Each URL's authority is read as RFC 3986 has it: after "scheme://", up to
// the first "/", "?", "#", white space or a character no URL holds, and
// everything before its last "@" is user information. A password may hold
// any character user information may (":", "@", "," ";" "&" "'" "(" ")" "!"
// "$" "*" "+" "=", percent-encodings), so it is hidden from the first ":"
// to that "@": http://me@corp:p@ss@host hides "p@ss". A user name alone, as
// a token is given (https://ghp_xxx@host/), is hidden whole. Without a
// scheme, as in a ping path, user information is recognized only with a
// password (user:pw@host), so that an e-mail address or mailto: is left
// alone.
//
// The values of query parameters that look like credentials (api_key=,
// token=, sig=, access_token=, password=...; see SecretName) are hidden
// too, wherever a "?" or "&" starts them.
func Redact(s string) string {
	return redactQuery(redactUserinfo(s))
}

func redactUserinfo(s string) string {
	if !strings.Contains(s, "@") {
		return s
	}
	var b strings.Builder
	done := 0 // s[:done] is written
	for from := 0; ; {
		i := strings.IndexByte(s[from:], '@')
		if i < 0 {
			break
		}
		at := from + i
		start := at
		for start > done && isUserinfo(s[start-1]) {
			start--
		}
		end := at + 1
		for end < len(s) && (isUserinfo(s[end]) || s[end] == '@' || s[end] == '[' || s[end] == ']') {
			end++
		}
		last := start + strings.LastIndexByte(s[start:end], '@')
		userinfo := s[start:last]
		withScheme := start >= 3 && s[start-3:start] == "://"
		colon := strings.IndexByte(userinfo, ':')
		var masked string
		switch {
		case userinfo == "":
			from = at + 1
			continue
		case withScheme && colon >= 0:
			masked = userinfo[:colon+1] + Mask
		case withScheme:
			masked = Mask // a user alone is a token
		case colon > 0 && !strings.EqualFold(userinfo[:colon], "mailto"):
			masked = userinfo[:colon+1] + Mask
		default:
			from = at + 1
			continue
		}
		b.WriteString(s[done:start])
		b.WriteString(masked)
		done, from = last, last+1
	}
	if done == 0 {
		return s
	}
	b.WriteString(s[done:])
	return b.String()
}

// redactQuery hides the values of the query parameters in s whose names
// look like credentials.
func redactQuery(s string) string {
	if !strings.ContainsAny(s, "?&") || !strings.Contains(s, "=") {
		return s
	}
	var b strings.Builder
	done := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '?' && s[i] != '&' {
			continue
		}
		eq := i + 1
		for eq < len(s) && isQueryName(s[eq]) {
			eq++
		}
		if eq == i+1 || eq >= len(s) || s[eq] != '=' || !SecretName(s[i+1:eq]) {
			continue
		}
		end := eq + 1
		for end < len(s) && isQueryValue(s[end]) {
			end++
		}
		if end == eq+1 || s[eq+1:end] == Mask {
			continue
		}
		b.WriteString(s[done : eq+1])
		b.WriteString(Mask)
		done, i = end, end-1
	}
	if done == 0 {
		return s
	}
	b.WriteString(s[done:])
	return b.String()
}

// assignment is NAME=value or name: value in free text, as a program's
// output prints a setting: a value quoted, or up to white space or "&".
var assignment = regexp.MustCompile(`\b([A-Za-z0-9_.-]+)(\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s&]+)`)

// RedactOutput hides, in a program's output, what Redact hides, and the
// values of NAME=value and name: value whose names look like credentials
// (see SecretName): "PGPASSWORD=xxxxx", "api_key: xxxxx".
func RedactOutput(s string) string {
	return assignment.ReplaceAllStringFunc(Redact(s), func(m string) string {
		p := assignment.FindStringSubmatch(m)
		if !SecretName(p[1]) || p[3] == Mask {
			return m
		}
		return p[1] + p[2] + Mask
	})
}

// secretWords mark a name (a query parameter's, a header's) whose value is
// a credential.
var secretWords = []string{"auth", "token", "key", "secret", "pass", "pwd", "cookie", "session", "sig", "credential", "jwt", "access"}

// SecretName tells whether a query parameter or header of this name holds
// a credential, by the words in it: X-Api-Key, access_token, sig, X-JWT.
func SecretName(name string) bool {
	name = strings.ToLower(name)
	for _, w := range secretWords {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}

func isQueryName(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~%[]", c) >= 0
}

// isQueryValue tells whether c may be part of a query value: anything but
// what ends one ("&", "#"), white space, quotes and what no URL holds.
func isQueryValue(c byte) bool {
	return c > ' ' && c < 0x7f && strings.IndexByte("&#\"'<>`\\{}|^", c) < 0
}

// isUserinfo tells whether c may be part of a URL's user information, as
// RFC 3986 has it (unreserved, percent-encoded, sub-delims and ":"), bar
// "@".
func isUserinfo(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~%!$&'()*+,;=:", c) >= 0
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

// LogURL is how log lines name a URL: its scheme, host and port, enough to
// find it, without user information, path or query, where tokens live
// (/heartbeat/<token>, ?key=). Text that is no URL with a host is named
// only by its length.
func LogURL(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" {
		return fmt.Sprintf("(%d characters, not a URL with a host)", len(raw))
	}
	return u.Scheme + "://" + u.Host
}

// LogError is err as log lines give it: a *url.Error, as net/http's client
// returns, names its URL as LogURL does; any other error is redacted.
func LogError(err error) string {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Op + " " + LogURL(uerr.URL) + ": " + Redact(uerr.Err.Error())
	}
	return Redact(err.Error())
}
