package text

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxEcho is the most of a request's own text an error message repeats.
const MaxEcho = 200

// Clip shortens text from a request to MaxEcho characters for an error
// message, marking the cut, and makes it valid UTF-8.
func Clip(s string) string {
	return Cut(strings.ToValidUTF8(s, "\uFFFD"), MaxEcho)
}

// Cut shortens s to at most n bytes, on a character's boundary, marking
// the cut with "…".
func Cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// Quote quotes text from a request for an error message, clipped to
// MaxEcho characters and with any password in a URL hidden.
func Quote(s string) string {
	return strconv.Quote(Clip(Redact(s)))
}
